"""A fused stage as one Dagster execution step: a ``multi_asset`` over its steps' asset keys.

Each step keeps its own asset (key, code version, description, materialization event, metadata,
data version, checks, ``__rejected`` view); only the process, the query and the snapshot are shared.
``can_subset=True``: materialising some steps of a stage runs just the contiguous runs of selected
steps, each from the current version of its first step's upstream, as running them one by one would.

Checks are check specs on the multi_asset, evaluated inside it right after each step is published,
in chain order. Dagster's ``blocking`` gates separate execution steps; inside one step it cannot stop
the rest of a stage, so the stage does that itself: a failed blocking check of step k means steps
after k are neither published nor reported (their specs are ``skippable``), and Dagster then fails
the execution step for the failed blocking check, which stops everything downstream of the stage.
"""

from collections.abc import Iterator, Sequence
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
from dataflow_dagster.core.runner import StepOptions, StepOutcome
from dataflow_dagster.core.stages import Stage
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


def stage_asset(
    pipeline: Pipeline, stage: Stage, specs: list[AssetSpec], upstream: dict[str, AssetKey]
) -> AssetsDefinition:
    """The multi_asset of a fused stage: ``specs`` (the translator's, one per step, in stage order) and
    ``upstream`` (step -> the key of the asset it reads, for column lineage)."""
    keys: dict[str, AssetKey] = {name: spec.key for name, spec in zip(stage.steps, specs, strict=True)}
    check_specs = [c for name in stage.steps for c in step_check_specs(pipeline, pipeline.step(name), keys[name])]

    @multi_asset(
        name=f"{pipeline.name}__{stage.name}",
        specs=[spec.replace_attributes(skippable=True) for spec in specs],
        check_specs=check_specs or None,
        can_subset=True,
        partitions_def=partitions_def(pipeline),
        description=f"Pipeline {pipeline.name}, {stage.label()}: one query, one snapshot, one asset per step.",
        op_tags={"dataflow/stage": stage.name},
    )
    def _stage(context: AssetExecutionContext, dataflow_storage: StorageResource) -> Iterator[MaterializeResult]:
        storage = dataflow_storage.get()
        part = partition_key_of(context)
        selected = [n for n in stage.steps if keys[n] in context.selected_asset_keys]
        checks = context.selected_asset_check_keys
        con = duckdb.connect()  # metadata queries of every step of the stage, over the one stage snapshot
        try:
            for run in contiguous_runs(selected, stage.steps):
                previous = {n: storage.current_ref(AssetAddress(pipeline.asset_name(n), part)) for n in run}
                first = pipeline.step(run[0])
                up_ref = storage.require_ref(
                    AssetAddress(pipeline.asset_name(first.after or pipeline.source.name), part)
                )
                up_cols = [c for c, _ in up_ref.columns]
                options = StepOptions(log=context.log, run_id=context.run_id, partition=part, upstream_ref=up_ref)
                outcomes = run_chain(storage, pipeline, run, options)
                chart = _stage_chart(storage, pipeline, stage, outcomes, context)
                for name, out in zip(run, outcomes, strict=True):
                    step = pipeline.step(name)
                    storage.publish(AssetAddress(out.asset, part), out.refs, out.lineage)
                    md = outcome_metadata(out, storage, step.op, upstream[name], up_cols, draw=False, con=con)
                    if chart is not None:
                        md["stage_rows"] = chart
                    wanted = {c.name for c in checks if c.asset_key == keys[name]}
                    results = step_check_results(pipeline, step, keys[name], storage, part, wanted)
                    yield materialize_result(
                        out, previous[name], md, asset_key=keys[name], check_results=results or None
                    )
                    failed = blocks(results, pipeline, step)
                    if failed:
                        later = selected[selected.index(name) + 1 :]
                        context.log.error(
                            f"{out.asset}: blocking check(s) {failed} failed; not materialising the rest of "
                            f"{stage.name}: {later}"
                        )
                        return
                    up_cols = [c for c, _ in out.table.columns]
        finally:
            con.close()
            storage.sync_catalog()  # once per stage, not once per step

    return _stage


def _stage_chart(
    storage: Storage, pipeline: Pipeline, stage: Stage, outcomes: Sequence[StepOutcome], context: Any
) -> MetadataValue | None:
    try:
        return stage_chart(storage, f"{pipeline.name}__{stage.name}", outcomes)
    except Exception as exc:  # a chart is a view on data already computed: never fail the stage
        context.log.warning(f"{pipeline.name} {stage.name}: could not draw the stage chart: {exc!r}")
        return None
