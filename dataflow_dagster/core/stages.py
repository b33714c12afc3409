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


@dataclass(frozen=True)
class Group:
    """Consecutive stages run by one Dagster execution step, i.e. one process under the multiprocess
    executor. A step process costs seconds (start, imports, instance, resources, log capture) while
    a rule stage over thousands of rows costs less, so a chain of rule stages (fused filters, a dedup,
    a rule generator) and the source import before it share a process. LLM steps stay groups of their
    own: their branches run in parallel and each holds its own model session."""

    stages: tuple[Stage, ...]
    with_source: bool = False

    @property
    def name(self) -> str:
        first, last = self.stages[0], self.stages[-1]
        return first.name if first is last else f"{first.name}_to_{last.name}"

    @property
    def steps(self) -> tuple[str, ...]:
        return tuple(n for s in self.stages for n in s.steps)

    @property
    def single_step(self) -> bool:
        """A group that is one step alone, which the factory builds as that step's own asset."""
        return not self.with_source and len(self.steps) == 1

    def label(self) -> str:
        if len(self.stages) == 1 and not self.with_source:
            return self.stages[0].label()
        parts = (["source"] if self.with_source else []) + [s.label() for s in self.stages]
        return f"one execution step: {' -> '.join(parts)}"


def groupable(pipeline: Pipeline, stage: Stage) -> bool:
    """Rule steps only (no model), none opted out with ``fuse=False``."""
    steps = [pipeline.step(n) for n in stage.steps]
    return all(s.fuse and not s.op.needs_llm for s in steps)


def plan_groups(pipeline: Pipeline) -> list[Group]:
    """Stages grouped into execution steps: a rule stage joins the open rule group when its first step
    reads that group's last step; the first rule stage reading the source takes the source in."""
    source = pipeline.source.name
    groups: list[tuple[list[Stage], bool]] = []
    tail: str | None = source  # what the open rule group ends with (at first: the source)
    for stage in plan_stages(pipeline):
        reads = pipeline.step(stage.steps[0]).after or source
        rule = groupable(pipeline, stage)
        if rule and reads == tail and tail == source:
            groups.append(([stage], True))
        elif rule and reads == tail:
            groups[-1][0].append(stage)
        else:
            groups.append(([stage], False))
        tail = stage.steps[-1] if rule else None
    return [Group(tuple(g), with_source) for g, with_source in groups]
