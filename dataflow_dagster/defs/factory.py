"""Turns pipelines into Dagster Definitions: one asset per step, checks, prompt resources, a job.

Every asset is built from the ``AssetSpec`` a ``DataflowTranslator`` gives (key, deps, group, kinds,
tags, owners, description, automation condition, code version), so naming and policy are the
translator's and the execution is this module's. Assets return ``MaterializeResult`` (no IO
manager): the step writes its own snapshot, and the content hash becomes the asset's data version,
so Dagster's staleness follows the data and the code version follows the recipe.

Resources are typed parameters of the asset functions (``dataflow_storage: StorageResource``, the
step's LLM resource and its prompt resource), not looked up by name on ``context.resources``; the LLM
client is a context-managed session (``with llm.get_client(context) as session``) that is closed when
the step ends.
"""

import inspect
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    Definitions,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
    define_asset_job,
    multi_asset,
)

from dataflow_dagster.core.pipeline import Pipeline, Step
from dataflow_dagster.core.runner import StepOptions, run_source, run_step
from dataflow_dagster.core.stages import plan_groups
from dataflow_dagster.core.storage import AssetAddress, Storage
from dataflow_dagster.core.yaml_loader import BrokenPipelineFile
from dataflow_dagster.defs.automation import AutomationOptions, automation_definitions
from dataflow_dagster.defs.checks import step_checks
from dataflow_dagster.defs.executor import default_executor
from dataflow_dagster.defs.export import HUB_KEY, default_hub_resource, export_asset_def
from dataflow_dagster.defs.metadata import dispatch_metadata, materialize_result, outcome_metadata
from dataflow_dagster.defs.partitions import partition_key_of, partitions_def
from dataflow_dagster.defs.resources import (
    LLM_KEY,
    STORAGE_KEY,
    LLMResource,
    LLMSession,
    LocalLLMResource,
    PromptResource,
    StorageResource,
)
from dataflow_dagster.defs.stage_assets import group_asset
from dataflow_dagster.defs.translator import DataflowTranslator
from operators.core.prompt import PromptTemplate


@dataclass(frozen=True)
class BuiltAssets:
    """What the factory knows about one assets definition it made: its pipeline and step keys."""

    pipeline: Pipeline
    keys: dict[str, AssetKey]  # step name (source included) -> asset key


# Audits and diffs need the Pipeline objects (operators, prompts) and the translator's keys behind a
# code location's assets, which Definitions do not carry. Keyed (weakly) by the assets definition's
# op, which survives the copies Dagster makes (``load_from_defs_folder``, ``with_attributes``), so
# two code locations built in one process never see each other's pipelines.
_BUILT: "weakref.WeakKeyDictionary[Any, BuiltAssets]" = weakref.WeakKeyDictionary()


def register_assets(assets_def: AssetsDefinition, pipeline: Pipeline, keys: dict[str, AssetKey]) -> None:
    """Record that ``assets_def`` materialises ``keys`` (step -> key) of ``pipeline``."""
    _BUILT[assets_def.node_def] = BuiltAssets(pipeline, dict(keys))


def built_assets(assets_def: AssetsDefinition) -> BuiltAssets | None:
    """What the factory recorded for ``assets_def`` (or a copy of it), None for other assets."""
    return _BUILT.get(assets_def.node_def)


def _built_in(defs: Definitions) -> list[BuiltAssets]:
    found = [built_assets(a) for a in defs.assets or [] if isinstance(a, AssetsDefinition)]
    return [b for b in found if b is not None]


def pipelines_of(defs: Definitions) -> dict[str, Pipeline]:
    """The pipelines, by name, whose assets ``defs`` holds (built by this factory)."""
    return {b.pipeline.name: b.pipeline for b in _built_in(defs)}


def step_keys_of(defs: Definitions, pipeline: str) -> dict[str, AssetKey]:
    """Step name -> the asset key the translator gave it, for one pipeline of ``defs``."""
    keys: dict[str, AssetKey] = {}
    for b in _built_in(defs):
        if b.pipeline.name == pipeline:
            keys.update(b.keys)
    return keys


def prompt_resource_key(pipeline: Pipeline, step: Step) -> str:
    return f"prompt__{pipeline.name}__{step.name}"


def llm_resource_key(step: Step) -> str:
    """The LLM resource serving ``step``: its ``llm=`` key, else the code location's default."""
    return step.llm or LLM_KEY


def asset_key(pipeline: Pipeline, step_name: str) -> AssetKey:
    """The default translator's key of a step (``[pipeline, step]``)."""
    return AssetKey([pipeline.name, step_name])


def with_resource_params(fn: Callable[..., Any], resources: dict[str, type]) -> Callable[..., Any]:
    """Declare ``resources`` (key -> resource class) as typed keyword parameters of ``fn(context, **kw)``.

    Dagster reads resource parameters from the function's signature; a step's LLM and prompt
    resource keys are known only when the asset is built, so the signature is written here.
    """
    params = [inspect.Parameter("context", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=AssetExecutionContext)]
    params += [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, annotation=t) for k, t in resources.items()]
    fn.__signature__ = inspect.Signature(params, return_annotation=MaterializeResult)  # type: ignore[attr-defined]
    return fn


def source_asset(pipeline: Pipeline, translator: DataflowTranslator | None = None) -> AssetsDefinition:
    """The asset importing the pipeline's source file."""
    translator = translator or DataflowTranslator()
    spec = translator.get_asset_spec(pipeline, pipeline.source)

    @multi_asset(specs=[spec], name=spec.key.to_python_identifier(), partitions_def=partitions_def(pipeline))
    def _asset(context: AssetExecutionContext, dataflow_storage: StorageResource) -> MaterializeResult:
        storage = dataflow_storage.get()
        address = AssetAddress(pipeline.asset_name(pipeline.source.name), partition_key_of(context))
        previous = storage.current_ref(address)
        outcome = run_source(storage, pipeline, context.log, context.run_id, partition=address.partition)
        return materialize_result(outcome, previous, outcome_metadata(outcome, storage))

    register_assets(_asset, pipeline, {pipeline.source.name: spec.key})
    return _asset


def run_step_in_context(
    context: AssetExecutionContext,
    storage: Storage,
    pipeline: Pipeline,
    step: Step,
    upstream: AssetKey,
    session: LLMSession | None = None,
    prompt: PromptTemplate | None = None,
) -> MaterializeResult:
    """Run one step for a Dagster execution and describe it: lineage, metadata, data version."""
    op = step.op
    address = AssetAddress(pipeline.asset_name(step.name), partition_key_of(context))
    up_address = AssetAddress(pipeline.asset_name(step.after or pipeline.source.name), address.partition)
    previous = storage.current_ref(address)
    options = StepOptions(
        llm=session.client if session is not None else None,
        prompt=prompt,
        log=context.log,
        run_id=context.run_id,
        llm_info={**session.info, "resource": llm_resource_key(step)} if session is not None else None,
        partition=address.partition,
    )
    outcome = run_step(storage, pipeline, step.name, options)
    up_ref = storage.current_ref(up_address)
    md = outcome_metadata(
        outcome,
        storage,
        op,
        upstream,
        [c for c, _ in up_ref.columns] if up_ref else [],
        prompt.fields() if op.needs_llm and prompt is not None else [],
    )
    result = materialize_result(outcome, previous, md)
    if session is not None and session.stats is not None:  # retries, re-asks, waits of this step's client
        result.metadata.update(dispatch_metadata(session.stats.as_dict()))
    return result


def step_asset(pipeline: Pipeline, step: Step, translator: DataflowTranslator | None = None) -> AssetsDefinition:
    """The asset of one step, from the translator's spec."""
    translator = translator or DataflowTranslator()
    op = step.op
    spec = translator.get_asset_spec(pipeline, step)
    upstream = translator.get_asset_key(pipeline, _upstream_node(pipeline, step))
    defined_prompt = step.effective_prompt
    resources: dict[str, type] = {STORAGE_KEY: StorageResource}
    llm_key, prompt_key = llm_resource_key(step), prompt_resource_key(pipeline, step)
    if op.needs_llm:
        resources |= {llm_key: LLMResource, prompt_key: PromptResource}

    def _asset(context: AssetExecutionContext, **res: Any) -> MaterializeResult:
        storage: Storage = res[STORAGE_KEY].get()
        if not op.needs_llm:
            return run_step_in_context(context, storage, pipeline, step, upstream)
        llm: LLMResource = res[llm_key]
        prompt_resource: PromptResource = res[prompt_key]
        prompt = prompt_resource.to_template()
        if prompt.content_hash != (defined_prompt.content_hash if defined_prompt else None):
            context.log.warning(
                f"prompt resource '{prompt_key}' differs from the definition's prompt; "
                "this run's lineage records the resource's text and hash"
            )
        with llm.get_client(context) as session:
            return run_step_in_context(context, storage, pipeline, step, upstream, session, prompt)

    assets_def = multi_asset(
        specs=[spec], name=spec.key.to_python_identifier(), partitions_def=partitions_def(pipeline)
    )(with_resource_params(_asset, resources))
    register_assets(assets_def, pipeline, {step.name: spec.key})
    return assets_def


def _upstream_node(pipeline: Pipeline, step: Step) -> Any:
    after = step.after or pipeline.source.name
    return pipeline.source if after == pipeline.source.name else pipeline.step(after)


def dataflow_assets(pipeline: Pipeline, translator: DataflowTranslator | None = None) -> list[AssetsDefinition]:
    """One asset per step of ``pipeline`` (source first), named and tagged by ``translator``; the steps
    of a group of rule stages (``core.stages.plan_groups``) share one multi_asset, i.e. one execution
    step, and so does the source when the first group reads it."""
    translator = translator or DataflowTranslator()
    groups = plan_groups(pipeline)
    assets = [] if groups and groups[0].with_source else [source_asset(pipeline, translator)]
    for group in groups:
        if group.single_step:
            assets.append(step_asset(pipeline, pipeline.step(group.steps[0]), translator))
            continue
        steps = [pipeline.step(n) for n in group.steps]
        specs = {s.name: translator.get_asset_spec(pipeline, s) for s in steps}
        if group.with_source:
            specs[pipeline.source.name] = translator.get_asset_spec(pipeline, pipeline.source)
        upstream = {s.name: translator.get_asset_key(pipeline, _upstream_node(pipeline, s)) for s in steps}
        assets_def = group_asset(pipeline, group, specs, upstream)
        register_assets(assets_def, pipeline, {n: spec.key for n, spec in specs.items()})
        assets.append(assets_def)
    return assets


def pipeline_definitions(
    pipeline: Pipeline,
    automation: AutomationOptions | None = None,
    translator: DataflowTranslator | None = None,
) -> tuple[list[AssetsDefinition], list[Any], dict[str, Any], Any]:
    """Assets, checks, prompt resources and the job of one pipeline."""
    translator = _with_automation(translator, automation)
    assets = dataflow_assets(pipeline, translator)
    keys = {step: key for a in assets for step, key in _BUILT[a.node_def].keys.items()}
    grouped = {n for g in plan_groups(pipeline) if not g.single_step for n in g.steps}  # checks are check specs
    checks = [c for s in pipeline.steps if s.name not in grouped for c in step_checks(pipeline, s, keys[s.name])]
    exports = [export_asset_def(pipeline, s, keys[s.name], translator.automation) for s in pipeline.steps if s.export]
    assets += exports
    prompts = {
        prompt_resource_key(pipeline, s): PromptResource.from_template(s.effective_prompt)
        for s in pipeline.steps
        if s.op.needs_llm and s.effective_prompt is not None
    }
    job = define_asset_job(
        f"{pipeline.name}_job",
        selection=AssetSelection.assets(*keys.values(), *(k for e in exports for k in e.keys)),
        description=pipeline.description or f"Materialise pipeline {pipeline.name}",
    )
    return assets, checks, prompts, job


def _with_automation(translator: DataflowTranslator | None, automation: AutomationOptions | None) -> DataflowTranslator:
    if translator is None:
        return DataflowTranslator(automation=automation)
    if automation is not None and translator.automation is None:
        translator.automation = automation
    return translator


def broken_file_asset(broken: BrokenPipelineFile) -> AssetsDefinition:
    """Stands in for a pipeline file that failed to load: the code location still loads with every
    other pipeline, and the UI shows this asset (group ``broken_pipeline_files``) with the error in its
    description; materialising it fails with the same message."""
    name = "".join(c if c.isalnum() else "_" for c in broken.path.stem)

    @asset(
        key=AssetKey(["broken_pipeline_files", name]),
        group_name="broken_pipeline_files",
        description=f"**{broken.path} did not load**: {broken.error}\n\nFix the file and reload the code location.",
        metadata={"file": MetadataValue.path(str(broken.path)), "error": MetadataValue.text(broken.error)},
    )
    def _asset() -> None:
        raise Failure(description=f"{broken.path} did not load: {broken.error}")

    return _asset


def build_definitions(
    pipelines: Sequence[Pipeline],
    llm: LLMResource | None = None,
    storage: StorageResource | None = None,
    resources: dict[str, Any] | None = None,
    automation: AutomationOptions | None = None,
    translator: DataflowTranslator | None = None,
    broken_files: Sequence[BrokenPipelineFile] = (),
    **definitions_kwargs: Any,
) -> Definitions:
    """Definitions for ``pipelines``; the embedded local model is the default LLM.

    ``llm`` is the default model (resource key ``llm``); a step with ``llm="judge"`` is served by
    ``resources["judge"]``, which must be given. ``translator`` decides keys, groups, tags and other
    policy (see ``DataflowTranslator``). ``automation`` adds automation conditions, a schedule and a
    source sensor per pipeline (schedules and sensors stopped unless ``running``).
    ``broken_files`` (from ``load_pipeline_dir(dir, broken=...)``) become one failing placeholder asset
    each, so a bad YAML file is reported in the UI instead of breaking the whole code location.
    """
    translator = _with_automation(translator, automation)
    all_assets: list[Any] = [broken_file_asset(b) for b in broken_files]
    all_checks: list[Any] = []
    all_resources: dict[str, Any] = {STORAGE_KEY: storage or StorageResource(), LLM_KEY: llm or LocalLLMResource()}
    jobs = []
    for p in pipelines:
        assets, checks, prompts, job = pipeline_definitions(p, translator=translator)
        all_assets += assets
        all_checks += checks
        all_resources.update(prompts)
        jobs.append(job)
    if any(s.export and s.export.push_repo for p in pipelines for s in p.steps):
        all_resources[HUB_KEY] = default_hub_resource()
    all_resources.update(resources or {})
    _require_llm_resources(pipelines, all_resources)
    schedules, sensors = automation_definitions(list(pipelines), automation)
    if schedules:
        definitions_kwargs["schedules"] = [*definitions_kwargs.get("schedules", []), *schedules]
    if sensors:
        definitions_kwargs["sensors"] = [*definitions_kwargs.get("sensors", []), *sensors]
    definitions_kwargs.setdefault("executor", default_executor())  # forked step processes (defs.executor)
    return Definitions(
        assets=all_assets, asset_checks=all_checks, jobs=jobs, resources=all_resources, **definitions_kwargs
    )


def _require_llm_resources(pipelines: Sequence[Pipeline], resources: dict[str, Any]) -> None:
    """A step naming an LLM resource nobody provided fails here, with the fix, not at run time."""
    for p in pipelines:
        for s in p.steps:
            key = llm_resource_key(s)
            if s.op.needs_llm and key not in resources:
                raise ValueError(
                    f"pipeline '{p.name}', step '{s.name}' uses LLM resource '{key}', which is not defined; "
                    f"pass build_definitions(..., resources={{'{key}': OpenAIResource(...)}}) or drop `llm: {key}`"
                )
            if s.op.needs_llm and not isinstance(resources[key], LLMResource):
                raise ValueError(
                    f"pipeline '{p.name}', step '{s.name}': resource '{key}' is a {type(resources[key]).__name__}, "
                    "not an LLM resource (LocalLLMResource, OpenAIResource, VLLMResource, ...)"
                )


__all__ = [
    "LLM_KEY",
    "STORAGE_KEY",
    "BuiltAssets",
    "build_definitions",
    "built_assets",
    "dataflow_assets",
    "llm_resource_key",
    "pipeline_definitions",
    "pipelines_of",
    "register_assets",
    "run_step_in_context",
    "step_keys_of",
]
