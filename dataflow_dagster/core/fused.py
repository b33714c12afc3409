"""Runs a fused stage: a chain of row-local rule steps as one query and one snapshot.

Each operator states its effect on one row as SQL (``Operator.row_sql``). The stage query stacks
them over the stage input: every row gets ``_dropped_at`` (index in the chain of the first filter
that drops it, NULL if kept by all) and ``_reason`` (that filter's reason), refiners and evaluators
rewrite or add columns for the rows still alive, and a column's earlier versions are kept where an
earlier step's table still shows them. One Parquet file holds it all; each step's table and
``__rejected`` table are views over that file (``SnapshotRef.select``/``where``).

Content hashes are sums of per-row hashes (``storage.content_hash``), so one grouped aggregate by
``_dropped_at`` gives every step's hash: the rows of step ``k`` are the groups with
``_dropped_at`` NULL or above ``k``. The hashes equal an unfused run's, so lineage, Dagster data
versions and audits do not see whether a step ran fused.
"""

import hashlib
import itertools
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import duckdb

from dataflow_dagster.core.partitions import require_partition
from dataflow_dagster.core.pipeline import Pipeline, Step
from dataflow_dagster.core.runner import StepOptions, StepOutcome, step_code_version
from dataflow_dagster.core.stages import fusable
from dataflow_dagster.core.storage import AssetAddress, SnapshotRef, Storage, hash_digest
from operators.core.contract import Kind, OperatorContext, OperatorError, RowSQL, quote_ident, quote_literal
from operators.core.sql_ops import POS

DROPPED, REASON = "_dropped_at", "_reason"
INPUT = "__stage_input"

Version = int | None  # index of the step that wrote a column version; None: the stage input's


@dataclass
class _Plan:
    """The stacked query and, per step, which column versions its tables show."""

    relation: str = INPUT
    order: list[str] = field(default_factory=list)  # logical columns, current order
    live: dict[str, Version] = field(default_factory=dict)  # logical column -> current version
    outs: list[list[tuple[str, Version]]] = field(default_factory=list)
    rejects: list[list[tuple[str, Version]] | None] = field(default_factory=list)
    pending: list[tuple[int, str, str]] = field(default_factory=list)  # (step index, keep, reason)
    layers: int = 0

    def columns(self) -> list[tuple[str, Version]]:
        return [(c, self.live[c]) for c in self.order]

    def phys(self, name: str, version: Version) -> str:
        return name if self.live.get(name, -2) == version else hidden(name, version)


def hidden(name: str, version: Version) -> str:
    return f"__v{'in' if version is None else version}__{name}"


def _layer(con: duckdb.DuckDBPyConnection, plan: _Plan, select: str) -> None:
    plan.layers += 1
    name = f"__stage_l{plan.layers}"
    con.execute(f"CREATE VIEW {quote_ident(name)} AS SELECT {select} FROM {quote_ident(plan.relation)}")
    plan.relation = name


def _flush_filters(con: duckdb.DuckDBPyConnection, plan: _Plan) -> None:
    """One CASE picks the first failing filter of a run of filters (DuckDB evaluates each WHEN only
    on the rows no earlier WHEN took, so a dropped row costs no further filter); a second CASE
    computes the reason for the rows each filter dropped, and only for those."""
    if not plan.pending:
        return
    d = quote_ident(DROPPED)
    whens = " ".join(f"WHEN ({keep}) IS NOT TRUE THEN {i}" for i, keep, _ in plan.pending)
    _layer(con, plan, f"* REPLACE (CASE WHEN {d} IS NOT NULL THEN {d} {whens} END AS {d})")
    reasons = " ".join(f"WHEN {i} THEN ({reason})::VARCHAR" for i, _, reason in plan.pending)
    _layer(con, plan, f"* REPLACE (CASE {d} {reasons} ELSE {quote_ident(REASON)} END AS {quote_ident(REASON)})")
    plan.pending.clear()


def _assign(con: duckdb.DuckDBPyConnection, plan: _Plan, i: int, step: Step, r: RowSQL) -> None:
    """Refiner (``replace``, in place) or evaluator (``add``, appended) columns for rows still alive;
    the version they overwrite is kept under a hidden name for the earlier steps' views."""
    if r.replace and r.add:
        raise OperatorError(f"step '{step.name}' ({step.op.name}): row_sql may replace or add columns, not both")
    alive = f"{quote_ident(DROPPED)} IS NULL"
    keep_old = []
    if r.replace:
        missing = [c for c in r.replace if c not in plan.live]
        if missing:
            raise OperatorError(f"step '{step.name}' ({step.op.name}) rewrites missing column(s) {missing}")
        for c in r.replace:
            keep_old.append(f"{quote_ident(c)} AS {quote_ident(hidden(c, plan.live[c]))}")
            plan.live[c] = i
        new = ", ".join(f"CASE WHEN {alive} THEN ({e}) END AS {quote_ident(c)}" for c, e in r.replace.items())
        _layer(con, plan, f"* REPLACE ({new}), {', '.join(keep_old)}")
        return
    clash = [c for c in r.add if c in plan.live]
    for c in clash:
        keep_old.append(f"{quote_ident(c)} AS {quote_ident(hidden(c, plan.live[c]))}")
        plan.order.remove(c)
    for c in r.add:
        plan.order.append(c)
        plan.live[c] = i
    exclude = f" EXCLUDE ({', '.join(quote_ident(c) for c in clash)})" if clash else ""
    new = ", ".join(f"CASE WHEN {alive} THEN ({e}) END AS {quote_ident(c)}" for c, e in r.add.items())
    _layer(con, plan, f"*{exclude}, {', '.join([*keep_old, new])}")


def _build(con: duckdb.DuckDBPyConnection, pipeline: Pipeline, chain: list[Step], log: logging.Logger) -> _Plan:
    cols = [r[0] for r in con.execute(f"DESCRIBE {INPUT}").fetchall() if r[0] != POS]
    taken = [c for c in (DROPPED, REASON) if c in cols] + [c for c in cols if c.startswith("__v")]
    if taken:
        raise OperatorError(
            f"step '{chain[0].name}' of pipeline '{pipeline.name}' reads columns {taken}, which a fused stage "
            "uses for itself; rename them upstream or set fuse=False on the step"
        )
    plan = _Plan(order=list(cols), live={c: None for c in cols})
    _layer(con, plan, f"*, NULL::INTEGER AS {quote_ident(DROPPED)}, NULL::VARCHAR AS {quote_ident(REASON)}")
    for i, step in enumerate(chain):
        asset = pipeline.asset_name(step.name)
        missing = [c for c in step.op.input_columns() if c not in plan.live]
        if missing:
            raise OperatorError(
                f"step '{asset}' ({step.op.name}): missing input column(s) {missing}; available columns are "
                f"{plan.order}. Set the step's input_key (or rename the column upstream)."
            )
        ctx = OperatorContext(
            con=con, source=plan.relation, target=f"__unused_{i}", rejected="", errors="", step=asset, log=log
        )
        r = step.op.row_sql(ctx)
        if r.keep is not None:
            plan.pending.append((i, r.keep, r.reason or quote_literal(step.op.name)))
            plan.outs.append(plan.columns())
            plan.rejects.append(plan.columns())
            continue
        _flush_filters(con, plan)
        _assign(con, plan, i, step, r)
        plan.outs.append(plan.columns())
        plan.rejects.append(None)
    _flush_filters(con, plan)
    return plan


def _select(plan: _Plan, cols: list[tuple[str, Version]], reason: bool = False) -> str:
    parts = [
        quote_ident(n) if plan.phys(n, v) == n else f"{quote_ident(plan.phys(n, v))} AS {quote_ident(n)}"
        for n, v in cols
    ]
    return ", ".join([*parts, quote_ident(REASON)] if reason else parts)


def _row_json(plan: _Plan, cols: list[tuple[str, Version]], reason: bool = False) -> str:
    """The JSON text ``storage.content_hash`` hashes for a row of a table with these columns."""
    pairs = [f"{quote_ident(n)} := {quote_ident(plan.phys(n, v))}" for n, v in cols]
    if reason:
        pairs.append(f"{quote_ident(REASON)} := {quote_ident(REASON)}")
    return f"to_json(struct_pack({', '.join(pairs)}))::VARCHAR"


def _md5_sums(expr: str) -> list[str]:
    return [f"coalesce(sum(md5_number_{half}({expr})::HUGEINT), 0)" for half in ("lower", "upper")]


@dataclass
class _Group:
    dropped_at: int | None
    rows: int
    sums: list[int]  # lo/hi per kept signature, then lo/hi of the rejected rows' JSON


def _hash_groups(con: duckdb.DuckDBPyConnection, file_sql: str, plan: _Plan) -> tuple[list[_Group], dict]:
    """One pass over the stage file: rows and hash sums per ``_dropped_at`` group."""
    sigs: dict[str, int] = {}
    for cols in plan.outs:
        sigs.setdefault(_row_json(plan, cols), len(sigs))
    rej = [
        f"WHEN {i} THEN {_row_json(plan, cols, reason=True)}" for i, cols in enumerate(plan.rejects) if cols is not None
    ]
    aggs = [s for j in sigs for s in _md5_sums(j)]
    aggs += _md5_sums(f"CASE {quote_ident(DROPPED)} {' '.join(rej)} END") if rej else ["0", "0"]
    rows = con.execute(
        f"SELECT {quote_ident(DROPPED)}, count(*), {', '.join(aggs)} FROM {file_sql} GROUP BY 1"
    ).fetchall()
    return [_Group(r[0], int(r[1]), [int(x) for x in r[2:]]) for r in rows], sigs


def _ref(
    described: dict[str, list[list[str]]],
    con: duckdb.DuckDBPyConnection,
    path: str,
    select: str,
    where: str,
    groups: list[_Group],
    pick: Any,
    sums: int,
) -> SnapshotRef:
    chosen = [g for g in groups if pick(g.dropped_at)]
    n = sum(g.rows for g in chosen)
    lo, hi = (sum(g.sums[sums + k] for g in chosen) for k in (0, 1))
    if select not in described:  # filters of a stage share one projection: described once
        file = f"read_parquet({quote_literal(path)})"
        described[select] = [[r[0], r[1]] for r in con.execute(f"DESCRIBE SELECT {select} FROM {file}").fetchall()]
    cols = described[select]
    return SnapshotRef(path, hash_digest(n, lo, hi, cols), n, cols, select=select, where=where)


def _previews(con: duckdb.DuckDBPyConnection, tables: Sequence[SnapshotRef], limit: int = 5) -> list[list[dict]]:
    """The first ``limit`` rows of each step's table, as ``SELECT * FROM <view> LIMIT limit`` gives
    them (file order), from one read of the stage file's head rather than one scan per step; a step
    with fewer survivors in the head than ``limit`` reads the file itself."""
    path = tables[0].path
    head_rows = 64 * limit
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE __preview_head AS SELECT * FROM "
        f"read_parquet({quote_literal(path)}, file_row_number=true) LIMIT {head_rows}"
    )
    complete = con.execute("SELECT count(*) FROM __preview_head").fetchall()[0][0] < head_rows
    out = []
    for t in tables:
        sel = t.select or "* EXCLUDE (file_row_number)"
        rows = (
            con.sql(
                f"SELECT {sel} FROM __preview_head WHERE {t.where or 'true'} ORDER BY file_row_number LIMIT {limit}"
            )
            .to_arrow_table()
            .to_pylist()
        )
        if len(rows) < limit and not complete:
            rows = con.sql(f"SELECT * FROM {t.read_sql()} LIMIT {limit}").to_arrow_table().to_pylist()
        out.append(rows)
    con.execute("DROP TABLE __preview_head")
    return out


def check_chain(pipeline: Pipeline, steps: Sequence[str]) -> list[Step]:
    chain = [pipeline.step(n) for n in steps]
    for prev, step in itertools.pairwise(chain):
        if step.after != prev.name:
            raise OperatorError(
                f"steps {list(steps)} of '{pipeline.name}' are not a chain: '{step.name}' reads '{step.after}'"
            )
    bad = [s.name for s in chain if not fusable(s)]
    if bad:
        raise OperatorError(
            f"steps {bad} of '{pipeline.name}' cannot run fused (not row-local rule steps, or fuse=False)"
        )
    return chain


def run_chain(
    storage: Storage,
    pipeline: Pipeline,
    steps: Sequence[str],
    options: StepOptions | None = None,
    **overrides: Any,
) -> list[StepOutcome]:
    """Run consecutive fusable ``steps`` as one query over the first step's upstream; nothing is
    published (``publish_outcomes`` does that), so a failure or a kill leaves every step's previous
    version current. ``options`` as for ``run_step`` (``log``, ``run_id``, ``partition`` and
    ``upstream_ref`` apply; rule steps need no model, and a stage recomputes all rows: no row memo)."""
    opts = replace(options or StepOptions(), **overrides)
    log = opts.log or logging.getLogger("dataflow")
    run_id, partition = opts.run_id, opts.partition
    require_partition(pipeline, partition)
    chain = check_chain(pipeline, steps)
    up_asset = pipeline.asset_name(chain[0].after or pipeline.source.name)
    up = opts.upstream_ref or storage.require_ref(AssetAddress(up_asset, partition))
    started = time.time()
    con = storage.connect()
    try:
        con.execute(f"CREATE VIEW {INPUT} AS SELECT * FROM {up.scan_sql(POS)}")
        plan = _build(con, pipeline, chain, log)
        needed = [plan.phys(n, v) for cols in plan.outs for n, v in cols]
        final = ", ".join(quote_ident(c) for c in dict.fromkeys([*needed, DROPPED, REASON]))
        stage_asset = f"{pipeline.asset_name(chain[0].name)}__stage"
        tmp = storage.write_file(con, f"SELECT {final} FROM {quote_ident(plan.relation)}", stage_asset)
        try:
            groups, sigs = _hash_groups(con, f"read_parquet({quote_literal(str(tmp))})", plan)
            refs = _step_refs(con, str(tmp), plan, groups, sigs)
            digest = hashlib.sha256(json.dumps([r["table"].content_hash for r in refs]).encode()).hexdigest()
            path = str(storage.place_file(tmp, stage_asset, digest))
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        refs = [
            {
                k: SnapshotRef(path, r.content_hash, r.row_count, r.columns, r.size, r.select, r.where)
                for k, r in d.items()
            }
            for d in refs
        ]
        outcomes = []
        took = round(time.time() - started, 3)
        previews = _previews(con, [r["table"] for r in refs])
        rows_in, up_name, up_hash = up.row_count, up_asset, up.content_hash
        for i, step in enumerate(chain):
            lineage = _lineage(pipeline, step, refs[i], up_name, up_hash, rows_in, run_id, partition, started, took)
            lineage["stage"] = {"steps": list(steps), "index": i, "snapshot": path}
            outcomes.append(StepOutcome(pipeline.asset_name(step.name), refs[i], lineage, previews[i]))
            rows_in, up_name, up_hash = (
                refs[i]["table"].row_count,
                pipeline.asset_name(step.name),
                refs[i]["table"].content_hash,
            )
    finally:
        con.close()
    kept = outcomes[-1].table.row_count
    log.info(
        f"fused stage {chain[0].name} .. {chain[-1].name} ({len(chain)} steps): {up.row_count} rows in, "
        f"{kept} kept, one pass in {took}s"
    )
    return outcomes


def _step_refs(
    con: duckdb.DuckDBPyConnection, path: str, plan: _Plan, groups: list[_Group], sigs: dict[str, int]
) -> list[dict[str, SnapshotRef]]:
    out: list[dict[str, SnapshotRef]] = []
    described: dict[str, list[list[str]]] = {}
    rej_sums = 2 * len(sigs)
    d = quote_ident(DROPPED)
    for i, cols in enumerate(plan.outs):
        sums = 2 * sigs[_row_json(plan, cols)]
        refs = {
            "table": _ref(
                described,
                con,
                path,
                _select(plan, cols),
                f"{d} IS NULL OR {d} > {i}",
                groups,
                lambda g, i=i: g is None or g > i,
                sums,
            )
        }
        rej = plan.rejects[i]
        if rej is not None:
            refs["rejected"] = _ref(
                described,
                con,
                path,
                _select(plan, rej, reason=True),
                f"{d} = {i}",
                groups,
                lambda g, i=i: g == i,
                rej_sums,
            )
        out.append(refs)
    return out


def _lineage(
    pipeline: Pipeline,
    step: Step,
    refs: dict[str, SnapshotRef],
    up_name: str,
    up_hash: str,
    rows_in: int,
    run_id: str | None,
    partition: str | None,
    started: float,
    took: float,
) -> dict[str, Any]:
    op = step.op
    table = refs["table"]
    return {
        "asset": pipeline.asset_name(step.name),
        "kind": str(op.kind),
        "run_id": run_id,
        "operator": op.name,
        "operator_version": op.version,
        "config": op.config_dict(),
        "fingerprint": op.fingerprint(),
        "code_version": step_code_version(op.version, op.fingerprint(), None),
        "upstream": {up_name: up_hash},
        "rows_in": rows_in,
        "rows_out": table.row_count,
        "rejected_rows": refs["rejected"].row_count if "rejected" in refs else 0,
        "error_rows": 0,
        "content_hash": table.content_hash,
        "partition": partition,
        "duration_s": took,
        "started_at": started,
        "finished_at": time.time(),
        "stats": {},
        "view": {"select": table.select, "where": table.where},
        **(
            {"rejected_view": {"select": refs["rejected"].select, "where": refs["rejected"].where}}
            if op.kind == Kind.FILTER
            else {}
        ),
    }


def publish_outcomes(storage: Storage, outcomes: Sequence[StepOutcome], partition: str | None = None) -> None:
    """Publish steps in chain order, then rebuild the catalog once (not once per step)."""
    for out in outcomes:
        storage.publish(AssetAddress(out.asset, partition), out.refs, out.lineage)
    storage.sync_catalog()
