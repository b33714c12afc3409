"""``PipelineComponent``: a YAML pipeline as a Dagster Component, for ``dg`` projects.

Its attributes are exactly the pipeline YAML format (``pipeline``, ``description``, ``source``,
``steps``; see docs/yaml.md), so a ``defs.yaml`` of this component is a pipeline file wrapped in
``type:`` / ``attributes:``, and ``dg scaffold defs``, ``dg list defs``, ``dg check defs`` (schema
validation of the attributes) and ``dg launch`` work on it. The registry module is announced through
the ``dagster_dg_cli.registry_modules`` entry point, which makes the type name
``dataflow_dagster.PipelineComponent``.

Resources: the storage (``$DATAFLOW_HOME`` or ``./.dataflow``) and the default model
(``llm_from_env``: the embedded model unless ``DATAFLOW_LLM_BASE_URL`` is set) are one shared object
each per process, so several pipeline components in one project merge into one Definitions (Dagster
refuses two different objects under one resource key). A step with ``llm: judge`` needs a ``judge``
resource from another part of the project's definitions.
"""

import functools
from typing import Any, Literal

import dagster as dg
from dagster.components.component_scaffolding import scaffold_component
from pydantic import Field

from dataflow_dagster.core.pipeline import Pipeline
from dataflow_dagster.core.samples import identifier, sample_pipeline, write_sample_rows
from dataflow_dagster.core.yaml_loader import pipeline_from_dict
from dataflow_dagster.defs.executor import default_executor
from dataflow_dagster.defs.factory import pipeline_definitions
from dataflow_dagster.defs.resources import LLM_KEY, STORAGE_KEY, StorageResource, llm_from_env
from dataflow_dagster.defs.translator import DataflowTranslator


class SourceModel(dg.Model, dg.Resolvable):
    """The file imported as the pipeline's first asset."""

    path: str = Field(description="input file, relative to the component's folder")
    format: Literal["jsonl", "json", "csv", "parquet"] | None = None
    required_columns: list[str] = Field(default_factory=list)
    name: str | None = Field(default=None, description="asset name of the source step (default: load)")


class PromptModel(dg.Model, dg.Resolvable):
    template: str
    system: str | None = None


class StepModel(dg.Model, dg.Resolvable):
    """One operator step; ``config`` is validated by the operator's own settings model."""

    name: str = Field(description="step name; the asset key is [pipeline, name]")
    op: str = Field(description="registered operator (`dataflow-dagster ops list`)")
    config: dict[str, Any] = Field(default_factory=dict, description="the operator's settings")
    after: str | None = Field(default=None, description="upstream step (default: the previous step)")
    prompt: str | PromptModel | None = Field(default=None, description="prompt override")
    description: str | None = None
    llm: str | None = Field(default=None, description="LLM resource key serving this step (default: llm)")


@functools.cache
def shared_resources() -> dict[str, Any]:
    """The storage and default model every pipeline component of this process shares (same objects)."""
    return {STORAGE_KEY: StorageResource(), LLM_KEY: llm_from_env()}


class PipelineScaffolder(dg.Scaffolder):
    """``dg scaffold defs dataflow_dagster.PipelineComponent NAME``: a runnable pipeline with sample rows."""

    def scaffold(self, request: dg.ScaffoldRequest) -> None:
        scaffold_component(request, sample_pipeline(identifier(request.target_path.name)))
        write_sample_rows(request.target_path / "sample.jsonl")


@dg.scaffold_with(PipelineScaffolder)
class PipelineComponent(dg.Component, dg.Model, dg.Resolvable):
    """A DataFlow-style pipeline (operators over DuckDB snapshots) as assets, checks and a job.

    The attributes are the pipeline YAML format of dataflow-dagster: ``pipeline`` (name),
    ``description``, ``source`` and ``steps``.
    """

    pipeline: str = Field(description="pipeline name (a Python identifier): asset key prefix, group, job")
    description: str | None = None
    source: SourceModel
    steps: list[StepModel] = Field(min_length=1)

    def get_translator(self) -> DataflowTranslator:
        """Override in a subclass to change keys, groups, tags... of this component's assets."""
        return DataflowTranslator()

    def build_pipeline(self, context: dg.ComponentLoadContext) -> Pipeline:
        data = self.model_dump(exclude_none=True)
        return pipeline_from_dict(data, context.path / "defs.yaml")

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        pipeline = self.build_pipeline(context)
        assets, checks, prompts, job = pipeline_definitions(pipeline, translator=self.get_translator())
        return dg.Definitions(
            assets=assets,
            asset_checks=checks,
            jobs=[job],
            resources={**shared_resources(), **prompts},
            executor=default_executor(),  # one shared object, so several components merge (defs.executor)
        )


__all__ = ["PipelineComponent", "PipelineScaffolder"]
