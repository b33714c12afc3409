"""Dagster glue for DataFlow-style operators: storage, LLM resources, asset factory, lineage.

The package has two parts: ``dataflow_dagster.core`` (the engine: pipeline model, runner, storage,
memo, audit, plan; it never imports Dagster) and ``dataflow_dagster.defs`` (the only part that
does). Public names are resolved lazily here, so ``import dataflow_dagster.core.storage`` in a step
subprocess or a CLI call does not pay for importing Dagster.
"""

import importlib
from typing import Any

_PUBLIC = {
    "Pipeline": "dataflow_dagster.core.pipeline",
    "Source": "dataflow_dagster.core.pipeline",
    "Step": "dataflow_dagster.core.pipeline",
    "Storage": "dataflow_dagster.core.storage",
    "AssetAddress": "dataflow_dagster.core.storage",
    "StepOptions": "dataflow_dagster.core.runner",
    "HashShards": "dataflow_dagster.core.partitions",
    "FilePartitions": "dataflow_dagster.core.partitions",
    "build_definitions": "dataflow_dagster.defs.factory",
    "pipeline_definitions": "dataflow_dagster.defs.factory",
    "dataflow_assets": "dataflow_dagster.defs.factory",
    "DataflowTranslator": "dataflow_dagster.defs.translator",
    "PipelineComponent": "dataflow_dagster.defs.component",
    "AutomationOptions": "dataflow_dagster.defs.automation",
    "LocalLLMResource": "dataflow_dagster.defs.resources",
    "OpenAIResource": "dataflow_dagster.defs.resources",
    "PromptResource": "dataflow_dagster.defs.resources",
    "StorageResource": "dataflow_dagster.defs.resources",
    "VLLMResource": "dataflow_dagster.defs.resources",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'dataflow_dagster' has no attribute '{name}'")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return __all__
