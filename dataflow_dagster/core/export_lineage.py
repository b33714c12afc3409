"""The recorded chain behind an exported table, as plain records a dataset card can print.

The exported version is the asset's current one; each upstream version is the one whose content hash
that step recorded (found in ``<root>/history``), not merely the upstream's current version, so the
card describes the data it ships even when an upstream was re-materialised since. Rejected reasons
and check values are recomputed from the stored snapshots, the same SQL the Dagster checks run.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from dataflow_dagster.core.pipeline import Pipeline
from dataflow_dagster.core.runner import check_metric
from dataflow_dagster.core.storage import AssetAddress, SnapshotRef, Storage
from dataflow_dagster.llm.prices import lineage_cost
from operators.core.contract import OperatorError

# Reasons often carry the measured value ("12 words < 20"); numbers are folded so reasons group.
_NUMBER = r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?"
MAX_REASONS = 12


@dataclass
class CheckOutcome:
    name: str
    metric_sql: str
    op: str
    threshold: float
    value: float | None
    passed: bool
    blocking: bool


@dataclass
class StepRecord:
    """One materialisation on the path from the source to the exported asset."""

    step: str
    asset: str
    after: str | None
    lineage: dict[str, Any]
    tables: dict[str, SnapshotRef]
    reasons: list[tuple[str, int]] = field(default_factory=list)
    checks: list[CheckOutcome] = field(default_factory=list)

    @property
    def content_hash(self) -> str:
        return self.tables["table"].content_hash

    @property
    def cost_usd(self) -> float | None:
        return lineage_cost(self.lineage)


def chain_steps(pipeline: Pipeline, step: str) -> list[str]:
    """Step names from the source to ``step`` along ``after`` links."""
    names = [step]
    while names[-1] != pipeline.source.name:
        names.append(pipeline.step(names[-1]).after or pipeline.source.name)
    return list(reversed(names))


def _versions(storage: Storage, asset: str, partition: str | None) -> list[dict[str, Any]]:
    """Published docs of ``asset``, newest first (current ref first)."""
    docs = []
    current = storage.current(AssetAddress(asset, partition))
    if current is not None:
        docs.append(current)
    path = storage.root / "history" / f"{asset}.jsonl"
    if path.exists():
        lines = path.read_text(encoding="utf-8").splitlines()
        docs += [d for d in (json.loads(x) for x in reversed(lines) if x.strip()) if d.get("partition") == partition]
    return docs


def _find(storage: Storage, asset: str, partition: str | None, content_hash: str | None) -> dict[str, Any]:
    for doc in _versions(storage, asset, partition):
        if content_hash is None or doc["tables"].get("table", {}).get("content_hash") == content_hash:
            return doc
    where = f" partition '{partition}'" if partition else ""
    if content_hash is None:
        raise OperatorError(
            f"asset '{asset}'{where} has no materialisation in storage {storage.root}; materialise it first"
        )
    raise OperatorError(
        f"asset '{asset}'{where}: no recorded version has content hash {content_hash[:12]} (the version the next "
        f"step read); its history in {storage.root}/history was removed, so the chain cannot be described"
    )


def _reasons(con: duckdb.DuckDBPyConnection, ref: SnapshotRef | None) -> list[tuple[str, int]]:
    if ref is None or not Path(ref.path).exists() or "_reason" not in {c for c, _ in ref.columns}:
        return []
    rows = con.execute(
        f"SELECT regexp_replace(coalesce(_reason, '(none)'), '{_NUMBER}', '#', 'g') AS r, count(*) AS n "
        f"FROM {ref.read_sql()} GROUP BY r ORDER BY n DESC, r"
    ).fetchall()
    top = [(str(r), int(n)) for r, n in rows[:MAX_REASONS]]
    rest = sum(int(n) for _, n in rows[MAX_REASONS:])
    return [*top, (f"({len(rows) - MAX_REASONS} other reasons)", rest)] if rest else top


def _checks(pipeline: Pipeline, step: str, tables: dict[str, SnapshotRef]) -> list[CheckOutcome]:
    if step == pipeline.source.name or not all(Path(t.path).exists() for t in tables.values()):
        return []
    out = []
    for spec in pipeline.step(step).op.checks():
        value = check_metric(spec, tables)
        out.append(
            CheckOutcome(spec.name, spec.metric_sql, spec.op, spec.threshold, value, spec.passes(value), spec.blocking)
        )
    return out


def gather_chain(storage: Storage, pipeline: Pipeline, step: str, partition: str | None = None) -> list[StepRecord]:
    """The recorded chain of ``step``'s current version, source first."""
    names = chain_steps(pipeline, step)
    records: list[StepRecord] = []
    wanted: str | None = None
    con = duckdb.connect()
    try:
        for name in reversed(names):
            asset = pipeline.asset_name(name)
            doc = _find(storage, asset, partition, wanted)
            tables = {k: SnapshotRef(**v) for k, v in doc["tables"].items()}
            after = None if name == pipeline.source.name else pipeline.step(name).after
            rec = StepRecord(name, asset, after, doc["lineage"], tables, _reasons(con, tables.get("rejected")))
            rec.checks = _checks(pipeline, name, tables)
            records.append(rec)
            upstream = doc["lineage"].get("upstream") or {}
            wanted = next(iter(upstream.values()), None)
    finally:
        con.close()
    return list(reversed(records))
