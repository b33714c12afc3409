"""Asset checks of a step: evaluator thresholds, Great Expectations suites, column schemas.

All three read the step's published snapshot (never a shared database), are blocking by default so
a failed gate stops downstream steps in the same run, and report at ERROR severity. A check result
explains itself in the UI: the measured value next to its threshold, the score distribution, and a
few failing rows by ``_id`` (or the offending column), so nobody has to open the table to see why.
"""

from typing import Any

import duckdb
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    MetadataValue,
    asset_check,
)

from dataflow_dagster.core.pipeline import Pipeline, Step
from dataflow_dagster.core.runner import check_metric
from dataflow_dagster.core.storage import AssetAddress, SnapshotRef, Storage
from dataflow_dagster.defs.metadata import table_value
from dataflow_dagster.defs.partitions import partition_key_of, partitions_def
from dataflow_dagster.defs.plots import PlotWriter, bar_svg, column_distribution
from dataflow_dagster.defs.quality import gx as gxq
from dataflow_dagster.defs.resources import StorageResource
from operators.core.contract import CheckSpec, quote_ident
from operators.core.rowids import ID

EXAMPLES = 5


def _schemaq() -> Any:
    """The schema-check module, imported only for steps that declare a schema: it loads pandas and
    dagster-pandas (seconds), which every step subprocess would otherwise pay at import."""
    from dataflow_dagster.defs.quality import schema

    return schema


GX_CHECK = "gx_suite"
SCHEMA_CHECK = "output_schema"


def _examples(con: duckdb.DuckDBPyConnection, ref: SnapshotRef, where: str, cols: list[str]) -> MetadataValue:
    have = [c for c, _ in ref.columns]
    select = ", ".join(quote_ident(c) for c in dict.fromkeys([ID, *cols]) if c in have)
    rows = con.sql(f"SELECT {select} FROM {ref.read_sql()} t WHERE {where} LIMIT {EXAMPLES}").to_arrow_table()
    return table_value(rows.to_pylist(), max_chars=80)


def _distribution_md(
    con: duckdb.DuckDBPyConnection, storage: Storage, asset: str, ref: SnapshotRef, column: str
) -> str | None:
    dist = column_distribution(con, ref.read_sql(), column)
    if dist is None:
        return None
    labels, series = dist
    svg = bar_svg(labels, series, f"{column} distribution", xlabel=column)
    return PlotWriter(storage.plots_dir(asset)).markdown(f"check_dist_{column}", svg)


def evaluator_result(
    pipeline: Pipeline, step: Step, spec: CheckSpec, key: AssetKey, storage: Storage, part: str | None
) -> AssetCheckResult:
    """The evaluator's gate over the step's published tables, with what explains the verdict."""
    name = pipeline.asset_name(step.name)
    outputs = step.op.output_columns()
    inputs = step.op.input_columns()
    address = AssetAddress(name, part)
    ref = storage.require_ref(address)
    value = check_metric(spec, storage.current_refs(address))
    con = duckdb.connect()
    try:
        passed = spec.passes(value)
        have = {c for c, _ in ref.columns}
        scored = [c for c in outputs if c in have]
        md: dict[str, Any] = {
            "value": MetadataValue.float(value) if value is not None else MetadataValue.text("NULL"),
            "threshold": MetadataValue.text(f"{spec.op} {spec.threshold}"),
            "content_hash": MetadataValue.text(ref.content_hash),
            "rows": MetadataValue.int(ref.row_count),
        }
        if scored:
            null_where = " OR ".join(f"t.{quote_ident(c)} IS NULL" for c in scored)
            n_null = con.execute(f"SELECT count(*) FROM {ref.read_sql()} t WHERE {null_where}").fetchall()[0][0]
            md["rows_without_output"] = MetadataValue.int(int(n_null))
            if n_null:
                md["failing_examples"] = _examples(con, ref, null_where, [*scored, *inputs])
            dist = _distribution_md(con, storage, name, ref, scored[0])
            if dist:
                md["score_distribution"] = MetadataValue.md(dist)
        errors = storage.current_ref(address, "errors")
        if errors is not None and errors.row_count:
            md["llm_errors"] = MetadataValue.int(errors.row_count)
            rows = con.sql(f"SELECT {ID}, _error FROM {errors.read_sql()} LIMIT {EXAMPLES}").to_arrow_table()
            md["llm_error_examples"] = table_value(rows.to_pylist())
    finally:
        con.close()
    return AssetCheckResult(
        asset_key=key,
        check_name=spec.name,
        passed=passed,
        severity=AssetCheckSeverity.ERROR,
        metadata=md,
        description=None if passed else f"{spec.name}: measured {value} is not {spec.op} {spec.threshold}",
    )


def _evaluator_description(spec: CheckSpec) -> str:
    return spec.description or f"{spec.metric_sql} {spec.op} {spec.threshold}"


def evaluator_check(pipeline: Pipeline, step: Step, spec: CheckSpec, key: AssetKey) -> Any:
    @asset_check(
        asset=key,
        name=spec.name,
        blocking=spec.blocking,
        description=_evaluator_description(spec),
        partitions_def=partitions_def(pipeline),
    )
    def _run_check(context: AssetCheckExecutionContext, dataflow_storage: StorageResource) -> AssetCheckResult:
        return evaluator_result(pipeline, step, spec, key, dataflow_storage.get(), partition_key_of(context))

    return _run_check


def _gx_description(pipeline: Pipeline, step: Step) -> str:
    configs = gxq.normalise_expectations(step.expectations, f"pipeline '{pipeline.name}', step '{step.name}'")
    listing = "\n".join(f"- `{c['type']}` {c['kwargs']}" for c in configs)
    return f"Great Expectations suite ({len(configs)} expectations):\n\n{listing}"


def gx_result(pipeline: Pipeline, step: Step, key: AssetKey, storage: Storage, part: str | None) -> AssetCheckResult:
    name = pipeline.asset_name(step.name)
    configs = gxq.normalise_expectations(step.expectations, f"pipeline '{pipeline.name}', step '{step.name}'")
    ref = storage.require_ref(AssetAddress(name, part))
    cols = gxq.needed_columns(configs, [c for c, _ in ref.columns])
    con = duckdb.connect()
    try:
        select = ", ".join(quote_ident(c) for c in cols) or "*"
        df = con.sql(f"SELECT {select} FROM {ref.read_sql()}").df()
    finally:
        con.close()
    outcome = gxq.run_suite(df, configs, f"{name}__suite")
    table = [
        {
            "expectation": r.type,
            "column": r.column or "",
            "passed": r.success,
            "unexpected": r.unexpected_count,
            "unexpected_%": _round(r.unexpected_percent),
            "examples": r.examples or r.observed_value,
            "error": r.exception or "",
        }
        for r in outcome.results
    ]
    failed = outcome.failed
    return AssetCheckResult(
        asset_key=key,
        check_name=GX_CHECK,
        passed=outcome.success,
        severity=AssetCheckSeverity.ERROR,
        description=None if outcome.success else "failed: " + "; ".join(f"{r.type}({r.column or ''})" for r in failed),
        metadata={
            "expectations": MetadataValue.int(len(outcome.results)),
            "failed_expectations": MetadataValue.int(len(failed)),
            "failed_columns": MetadataValue.text(", ".join(sorted({r.column for r in failed if r.column}))),
            "results": table_value(table),
            "content_hash": MetadataValue.text(ref.content_hash),
        },
    )


def gx_check(pipeline: Pipeline, step: Step, key: AssetKey) -> Any:
    """The step's Great Expectations suite as one blocking check (GX is imported when it runs)."""

    @asset_check(
        asset=key,
        name=GX_CHECK,
        blocking=True,
        partitions_def=partitions_def(pipeline),
        description=_gx_description(pipeline, step),
    )
    def _run_gx(context: AssetCheckExecutionContext, dataflow_storage: StorageResource) -> AssetCheckResult:
        return gx_result(pipeline, step, key, dataflow_storage.get(), partition_key_of(context))

    return _run_gx


def _schema_columns(pipeline: Pipeline, step: Step) -> list[Any]:
    return _schemaq().to_pandas_columns(step.schema or [], f"pipeline '{pipeline.name}', step '{step.name}'")


def schema_result(
    pipeline: Pipeline, step: Step, key: AssetKey, storage: Storage, part: str | None
) -> AssetCheckResult:
    name = pipeline.asset_name(step.name)
    columns = _schema_columns(pipeline, step)
    ref = storage.require_ref(AssetAddress(name, part))
    have = [c for c, _ in ref.columns]
    cols = [c for c in dict.fromkeys([ID, *(col.name for col in columns)]) if c in have]
    con = duckdb.connect()
    try:
        df = con.sql(f"SELECT {', '.join(quote_ident(c) for c in cols)} FROM {ref.read_sql()}").df()
    finally:
        con.close()
    violations = _schemaq().validate(df, columns)
    offending = sorted({v.column for v in violations})
    rows = [
        {
            "column": v.column,
            "constraint": v.constraint,
            "problem": v.description,
            "offending _id": v.offending_ids,
            "values": v.offending_values,
        }
        for v in violations
    ]
    return AssetCheckResult(
        asset_key=key,
        check_name=SCHEMA_CHECK,
        passed=not violations,
        severity=AssetCheckSeverity.ERROR,
        description=None if not violations else f"schema violated in column(s) {', '.join(offending)} of {name}",
        metadata={
            "offending_columns": MetadataValue.text(", ".join(offending)),
            "violations": table_value(rows),
            "checked_columns": MetadataValue.int(len(columns)),
            "content_hash": MetadataValue.text(ref.content_hash),
        },
    )


def schema_check(pipeline: Pipeline, step: Step, key: AssetKey) -> Any:
    """The step's declared output schema as a blocking dagster-pandas check."""
    dtype = _schemaq().dataframe_type(f"{pipeline.asset_name(step.name)}_schema", _schema_columns(pipeline, step))

    @asset_check(
        asset=key,
        name=SCHEMA_CHECK,
        blocking=True,
        partitions_def=partitions_def(pipeline),
        description=dtype.description,
    )
    def _run_schema(context: AssetCheckExecutionContext, dataflow_storage: StorageResource) -> AssetCheckResult:
        return schema_result(pipeline, step, key, dataflow_storage.get(), partition_key_of(context))

    return _run_schema


def _round(v: float | None) -> float | None:
    return None if v is None else round(float(v), 2)


def step_checks(pipeline: Pipeline, step: Step, key: AssetKey) -> list[Any]:
    """The checks of ``step`` on the asset ``key``; each reads storage through the ``dataflow_storage``
    resource (a typed parameter, so its name is the resource key ``STORAGE_KEY``)."""
    checks = [evaluator_check(pipeline, step, spec, key) for spec in step.op.checks()]
    if step.expectations:
        checks.append(gx_check(pipeline, step, key))
    if step.schema:
        checks.append(schema_check(pipeline, step, key))
    return checks


def step_check_specs(pipeline: Pipeline, step: Step, key: AssetKey) -> list[AssetCheckSpec]:
    """The same checks as ``step_checks``, as specs of a fused stage's multi_asset."""
    specs = [
        AssetCheckSpec(spec.name, asset=key, blocking=spec.blocking, description=_evaluator_description(spec))
        for spec in step.op.checks()
    ]
    if step.expectations:
        specs.append(AssetCheckSpec(GX_CHECK, asset=key, blocking=True, description=_gx_description(pipeline, step)))
    if step.schema:
        dtype = _schemaq().dataframe_type(f"{pipeline.asset_name(step.name)}_schema", _schema_columns(pipeline, step))
        specs.append(AssetCheckSpec(SCHEMA_CHECK, asset=key, blocking=True, description=dtype.description))
    return specs


def step_check_results(
    pipeline: Pipeline, step: Step, key: AssetKey, storage: Storage, part: str | None, selected: set[str] | None
) -> list[AssetCheckResult]:
    """Run the step's checks (those named in ``selected``; all when None) on its published tables."""
    out = [
        evaluator_result(pipeline, step, spec, key, storage, part)
        for spec in step.op.checks()
        if selected is None or spec.name in selected
    ]
    if step.expectations and (selected is None or GX_CHECK in selected):
        out.append(gx_result(pipeline, step, key, storage, part))
    if step.schema and (selected is None or SCHEMA_CHECK in selected):
        out.append(schema_result(pipeline, step, key, storage, part))
    return out


def blocks(results: list[AssetCheckResult], pipeline: Pipeline, step: Step) -> list[str]:
    """Names of failed blocking checks among ``results`` (evaluator gates may be non-blocking)."""
    blocking = {spec.name: spec.blocking for spec in step.op.checks()} | {GX_CHECK: True, SCHEMA_CHECK: True}
    return [str(r.check_name) for r in results if not r.passed and blocking.get(str(r.check_name), True)]
