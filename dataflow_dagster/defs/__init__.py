"""The Dagster glue: translator, asset factory, Component, checks, metadata, plots, automation,
resources, partitions.

The only part of dataflow_dagster that imports Dagster; it turns the engine's pipelines
(``dataflow_dagster.core``) into Dagster definitions: ``translator.DataflowTranslator`` decides what
each asset is called and how it is described, ``factory`` builds and runs the assets,
``component.PipelineComponent`` is the same for ``dg`` projects.
"""
