"""Rule stages as one Dagster execution step: a ``multi_asset`` over their steps' asset keys.

Each step keeps its own asset (key, code version, description, materialization event, metadata,
data version, checks, ``__rejected`` view); only the process (and, within a fused stage, the query
and the snapshot) is shared. A group (``core.stages.plan_groups``) is the source import and the
chain of rule stages after it, or a chain of rule stages after an LLM step: under the multiprocess
executor each execution step is a process, whose start costs more than the rule work it does.
``can_subset=True``: materialising some steps runs just the contiguous runs of selected steps, each
from the current version of its first step's upstream, as running them one by one would.

Checks are check specs on the multi_asset, evaluated inside it right after each step is published,
in chain order. Dagster's ``blocking`` gates separate execution steps; inside one step it cannot stop
the rest of a group, so the group does that itself: a failed blocking check of step k means steps
after k are neither published nor reported (their specs are ``skippable``), and Dagster then fails
the execution step for the failed blocking check, which stops everything downstream of the group.
"""

from collections.abc import Generator, Iterator, Sequence
from dataclasses import replace
from typing import Any

import duckdb
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)

from dataflow_dagster.core.fused import run_chain
from dataflow_dagster.core.pipeline import Pipeline
from dataflow_dagster.core.runner import StepOptions, StepOutcome, run_source, run_step
from dataflow_dagster.core.stages import Group, Stage
from dataflow_dagster.core.storage import AssetAddress, Storage
from dataflow_dagster.defs.checks import blocks, step_check_results, step_check_specs
from dataflow_dagster.defs.metadata import materialize_result, outcome_metadata, stage_chart
from dataflow_dagster.defs.partitions import partition_key_of, partitions_def
from dataflow_dagster.defs.resources import StorageResource


def contiguous_runs(selected: Sequence[str], steps: Sequence[str]) -> list[list[str]]:
    """``selected`` split into runs of consecutive steps of ``steps`` (in stage order)."""
    runs: list[list[str]] = []
    last = -2
    for i, name in enumerate(steps):
        if name not in selected:
            continue
        if i == last + 1:
            runs[-1].append(name)
        else:
            runs.append([name])
        last = i
    return runs


def group_asset(
    pipeline: Pipeline, group: Group, specs: dict[str, AssetSpec], upstream: dict[str, AssetKey]
) -> AssetsDefinition:
    """The multi_asset of ``group``: ``specs`` (the translator's, by step name, the source's included
    when the group imports it) and ``upstream`` (step -> the key of the asset it reads)."""
    source = pipeline.source.name
    names = ([source] if group.with_source else []) + list(group.steps)
    keys: dict[str, AssetKey] = {n: specs[n].key for n in names}
    check_specs = [c for name in group.steps for c in step_check_specs(pipeline, pipeline.step(name), keys[name])]

    @multi_asset(
        name=f"{pipeline.name}__{group.name}",
        specs=[specs[n].replace_attributes(skippable=True) for n in names],
        check_specs=check_specs or None,
        can_subset=True,
        partitions_def=partitions_def(pipeline),
        description=f"Pipeline {pipeline.name}, {group.label()}: one process, one asset per step.",
        op_tags={"dataflow/stage": group.name},
    )
    def _group(context: AssetExecutionContext, dataflow_storage: StorageResource) -> Iterator[MaterializeResult]:
        storage = dataflow_storage.get()
        part = partition_key_of(context)
        con = duckdb.connect()  # metadata queries of every step, over the snapshots just written
        try:
            if group.with_source and keys[source] in context.selected_asset_keys:
                address = AssetAddress(pipeline.asset_name(source), part)
                previous = storage.current_ref(address)
                out = run_source(storage, pipeline, context.log, context.run_id, publish=False, partition=part)
                storage.publish(address, out.refs, out.lineage)
                yield materialize_result(out, previous, outcome_metadata(out, storage), asset_key=keys[source])
            for stage in group.stages:
                selected = [n for n in stage.steps if keys[n] in context.selected_asset_keys]
                for run in contiguous_runs(selected, stage.steps):
                    stop = yield from _run_and_report(context, storage, pipeline, stage, run, keys, upstream, con)
                    if stop:
                        later = [n for n in group.steps if keys[n] in context.selected_asset_keys]
                        context.log.error(
                            f"{pipeline.asset_name(stop)}: a blocking check failed; not materialising the rest "
                            f"of {group.name}: {later[later.index(stop) + 1 :]}"
                        )
                        return
        finally:
            con.close()
            storage.sync_catalog()  # once per group, not once per step

    return _group


def _run_and_report(
    context: AssetExecutionContext,
    storage: Storage,
    pipeline: Pipeline,
    stage: Stage,
    run: list[str],
    keys: dict[str, AssetKey],
    upstream: dict[str, AssetKey],
    con: duckdb.DuckDBPyConnection,
) -> Generator[MaterializeResult, None, str | None]:
    """Run consecutive steps of one stage (one query when it is fused), publish and report each in
    order; returns the step whose blocking check failed (the rest is then not published), else None."""
    part = partition_key_of(context)
    previous = {n: storage.current_ref(AssetAddress(pipeline.asset_name(n), part)) for n in run}
    first = pipeline.step(run[0])
    up_ref = storage.require_ref(AssetAddress(pipeline.asset_name(first.after or pipeline.source.name), part))
    up_cols = [c for c, _ in up_ref.columns]
    options = StepOptions(log=context.log, run_id=context.run_id, partition=part, upstream_ref=up_ref)
    if stage.fused:
        outcomes = run_chain(storage, pipeline, run, options)
        chart = _stage_chart(storage, pipeline, stage, outcomes, context)
    else:
        outcomes, chart = [run_step(storage, pipeline, run[0], replace(options, publish=False))], None
    checks = context.selected_asset_check_keys
    for name, out in zip(run, outcomes, strict=True):
        step = pipeline.step(name)
        storage.publish(AssetAddress(out.asset, part), out.refs, out.lineage)
        md = outcome_metadata(out, storage, step.op, upstream[name], up_cols, draw=not stage.fused, con=con)
        if chart is not None:
            md["stage_rows"] = chart
        wanted = {c.name for c in checks if c.asset_key == keys[name]}
        results = step_check_results(pipeline, step, keys[name], storage, part, wanted)
        yield materialize_result(out, previous[name], md, asset_key=keys[name], check_results=results or None)
        if blocks(results, pipeline, step):
            return name
        up_cols = [c for c, _ in out.table.columns]
    return None


def _stage_chart(
    storage: Storage, pipeline: Pipeline, stage: Stage, outcomes: Sequence[StepOutcome], context: Any
) -> MetadataValue | None:
    try:
        return stage_chart(storage, f"{pipeline.name}__{stage.name}", outcomes)
    except Exception as exc:  # a chart is a view on data already computed: never fail the stage
        context.log.warning(f"{pipeline.name} {stage.name}: could not draw the stage chart: {exc!r}")
        return None
