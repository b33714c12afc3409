"""Dagster's side of partitioned pipelines: the partitions definition of a pipeline's assets and the
partition key of an execution. The partition specs themselves (``HashShards``, ``FilePartitions``) are
engine objects in ``dataflow_dagster.core.partitions``."""

from typing import Any

from dagster import DynamicPartitionsDefinition, PartitionsDefinition, StaticPartitionsDefinition

from dataflow_dagster.core.partitions import HashShards, dynamic_name
from dataflow_dagster.core.pipeline import Pipeline


def partition_key_of(context: Any) -> str | None:
    """The partition a Dagster asset or check execution runs for, or None when unpartitioned."""
    return context.partition_key if context.has_partition_key else None


def partitions_def(pipeline: Pipeline) -> PartitionsDefinition | None:
    spec = pipeline.partitions
    if spec is None:
        return None
    if isinstance(spec, HashShards):
        return StaticPartitionsDefinition(spec.partition_keys())
    return DynamicPartitionsDefinition(name=dynamic_name(pipeline))
