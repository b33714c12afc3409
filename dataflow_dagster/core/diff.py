"""Row-level diff between two materialisations of an asset, by ``_id``.

Snapshots are immutable and every materialisation records its snapshot path (in the Dagster event
log's metadata and in ``<root>/history``), so any two versions can be compared long after the fact.
A row is *added* or *removed* when its ``_id`` appears on one side only, *changed* when the same
``_id`` carries different content (md5 of the row's JSON). The comparison is one hash join in DuckDB,
cheap enough to run at the end of every materialisation for the counts alone.
"""

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from dataflow_dagster.core.history import Version, versions
from dataflow_dagster.core.storage import AssetAddress, Storage
from operators.core.contract import OperatorError, quote_literal
from operators.core.rowids import ID


@dataclass
class DiffResult:
    asset: str
    partition: str | None
    old: Version | None
    new: Version
    added: int
    removed: int
    changed: int
    unchanged: int
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def identical(self) -> bool:
        return self.added == self.removed == self.changed == 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, default=str)

    def to_markdown(self) -> str:
        old = f"`{self.old.run_id}` ({Path(self.old.path).name})" if self.old else "_nothing_"
        lines = [
            f"# Diff of `{self.asset}`" + (f" partition `{self.partition}`" if self.partition else ""),
            "",
            f"from {old} to `{self.new.run_id}` ({Path(self.new.path).name})",
            "",
            "| added | removed | changed | unchanged |",
            "|---|---|---|---|",
            f"| {self.added} | {self.removed} | {self.changed} | {self.unchanged} |",
        ]
        for kind, rows in self.samples.items():
            if rows:
                lines += ["", f"## {kind} (first {len(rows)})", ""]
                lines += [f"- `{json.dumps(r, ensure_ascii=False, default=str)[:300]}`" for r in rows]
        return "\n".join(lines) + "\n"


def diff_paths(old_path: str | None, new_path: str, samples: int = 0) -> tuple[dict[str, int], dict[str, list]]:
    """Counts (and up to ``samples`` example rows per kind) between two snapshot files."""
    old = f"read_parquet({quote_literal(old_path)})" if old_path else None
    return diff_relations(old, f"read_parquet({quote_literal(new_path)})", samples)


def diff_relations(old_sql: str | None, new_sql: str, samples: int = 0) -> tuple[dict[str, int], dict[str, list]]:
    """Counts and examples between two tables given as SQL relations (``SnapshotRef.read_sql()``)."""
    con = duckdb.connect()
    try:
        new = new_sql
        old = old_sql or f"(SELECT * FROM {new} LIMIT 0)"
        for name, rel in (("__old", old), ("__new", new)):
            cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {rel}").fetchall()]
            if ID not in cols:
                raise OperatorError(f"snapshot {rel} has no {ID} column; row-level diff needs row ids")
            con.execute(f"CREATE VIEW {name} AS SELECT {ID}, md5(to_json(t)::VARCHAR) AS __h FROM {rel} t")
        con.execute(
            "CREATE TEMP TABLE __d AS SELECT coalesce(o._id, n._id) AS _id, CASE "
            "WHEN o._id IS NULL THEN 'added' WHEN n._id IS NULL THEN 'removed' "
            "WHEN o.__h <> n.__h THEN 'changed' ELSE 'unchanged' END AS k "
            "FROM __old o FULL OUTER JOIN __new n USING (_id)"
        )
        counts = {k: 0 for k in ("added", "removed", "changed", "unchanged")}
        counts.update(dict(con.execute("SELECT k, count(*) FROM __d GROUP BY k").fetchall()))
        examples: dict[str, list] = {}
        if samples:
            for kind, rel in (("added", new), ("removed", old), ("changed", new)):
                examples[kind] = (
                    con.sql(
                        f"SELECT t.* FROM {rel} t SEMI JOIN (SELECT _id FROM __d WHERE k = '{kind}') USING (_id) "
                        f"ORDER BY _id LIMIT {int(samples)}"
                    )
                    .to_arrow_table()
                    .to_pylist()
                )
        return counts, examples
    finally:
        con.close()


def _pick(found: list[Version], run: str | None, default_index: int, what: str, asset: str) -> Version | None:
    if run is None:
        return found[default_index] if len(found) >= abs(default_index) else None
    hits = [v for v in found if v.run_id and (v.run_id == run or v.run_id.startswith(run))]
    if not hits:
        known = ", ".join(str(v.run_id)[:8] for v in found[-5:])
        raise OperatorError(f"no materialisation of '{asset}' from run '{run}' ({what}); recent runs: {known}")
    return hits[-1]


def diff_asset(
    storage: Storage,
    asset: str,
    from_run: str | None = None,
    to_run: str | None = None,
    partition: str | None = None,
    instance: Any = None,
    asset_key: Any = None,
    samples: int = 5,
) -> DiffResult:
    """Diff two materialisations of ``asset`` (default: the previous one against the latest)."""
    found = versions(storage, AssetAddress(asset, partition), instance, asset_key)
    if not found:
        raise OperatorError(f"asset '{asset}' has no recorded materialisation in {storage.root}; materialise it first")
    new = _pick(found, to_run, -1, "--to", asset)
    assert new is not None
    if from_run is None:
        before = [v for v in found if v is not new and (v.published_at or 0) <= (new.published_at or 0)]
        older = [v for v in before if found.index(v) < found.index(new)]
        old = older[-1] if older else None
    else:
        old = _pick(found, from_run, -2, "--from", asset)
    for v in (old, new):
        if v is not None and not Path(v.path).exists():
            raise OperatorError(
                f"snapshot {v.path} of '{asset}' (run {v.run_id}) was deleted (gc?); it cannot be diffed any more"
            )
    counts, examples = diff_relations(old.read_sql() if old else None, new.read_sql(), samples)
    return DiffResult(
        asset, partition, old, new, counts["added"], counts["removed"], counts["changed"], counts["unchanged"], examples
    )
