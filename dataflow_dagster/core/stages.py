"""Which steps run together: consecutive fusable steps of a chain form one stage.

A stage is the unit of execution (one query over the stage input, one snapshot, one Dagster
execution step); a step is still the unit of lineage (its own asset, table view, content hash and
checks). Planning is deterministic from the pipeline alone, so the Dagster definitions, the CLI's
``plan`` and the runner agree on the stages without storing them anywhere.
"""

from dataclasses import dataclass

from dataflow_dagster.core.pipeline import Pipeline, Step


@dataclass(frozen=True)
class Stage:
    """Steps ``steps`` (in order, each reading the one before) of stage number ``index`` (1-based)."""

    index: int
    steps: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"stage{self.index}"

    @property
    def fused(self) -> bool:
        return len(self.steps) > 1

    def label(self) -> str:
        if not self.fused:
            return f"{self.name} ({self.steps[0]})"
        return f"{self.name} (fused: {self.steps[0]} .. {self.steps[-1]}, {len(self.steps)} steps)"


def fusable(step: Step) -> bool:
    return step.fuse and bool(step.op.fusable) and not step.op.needs_llm


def plan_stages(pipeline: Pipeline) -> list[Stage]:
    """Group steps into stages: a fusable step joins the open stage when it reads that stage's last
    step; anything else (LLM, dedup, generator, ``fuse=False``, a branch) starts a new stage."""
    groups: list[list[str]] = []
    open_stage = False
    for step in pipeline.steps:
        if fusable(step) and open_stage and groups[-1][-1] == step.after:
            groups[-1].append(step.name)
            continue
        groups.append([step.name])
        open_stage = fusable(step)
    return [Stage(i + 1, tuple(g)) for i, g in enumerate(groups)]


def stage_of(pipeline: Pipeline, step_name: str) -> Stage:
    for stage in plan_stages(pipeline):
        if step_name in stage.steps:
            return stage
    raise KeyError(step_name)
