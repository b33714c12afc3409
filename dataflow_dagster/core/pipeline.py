"""Pipelines as plain Python objects, PyTorch-style: a source and a list of operator steps.

Each step reads one upstream (the previous step unless ``after`` says otherwise), so a pipeline is
a tree: branches are steps that name the same ``after``. ``check`` walks the tree with column sets
and refuses a pipeline whose keys do not line up, before anything runs.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dataflow_dagster.core.export_options import ExportOptions
from dataflow_dagster.core.partitions import FilePartitions, PartitionSpec
from operators.core.contract import Operator, OperatorError
from operators.core.prompt import PromptTemplate
from operators.core.rowids import ID, PARENTS

SOURCE_STEP = "load"


@dataclass
class Source:
    """A file (JSONL/JSON/CSV/Parquet) imported as the pipeline's first asset."""

    path: str
    format: str | None = None
    name: str = SOURCE_STEP
    required_columns: list[str] = field(default_factory=list)

    def resolved_path(self, base: Path | None = None) -> Path:
        p = Path(self.path)
        return p if p.is_absolute() or base is None else (base / p)


@dataclass
class Step:
    name: str
    op: Operator
    after: str | None = None
    prompt: PromptTemplate | None = None
    description: str | None = None
    # Great Expectations 1.x expectation configs ({"type": "expect_...", "kwargs": {...}}), run as a
    # blocking asset check on the step's snapshot (needs the `gx` extra).
    expectations: list[dict[str, Any]] = field(default_factory=list)
    # Column schema of the step's output: dagster-pandas ``PandasColumn`` objects or
    # ``{column: {"type": "string"|"integer"|"float"|"numeric"|"boolean"|"any", "non_nullable": ...,
    # "unique": ..., "min_value": ..., "max_value": ..., "categories": [...]}}``; run as an asset check.
    schema: list[Any] | dict[str, dict[str, Any]] | None = None
    # Consecutive fusable steps (rule filters, refiners, rule evaluators) run as one stage: one query,
    # one snapshot, one Dagster execution step. False keeps this step a stage of its own.
    fuse: bool = True
    # Key of the LLM resource that serves this step (e.g. "judge" for a stronger judging model);
    # None = the code location's default "llm". Ignored by steps that need no model.
    llm: str | None = None
    # Publish this step's table as a Hugging Face dataset (an extra asset `<step>__export` downstream
    # of it, so every refresh republishes); ``out_dir`` is required here. See docs/export.md.
    export: ExportOptions | None = None

    @property
    def effective_prompt(self) -> PromptTemplate | None:
        return self.prompt or self.op.default_prompt


@dataclass
class Pipeline:
    name: str
    source: Source
    steps: list[Step]
    description: str = ""
    base_dir: Path | None = None  # relative source paths resolve against this
    partitions: PartitionSpec | None = None  # HashShards / FilePartitions: every asset is partitioned
    owners: list[str] = field(default_factory=list)  # Dagster owners: emails or "team:name"
    tags: dict[str, str] = field(default_factory=dict)  # added to every asset of the pipeline
    group: str | None = None  # Dagster asset group; default: the pipeline name

    @property
    def group_name(self) -> str:
        return self.group or self.name

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise OperatorError(f"pipeline name '{self.name}' must be a Python identifier (letters, digits, _)")
        seen = {self.source.name}
        prev = self.source.name
        for step in self.steps:
            if not step.name.isidentifier() or "__" in step.name:
                raise OperatorError(
                    f"pipeline '{self.name}': step name '{step.name}' must be an identifier without '__'"
                )
            if step.llm is not None and not step.llm.isidentifier():
                raise OperatorError(
                    f"pipeline '{self.name}': step '{step.name}' names LLM resource '{step.llm}', which is not "
                    "a valid resource key (letters, digits, _)"
                )
            if step.name in seen:
                raise OperatorError(f"pipeline '{self.name}': step name '{step.name}' is used twice")
            if step.after is None:
                step.after = prev
            if step.after not in seen:
                raise OperatorError(
                    f"pipeline '{self.name}': step '{step.name}' comes after '{step.after}', which is not "
                    f"an earlier step (known: {sorted(seen)})"
                )
            if step.export is not None and not step.export.out_dir:
                raise OperatorError(
                    f"pipeline '{self.name}': step '{step.name}' has export options without out_dir; "
                    "say where the dataset goes, e.g. export=ExportOptions(out_dir='exports/my_set')"
                )
            if step.export is not None and self.partitions is not None:
                raise OperatorError(
                    f"pipeline '{self.name}': step '{step.name}' has export options but the pipeline is partitioned; "
                    "export one partition at a time with `dataflow-dagster export ASSET OUT_DIR --partition KEY`"
                )
            seen.add(step.name)
            prev = step.name

    def asset_name(self, step: str) -> str:
        return f"{self.name}__{step}"

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise OperatorError(f"pipeline '{self.name}' has no step '{name}'")

    @property
    def final_step(self) -> str:
        """The end of the main chain: the last step before the first branch (a step whose ``after``
        names something other than the step just before it). ``pretrain_qa``'s is ``keep_good``, not
        the ``topic`` branch listed after it; a pipeline without steps ends at its source."""
        last = self.source.name
        for step in self.steps:
            if step.after != last:
                break
            last = step.name
        return last

    def source_path(self, partition: str | None = None) -> Path:
        """The file to import; for file partitions, the partition's file inside the source folder."""
        path = self.source.resolved_path(self.base_dir)
        if partition is not None and isinstance(self.partitions, FilePartitions):
            return self.partitions.path(path, partition)
        return path

    def check(self, source_columns: list[str]) -> dict[str, list[str]]:
        """Propagate column sets through the steps; raise on the first step whose inputs are missing.

        Returns the columns each step's output will have.
        """
        cols: dict[str, list[str]] = {self.source.name: [ID, *source_columns]}
        for step in self.steps:
            available = cols[step.after or self.source.name]
            missing = [c for c in step.op.input_columns() if c not in available]
            if missing:
                raise OperatorError(
                    f"pipeline '{self.name}', step '{step.name}' ({step.op.name}): needs column(s) {missing} "
                    f"but '{step.after}' provides {available}; set the step's input_key"
                )
            prompt = step.effective_prompt
            if prompt is not None and len(prompt.fields()) > 1:
                absent = [f for f in prompt.fields() if f not in available and f not in step.op.input_columns()]
                mapped = getattr(step.op, "prompt_values", None)
                if absent and mapped is None:
                    raise OperatorError(
                        f"pipeline '{self.name}', step '{step.name}': prompt fields {absent} are not columns"
                    )
            out = list(available)
            if step.op.kind == "generate" and PARENTS not in out:
                out.append(PARENTS)
            out += [c for c in step.op.output_columns() if c not in out]
            cols[step.name] = out
        return cols

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source.path,
            "steps": [
                {"name": s.name, "op": s.op.name, "after": s.after, "config": s.op.config_dict()} for s in self.steps
            ],
        }
