"""Turns pipelines into Dagster Definitions: one asset per step, checks, prompt resources, a job.

Assets return ``MaterializeResult`` (no IO manager): the step writes its own snapshot, and the
content hash becomes the asset's data version, so Dagster's staleness follows the data and the
code version (operator + config + prompt hash) follows the recipe.
"""

import weakref
from collections.abc import Sequence
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    AssetSpec,
    Definitions,
    MaterializeResult,
    asset,
    define_asset_job,
)

from dataflow_dagster.core.pipeline import Pipeline, Step
from dataflow_dagster.core.runner import (
    run_source,
    run_step,
    source_code_version,
    step_code_version,
)
from dataflow_dagster.core.stages import Stage, plan_stages, stage_of
from dataflow_dagster.defs.automation import AutomationOptions, asset_condition, automation_definitions
from dataflow_dagster.defs.checks import step_checks
from dataflow_dagster.defs.metadata import dispatch_metadata, materialize_result, outcome_metadata
from dataflow_dagster.defs.partitions import partition_key_of, partitions_def
from dataflow_dagster.defs.resources import LLMResource, LocalLLMResource, PromptResource, StorageResource
from dataflow_dagster.defs.stage_assets import stage_asset

STORAGE_KEY = "dataflow_storage"
LLM_KEY = "llm"

# The Pipeline behind each assets definition the factory made: audits and diffs need the Pipeline
# objects (operators, prompts) behind a code location's assets, which Definitions do not carry. Keyed
# by the assets definition itself (weakly), so two code locations built in one process never see each
# other's pipelines, as they did with a process-global table by name.
_PIPELINE_OF: "weakref.WeakKeyDictionary[AssetsDefinition, Pipeline]" = weakref.WeakKeyDictionary()


def pipelines_of(defs: Definitions) -> dict[str, Pipeline]:
    """The pipelines, by name, whose assets ``defs`` holds (built by this factory)."""
    found: dict[str, Pipeline] = {}
    for a in defs.assets or []:
        pipeline = _PIPELINE_OF.get(a) if isinstance(a, AssetsDefinition) else None
        if pipeline is not None:
            found[pipeline.name] = pipeline
    return found


def prompt_resource_key(pipeline: Pipeline, step: Step) -> str:
    return f"prompt__{pipeline.name}__{step.name}"


def asset_key(pipeline: Pipeline, step_name: str) -> AssetKey:
    return AssetKey([pipeline.name, step_name])


def _kinds(step: Step) -> set[str]:
    return {"duckdb", "llm"} if step.op.needs_llm else {"duckdb"}


def _columns_line(op: Any) -> str:
    ins = ", ".join(f"`{c}`" for c in op.input_columns()) or "—"
    outs = ", ".join(f"`{c}`" for c in op.output_columns()) or "— (rows only)"
    return f"Reads {ins}; writes {outs}."


def _tags(pipeline: Pipeline, **extra: str) -> dict[str, str]:
    return {**pipeline.tags, "dataflow/pipeline": pipeline.name, **extra}


def _source_asset(pipeline: Pipeline) -> AssetsDefinition:
    @asset(
        key=asset_key(pipeline, pipeline.source.name),
        group_name=pipeline.group_name,
        partitions_def=partitions_def(pipeline),
        kinds={"duckdb", "parquet"},
        code_version=source_code_version(pipeline),
        description=f"Rows imported from `{pipeline.source.path}`, each with a content-derived `_id`.",
        required_resource_keys={STORAGE_KEY},
        tags=_tags(pipeline, **{"dataflow/kind": "source"}),
        owners=pipeline.owners or None,
    )
    def _asset(context: AssetExecutionContext) -> MaterializeResult:
        storage = getattr(context.resources, STORAGE_KEY).get()
        part = partition_key_of(context)
        previous = storage.current_ref(pipeline.asset_name(pipeline.source.name), partition=part)
        outcome = run_source(storage, pipeline, context.log, context.run_id, partition=part)
        return materialize_result(outcome, previous, outcome_metadata(outcome, storage))

    return _asset


def step_attrs(
    pipeline: Pipeline, step: Step, automation: AutomationOptions | None = None, stage: Stage | None = None
) -> dict[str, Any]:
    """What a step's asset is (key, deps, group, kinds, code version, description, tags, owners,
    automation): the same for a plain ``@asset`` and for a spec of a fused stage's ``multi_asset``."""
    op = step.op
    stage = stage or stage_of(pipeline, step.name)
    doc = step.description or (type(op).__doc__ or op.name).strip()
    prompt = step.effective_prompt if op.needs_llm else None
    return {
        "key": asset_key(pipeline, step.name),
        "deps": [asset_key(pipeline, step.after or pipeline.source.name)],
        "group_name": pipeline.group_name,
        "automation_condition": asset_condition(automation),
        "kinds": _kinds(step),
        "code_version": step_code_version(op.version, op.fingerprint(), prompt),
        "description": f"**{op.name}** ({op.kind})\n\n{doc}\n\n{_columns_line(op)}\n\nStage: {stage.label()}",
        "tags": _tags(
            pipeline, **{"dataflow/kind": str(op.kind), "dataflow/operator": op.name, "dataflow/stage": stage.name}
        ),
        "owners": pipeline.owners or None,
    }


def _step_asset(pipeline: Pipeline, step: Step, automation: AutomationOptions | None = None) -> AssetsDefinition:
    op = step.op
    needs_llm = op.needs_llm
    prompt = step.effective_prompt
    prompt_key = prompt_resource_key(pipeline, step)
    keys = {STORAGE_KEY, *((LLM_KEY, prompt_key) if needs_llm else ())}
    upstream = asset_key(pipeline, step.after or pipeline.source.name)
    up_name = pipeline.asset_name(step.after or pipeline.source.name)

    @asset(
        **step_attrs(pipeline, step, automation), partitions_def=partitions_def(pipeline), required_resource_keys=keys
    )
    def _asset(context: AssetExecutionContext) -> MaterializeResult:
        storage = getattr(context.resources, STORAGE_KEY).get()
        llm = None
        llm_info: dict[str, Any] = {}
        step_prompt = prompt
        if needs_llm:
            resource: LLMResource = getattr(context.resources, LLM_KEY)
            llm, llm_info = resource.get_client(), resource.describe()
            step_prompt = getattr(context.resources, prompt_key).to_template()
            if step_prompt.content_hash != (prompt.content_hash if prompt else None):
                context.log.warning(
                    f"prompt resource '{prompt_key}' differs from the definition's prompt; "
                    "this run's lineage records the resource's text and hash"
                )
        part = partition_key_of(context)
        previous = storage.current_ref(pipeline.asset_name(step.name), partition=part)
        try:
            outcome = run_step(
                storage,
                pipeline,
                step.name,
                llm=llm,
                prompt=step_prompt,
                log=context.log,
                run_id=context.run_id,
                llm_info=llm_info,
                partition=part,
            )
            up_ref = storage.current_ref(up_name, partition=part)
            md = outcome_metadata(
                outcome,
                storage,
                op,
                upstream,
                [c for c, _ in up_ref.columns] if up_ref else [],
                step_prompt.fields() if needs_llm and step_prompt is not None else [],
            )
            result = materialize_result(outcome, previous, md)
            stats = getattr(llm, "stats", None)  # retries, re-asks, rate-limit waits of this step's client
            if stats is not None:
                result.metadata.update(dispatch_metadata(stats.as_dict()))
                context.log.info(f"{outcome.asset}: LLM dispatch {stats.as_dict()}")
        finally:
            close = getattr(llm, "close", None)
            if callable(close):
                close()
        return result

    return _asset


def pipeline_definitions(
    pipeline: Pipeline,
    automation: AutomationOptions | None = None,
) -> tuple[list[AssetsDefinition], list[Any], dict[str, Any], Any]:
    """Assets, checks, prompt resources and the job of one pipeline."""
    assets = [_source_asset(pipeline)]
    checks = []
    for stage in plan_stages(pipeline):
        if stage.fused:  # one execution step; its checks are check specs evaluated inside it
            specs = [AssetSpec(**step_attrs(pipeline, pipeline.step(n), automation, stage)) for n in stage.steps]
            assets.append(stage_asset(pipeline, stage, specs, STORAGE_KEY))
            continue
        step = pipeline.step(stage.steps[0])
        assets.append(_step_asset(pipeline, step, automation))
        checks += step_checks(pipeline, step, asset_key(pipeline, step.name), STORAGE_KEY)
    for a in assets:
        _PIPELINE_OF[a] = pipeline
    prompts = {
        prompt_resource_key(pipeline, s): PromptResource.from_template(s.effective_prompt)
        for s in pipeline.steps
        if s.op.needs_llm and s.effective_prompt is not None
    }
    job = define_asset_job(
        f"{pipeline.name}_job",
        selection=AssetSelection.key_prefixes([pipeline.name]),
        description=pipeline.description or f"Materialise pipeline {pipeline.name}",
    )
    return assets, checks, prompts, job


def build_definitions(
    pipelines: Sequence[Pipeline],
    llm: LLMResource | None = None,
    storage: StorageResource | None = None,
    resources: dict[str, Any] | None = None,
    automation: AutomationOptions | None = None,
    **definitions_kwargs: Any,
) -> Definitions:
    """Definitions for ``pipelines``; the embedded local model is the default LLM.

    ``automation`` adds automation conditions, a schedule and a source sensor per pipeline
    (schedules and sensors stopped unless ``running``); see ``dataflow_dagster.defs.automation``.
    """
    all_assets: list[Any] = []
    all_checks: list[Any] = []
    all_resources: dict[str, Any] = {STORAGE_KEY: storage or StorageResource(), LLM_KEY: llm or LocalLLMResource()}
    jobs = []
    for p in pipelines:
        assets, checks, prompts, job = pipeline_definitions(p, automation)
        all_assets += assets
        all_checks += checks
        all_resources.update(prompts)
        jobs.append(job)
    all_resources.update(resources or {})
    schedules, sensors = automation_definitions(list(pipelines), automation)
    if schedules:
        definitions_kwargs["schedules"] = [*definitions_kwargs.get("schedules", []), *schedules]
    if sensors:
        definitions_kwargs["sensors"] = [*definitions_kwargs.get("sensors", []), *sensors]
    return Definitions(
        assets=all_assets, asset_checks=all_checks, jobs=jobs, resources=all_resources, **definitions_kwargs
    )


__all__ = ["build_definitions", "pipeline_definitions", "pipelines_of"]
