"""The export asset: ``Step(export=ExportOptions(out_dir=...))`` republishes a step as a HF dataset.

The asset ``[pipeline, "<step>__export"]`` sits downstream of the step (a step name never contains
``__``, so it cannot clash with one) and carries the same automation condition as the steps, so a
refresh that changes the step's table republishes the dataset. With ``push_repo`` it also uploads,
with the token of the ``hf_hub`` resource (``EnvVar("HF_TOKEN")`` by default, never logged).
"""

import hashlib
import sys

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    ConfigurableResource,
    Definitions,
    EnvVar,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from dataflow_dagster.core.pipeline import Pipeline, Step
from dataflow_dagster.defs.automation import AutomationOptions, asset_condition
from dataflow_dagster.defs.resources import STORAGE_KEY

HUB_KEY = "hf_hub"
DEFAULT_MODULE = "assets.definitions"


class HubResource(ConfigurableResource):
    """Credentials for Hugging Face Hub uploads; pass ``EnvVar("HF_TOKEN")``, never a literal."""

    token: str = Field(default="", description="Hub token with write access (from the environment)")


def default_hub_resource() -> HubResource:
    return HubResource(token=EnvVar("HF_TOKEN"))


def export_key(pipeline: Pipeline, step: Step) -> AssetKey:
    return AssetKey([pipeline.name, f"{step.name}__export"])


def code_location_module(pipeline: Pipeline) -> str:
    """The loaded module whose ``defs`` hold ``pipeline`` (what the card's audit command must name)."""
    from dataflow_dagster.defs.factory import pipelines_of

    for name, module in list(sys.modules.items()):
        defs = getattr(module, "defs", None)
        if isinstance(defs, Definitions) and pipelines_of(defs).get(pipeline.name) is pipeline:
            return name
    return DEFAULT_MODULE


def export_asset_def(
    pipeline: Pipeline, step: Step, upstream: AssetKey, automation: AutomationOptions | None = None
) -> AssetsDefinition:
    """The export asset of ``step`` (whose asset key, as the translator named it, is ``upstream``)."""
    storage_key = STORAGE_KEY
    options = step.export
    assert options is not None and options.out_dir
    out_dir = str(pipeline.base_dir / options.out_dir) if pipeline.base_dir else options.out_dir
    version = hashlib.sha256(options.model_dump_json().encode()).hexdigest()[:12]
    keys = {storage_key, *((HUB_KEY,) if options.push_repo else ())}

    @asset(
        key=export_key(pipeline, step),
        deps=[upstream],
        group_name=pipeline.group_name,
        automation_condition=asset_condition(automation),
        kinds={"huggingface", "parquet"},
        code_version=f"export-{version}",
        description=f"`{step.name}` as a Hugging Face dataset in `{out_dir}` (README.md card with lineage, "
        "croissant.json)" + (f", pushed to `{options.push_repo}`" if options.push_repo else ""),
        required_resource_keys=keys,
        tags={**pipeline.tags, "dataflow/pipeline": pipeline.name, "dataflow/kind": "export"},
        owners=pipeline.owners or None,
    )
    def _export(context: AssetExecutionContext) -> MaterializeResult:
        from dataflow_dagster.core.export import export_asset

        storage = getattr(context.resources, storage_key).get()
        module = options.audit_module or code_location_module(pipeline)
        result = export_asset(storage, pipeline, step.name, out_dir, options, module=module, log=context.log)
        md = {
            "out_dir": MetadataValue.path(str(result.out_dir)),
            "content_hash": result.content_hash,
            "dagster/row_count": result.rows,
            "splits": MetadataValue.json({s.name: {"rows": s.rows, "shards": len(s.files)} for s in result.splits}),
            "files": MetadataValue.json(result.file_sha256),
            "audit_command": MetadataValue.text(result.audit_command),
        }
        if options.push_repo:
            from dataflow_dagster.core.export_push import push_export

            token = getattr(context.resources, HUB_KEY).token
            pushed = push_export(result.out_dir, options.push_repo, options.private, token=token, log=context.log)
            md["pushed_to"] = (
                MetadataValue.url(pushed.commit_url) if pushed.commit_url.startswith("http") else pushed.commit_url
            )
        return MaterializeResult(metadata=md)

    return _export
