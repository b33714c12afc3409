"""Dagster glue for DataFlow-style operators: storage, LLM resources, asset factory, lineage."""

from dataflow_dagster.factory import build_definitions, pipeline_definitions
from dataflow_dagster.pipeline import Pipeline, Source, Step
from dataflow_dagster.resources import LocalLLMResource, OpenAIResource, PromptResource, StorageResource
from dataflow_dagster.storage import Storage

__all__ = [
    "LocalLLMResource",
    "OpenAIResource",
    "Pipeline",
    "PromptResource",
    "Source",
    "Step",
    "Storage",
    "StorageResource",
    "build_definitions",
    "pipeline_definitions",
]
