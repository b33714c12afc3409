"""Naming and policy decisions for a pipeline's assets, in one object users can subclass.

The factory asks a ``DataflowTranslator`` for the ``AssetSpec`` of every asset (the source and each
step): key, deps, group, kinds, tags, owners, description, automation condition and code version. A
team that wants another key prefix, its own groups or tags, or a different freshness policy subclasses
the translator and overrides one ``get_*`` method instead of forking the factory, the way dagster-dbt's
``DagsterDbtTranslator`` and dagster-sling's ``DagsterSlingTranslator`` do it.

Every asset-key decision goes through ``get_asset_key``, deps included, so a changed key prefix keeps
the graph connected; the code version should normally be left alone (it is what makes an edited
operator, config or prompt show its asset as stale).
"""

from dataclasses import dataclass
from typing import Any

from dagster import AssetKey, AssetSpec, AutomationCondition

from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from dataflow_dagster.core.runner import source_code_version, step_code_version
from dataflow_dagster.core.stages import stage_of
from dataflow_dagster.defs.automation import AutomationOptions, asset_condition

# What get_asset_spec is asked about: the pipeline's source (its first asset) or one of its steps.
Node = Source | Step


def step_name_of(pipeline: Pipeline, node: Node) -> str:
    return pipeline.source.name if isinstance(node, Source) else node.name


def upstream_of(pipeline: Pipeline, node: Node) -> Node | None:
    """The node a step reads (the source or an earlier step); None for the source."""
    if isinstance(node, Source):
        return None
    after = node.after or pipeline.source.name
    return pipeline.source if after == pipeline.source.name else pipeline.step(after)


@dataclass
class DataflowTranslator:
    """Default policy: key ``[pipeline, step]``, group = pipeline group, kinds duckdb(+llm/parquet).

    ``automation`` (set by ``build_definitions(automation=...)`` when the translator has none) gives
    every asset an automation condition; override ``get_automation_condition`` for per-step policy.
    """

    automation: AutomationOptions | None = None

    # ---- one decision per method ----------------------------------------------------------------
    def get_asset_key(self, pipeline: Pipeline, node: Node) -> AssetKey:
        return AssetKey([pipeline.name, step_name_of(pipeline, node)])

    def get_deps(self, pipeline: Pipeline, node: Node) -> list[AssetKey]:
        up = upstream_of(pipeline, node)
        return [] if up is None else [self.get_asset_key(pipeline, up)]

    def get_group_name(self, pipeline: Pipeline, node: Node) -> str | None:
        return pipeline.group_name

    def get_kinds(self, pipeline: Pipeline, node: Node) -> set[str]:
        if isinstance(node, Source):
            return {"duckdb", "parquet"}
        return {"duckdb", "llm"} if node.op.needs_llm else {"duckdb"}

    def get_tags(self, pipeline: Pipeline, node: Node) -> dict[str, str]:
        tags = {**pipeline.tags, "dataflow/pipeline": pipeline.name}
        if isinstance(node, Source):
            return {**tags, "dataflow/kind": "source"}
        stage = stage_of(pipeline, node.name).name
        return {**tags, "dataflow/kind": str(node.op.kind), "dataflow/operator": node.op.name, "dataflow/stage": stage}

    def get_owners(self, pipeline: Pipeline, node: Node) -> list[str]:
        return list(pipeline.owners)

    def get_description(self, pipeline: Pipeline, node: Node) -> str:
        if isinstance(node, Source):
            return f"Rows imported from `{node.path}`, each with a content-derived `_id`."
        op = node.op
        doc = node.description or (type(op).__doc__ or op.name).strip()
        ins = ", ".join(f"`{c}`" for c in op.input_columns()) or "—"
        outs = ", ".join(f"`{c}`" for c in op.output_columns()) or "— (rows only)"
        stage = stage_of(pipeline, node.name).label()
        return f"**{op.name}** ({op.kind})\n\n{doc}\n\nReads {ins}; writes {outs}.\n\nStage: {stage}"

    def get_automation_condition(self, pipeline: Pipeline, node: Node) -> AutomationCondition | None:
        return None if isinstance(node, Source) else asset_condition(self.automation)

    def get_code_version(self, pipeline: Pipeline, node: Node) -> str:
        """Operator version + implementation fingerprint + prompt hash (see ``runner.step_code_version``)."""
        if isinstance(node, Source):
            return source_code_version(pipeline)
        op = node.op
        return step_code_version(op.version, op.fingerprint(), node.effective_prompt if op.needs_llm else None)

    def get_metadata(self, pipeline: Pipeline, node: Node) -> dict[str, Any]:
        return {}

    # ---- the spec ----------------------------------------------------------------------------------
    def get_asset_spec(self, pipeline: Pipeline, node: Node) -> AssetSpec:
        """Everything Dagster shows about the asset of ``node`` (the source or a step)."""
        return AssetSpec(
            key=self.get_asset_key(pipeline, node),
            deps=self.get_deps(pipeline, node),
            group_name=self.get_group_name(pipeline, node),
            kinds=self.get_kinds(pipeline, node),
            tags=self.get_tags(pipeline, node),
            owners=self.get_owners(pipeline, node) or None,
            description=self.get_description(pipeline, node),
            automation_condition=self.get_automation_condition(pipeline, node),
            code_version=self.get_code_version(pipeline, node),
            metadata=self.get_metadata(pipeline, node) or None,
        )


__all__ = ["DataflowTranslator", "Node", "step_name_of", "upstream_of"]
