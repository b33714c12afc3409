"""The Dagster glue: asset factory, checks, metadata, plots, automation, resources, partitions.

The only part of dataflow_dagster that imports Dagster; it turns the engine's pipelines
(``dataflow_dagster.core``) into Dagster definitions.
"""
