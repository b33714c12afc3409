"""Executes one pipeline step against storage, outside of any orchestrator.

The Dagster assets, the CLI and the audit replay all call these functions, so there is exactly one
code path that turns (upstream snapshots, operator, prompt, model) into published snapshots and a
lineage record. Nothing is published until every output table of the step has been written, so a
failure at any point leaves the previous version current.
"""

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from dataflow_dagster.core.incremental import MemoMismatch
from dataflow_dagster.core.io_formats import import_file, require_columns
from dataflow_dagster.core.partitions import HashShards, require_partition
from dataflow_dagster.core.pipeline import Pipeline
from dataflow_dagster.core.run_strategy import StrategyFactory, full_run, memo_run
from dataflow_dagster.core.storage import AssetAddress, SnapshotRef, Storage
from dataflow_dagster.llm.cache import CachedLLM, ResponseCache
from operators.core.contract import CheckSpec, Kind, OperatorContext, OperatorError, quote_ident
from operators.core.llm import LLMClient
from operators.core.prompt import PromptTemplate
from operators.core.rowids import ID, source_ids_sql
from operators.core.sql_ops import POS

SRC, OUT, REJ, ERR = "__input", "__output", "__rejected", "__errors"


@dataclass
class StepOutcome:
    asset: str
    refs: dict[str, SnapshotRef]
    lineage: dict[str, Any]
    preview: list[dict[str, Any]] = field(default_factory=list)

    @property
    def table(self) -> SnapshotRef:
        return self.refs["table"]


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def step_code_version(op_version: str, op_fingerprint: str, prompt: PromptTemplate | None) -> str:
    """Operator version + config hash + prompt hash: editing any of them marks the asset stale."""
    p = prompt.content_hash[:12] if prompt is not None else "noprompt"
    return f"{op_version}-{op_fingerprint[:12]}-{p}"


def source_code_version(pipeline: Pipeline) -> str:
    payload = f"{pipeline.source.path}|{pipeline.source.format}|{pipeline.source.required_columns}"
    return "src-" + hashlib.sha256(payload.encode()).hexdigest()[:12]


def progress_text(label: str, done: int, total: int | None) -> str:
    """``label: 40/100 rows (40%)``, or ``label: 40 rows`` while the total is unknown (no ``-1%``)."""
    if not total:
        return f"{label}: {done} rows"
    return f"{label}: {done}/{total} rows ({int(100 * done / total)}%)"


def _progress_logger(log: logging.Logger, label: str) -> Callable[[int, int | None], None]:
    state = {"last": 0.0, "pct": -1}

    def report(done: int, total: int | None) -> None:
        now = time.monotonic()
        pct = int(100 * done / total) if total else -1
        if done == total or now - state["last"] > 10 or (total and (pct // 10) > (state["pct"] // 10)):
            log.info(progress_text(label, done, total))
            state["last"], state["pct"] = now, pct

    return report


def _preview(con: Any, relation_sql: str, n: int = 5) -> list[dict[str, Any]]:
    return con.sql(f"SELECT * FROM {relation_sql} LIMIT {n}").to_arrow_table().to_pylist()


def run_source(
    storage: Storage,
    pipeline: Pipeline,
    log: logging.Logger | None = None,
    run_id: str | None = None,
    publish: bool = True,
    partition: str | None = None,
    source_path: str | None = None,
) -> StepOutcome:
    """Import the source file (of ``partition``); ``source_path`` overrides it (audit replays)."""
    log = log or logging.getLogger("dataflow")
    require_partition(pipeline, partition)
    asset = pipeline.asset_name(pipeline.source.name)
    path = source_path or pipeline.source_path(partition)
    started = time.time()
    con = storage.connect()
    try:
        import_file(con, path, "__raw", pipeline.source.format)
        require_columns(con, "__raw", pipeline.source.required_columns, f"source file {path}")
        raw = "__raw"
        if isinstance(pipeline.partitions, HashShards) and partition is not None:
            con.execute(f"CREATE TABLE __raw_part AS {pipeline.partitions.filter_sql('__raw', partition)}")
            raw = "__raw_part"
        if ID in [r[0] for r in con.execute("DESCRIBE __raw").fetchall()]:
            con.execute(f"CREATE VIEW {OUT} AS SELECT * FROM {raw}")  # ids given by the user are kept
            dup = con.execute(f"SELECT {ID} FROM __raw GROUP BY 1 HAVING count(*) > 1 LIMIT 1").fetchall()
            if dup:
                raise OperatorError(f"{path}: column _id must be unique but '{dup[0][0]}' repeats")
        else:
            con.execute(f"CREATE VIEW {OUT} AS {source_ids_sql(raw, keep_order=True)}")
        ref = storage.write_snapshot(con, OUT, asset)
        lineage = {
            "asset": asset,
            "kind": "source",
            "run_id": run_id,
            "source_file": str(path),
            "source_sha256": file_sha256(str(path)),
            "code_version": source_code_version(pipeline),
            "rows_out": ref.row_count,
            "content_hash": ref.content_hash,
            "partition": partition,
            "duration_s": round(time.time() - started, 3),
            "started_at": started,
            "finished_at": time.time(),
            "upstream": {},
        }
        preview = _preview(con, ref.read_sql())
    finally:
        con.close()
    if publish:
        storage.publish(AssetAddress(asset, partition), {"table": ref}, lineage)
        _sync_catalog(storage, log)
    log.info(f"{asset}: imported {ref.row_count} rows from {path}")
    return StepOutcome(asset, {"table": ref}, lineage, preview)


@dataclass(frozen=True)
class StepOptions:
    """How to run one step. Every field has the default a plain materialisation wants.

    ``offline`` replays LLM answers from the cache only (audits); ``publish=False`` writes snapshots
    without making them current; ``incremental`` sends only input rows unseen by this step's row memo
    through the operator (see ``core.incremental``; the published table equals a full run's; offline
    replays never use the memo: they must recompute every row to prove anything). ``upstream_ref``
    reads that snapshot instead of the upstream's current one; ``llm_info`` is the serving resource's
    description, recorded in the lineage next to the model id.
    """

    llm: LLMClient | None = None
    prompt: PromptTemplate | None = None
    log: logging.Logger | None = None
    run_id: str | None = None
    partition: str | None = None
    offline: bool = False
    publish: bool = True
    incremental: bool = True
    upstream_ref: SnapshotRef | None = None
    llm_info: dict[str, Any] | None = None
    batch_size: int = 64


def run_step(
    storage: Storage, pipeline: Pipeline, step_name: str, options: StepOptions | None = None, **overrides: Any
) -> StepOutcome:
    """Run one step on the current snapshot of its upstream and (by default) publish the result.

    ``options`` says how (see ``StepOptions``); keyword ``overrides`` replace single fields of it, so
    ``run_step(storage, pipe, "judge", llm=client)`` is ``run_step(..., StepOptions(llm=client))``.
    """
    opts = replace(options or StepOptions(), **overrides)
    if opts.incremental and not opts.offline:
        try:
            return _run_step(storage, pipeline, step_name, opts, memo_run)
        except MemoMismatch as exc:
            log = opts.log or logging.getLogger("dataflow")
            log.warning(f"{step_name}: row memo unusable ({exc}); running in full")
    return _run_step(storage, pipeline, step_name, opts, full_run)


def _run_step(
    storage: Storage, pipeline: Pipeline, step_name: str, opts: StepOptions, strategy_of: StrategyFactory
) -> StepOutcome:
    log = opts.log or logging.getLogger("dataflow")
    partition = opts.partition
    require_partition(pipeline, partition)
    step = pipeline.step(step_name)
    op = step.op
    address = AssetAddress(pipeline.asset_name(step.name), partition)
    asset = address.asset
    up_asset = pipeline.asset_name(step.after or pipeline.source.name)
    up = opts.upstream_ref or storage.require_ref(AssetAddress(up_asset, partition))
    prompt = opts.prompt or step.effective_prompt
    client: CachedLLM | None = None
    if op.needs_llm:
        if opts.llm is None:
            raise OperatorError(f"step '{asset}' ({op.name}) needs an LLM resource but none was given")
        client = CachedLLM(opts.llm, ResponseCache(storage.cache_path), offline=opts.offline)
    strategy = strategy_of(
        storage,
        address,
        op,
        prompt.content_hash if op.needs_llm and prompt else None,
        client.model_id if client is not None else None,
    )
    started = time.time()
    con = storage.connect()
    try:
        con.execute(f"CREATE VIEW {SRC} AS SELECT * FROM {up.scan_sql(POS)}")
        require_columns(con, SRC, op.input_columns(), f"step '{asset}' ({op.name}) reading '{up_asset}'")
        op_source = strategy.prepare(con, SRC)
        ctx = OperatorContext(
            con=con,
            source=op_source,
            target=OUT,
            rejected=REJ,
            errors=ERR,
            step=asset,
            llm=client,
            prompt=prompt,
            log=log,
            progress=_progress_logger(log, asset),
            batch_size=opts.batch_size,
        )
        rows_in = ctx.count(SRC)
        stats = strategy.run(ctx)
        have = {
            r[0]
            for r in con.execute(
                "SELECT table_name FROM duckdb_tables() UNION ALL SELECT view_name FROM duckdb_views()"
            ).fetchall()
        }
        if OUT not in have:
            raise OperatorError(f"operator {op.name} finished without creating its output table")
        require_columns(con, OUT, [ID], f"output of step '{asset}' ({op.name})")
        if op.kind == Kind.FILTER and REJ not in have:
            con.execute(f"CREATE VIEW {REJ} AS SELECT *, NULL::VARCHAR AS _reason FROM {SRC} LIMIT 0")
        out_rel, rej_rel = strategy.combine(
            ctx, OUT, REJ if op.kind == Kind.FILTER else None, ERR if ERR in have else None
        )
        refs = {"table": storage.write_snapshot(con, out_rel, asset)}
        if rej_rel is not None:
            refs["rejected"] = storage.write_snapshot(con, rej_rel, f"{asset}__rejected")
        if ERR in have or op.needs_llm:
            if ERR not in have:
                con.execute(f"CREATE TABLE {ERR} ({ID} VARCHAR, _error VARCHAR, _raw VARCHAR)")
            refs["errors"] = storage.write_snapshot(con, ERR, f"{asset}__errors")
        strategy.finish(con)
        preview = _preview(con, refs["table"].read_sql())
    finally:
        con.close()
    counters = client.counters if client is not None else None
    lineage: dict[str, Any] = {
        "asset": asset,
        "kind": str(op.kind),
        "run_id": opts.run_id,
        "operator": op.name,
        "operator_version": op.version,
        "config": op.config_dict(),
        "fingerprint": op.fingerprint(),
        "code_version": step_code_version(op.version, op.fingerprint(), prompt if op.needs_llm else None),
        "upstream": {up_asset: up.content_hash},
        "rows_in": rows_in,
        "rows_out": refs["table"].row_count,
        "rejected_rows": refs["rejected"].row_count if "rejected" in refs else 0,
        "error_rows": refs["errors"].row_count if "errors" in refs else 0,
        "content_hash": refs["table"].content_hash,
        "partition": partition,
        "duration_s": round(time.time() - started, 3),
        "started_at": started,
        "finished_at": time.time(),
        "stats": stats,
        **strategy.lineage(),
    }
    if op.needs_llm and prompt is not None and client is not None:
        lineage["prompt"] = {
            "name": prompt.name,
            "hash": prompt.content_hash,
            "template": prompt.template,
            "system": prompt.system,
            "schema": prompt.output_schema,
        }
        lineage["model"] = {"id": client.model_id, "params": _sampling(op), **(opts.llm_info or {})}
        lineage["cache"] = {"hits": counters.hits, "misses": counters.misses, "failed": counters.failed}
        lineage["tokens"] = {"prompt": counters.prompt_tokens, "completion": counters.completion_tokens}
    if opts.publish:
        storage.publish(address, refs, lineage)
        _sync_catalog(storage, log)
    log.info(
        f"{asset}: {lineage['rows_in']} rows in, {lineage['rows_out']} out, "
        f"{lineage['rejected_rows']} rejected, {lineage['error_rows']} errors"
    )
    return StepOutcome(asset, refs, lineage, preview)


def _sync_catalog(storage: Storage, log: logging.Logger) -> None:
    """Refresh the catalog; a failure never fails the step (the ref is published) but is said."""
    if not storage.sync_catalog():
        log.warning(
            f"catalog {storage.catalog_path} was not refreshed (its views lag behind the refs); "
            "`dataflow-dagster catalog status` shows what is stale, `dataflow-dagster catalog sync` rebuilds it"
        )


def _sampling(op: Any) -> dict[str, Any]:
    sampling = getattr(op, "sampling", None)
    return dict(sampling().__dict__) if callable(sampling) else {}


def check_metric(spec: CheckSpec, refs: dict[str, SnapshotRef]) -> float | None:
    """Value of a check's metric over a step's tables (``refs["table"]`` aliased ``t``; each part the
    spec names, e.g. ``errors``, readable by that name, empty when the step has no such table)."""
    import duckdb

    ctes = []
    for part in spec.parts:
        rel = refs[part].read_sql() if part in refs else "(SELECT NULL::VARCHAR AS _id WHERE false)"
        ctes.append(f"{quote_ident(part)} AS (SELECT * FROM {rel})")
    with_sql = f"WITH {', '.join(ctes)} " if ctes else ""
    con = duckdb.connect()
    try:
        rows = con.execute(f"{with_sql}SELECT {spec.metric_sql} FROM {refs['table'].read_sql()} t").fetchall()
    finally:
        con.close()
    return None if not rows or rows[0][0] is None else float(rows[0][0])
