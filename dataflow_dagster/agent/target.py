"""A requested sample count ("make 5K samples"): generation settings sized to it, and its cost.

Most generators write one row per input row, so a target larger than the source cannot be met by a
setting; a few have a per-row count (new questions per seed, rows per call), and those are sized so
that the source yields the target. Whatever the chain, the dry run says how many rows the source
yields and what one pass costs; scaling that pass to the target gives the LLM calls and tokens the
request would cost, and says how many source rows it needs when settings cannot reach it.
"""

import math
import re
from dataclasses import dataclass

from dataflow_dagster.core.dryrun import PlanReport
from dataflow_dagster.core.pipeline import Step

# generator -> its per-input-row count setting; only settings that mean "more output rows"
PER_ROW: dict[str, str] = {"ReasoningQuestionGenerator": "num_samples"}
# generator -> its total count setting (rows written whatever the source holds)
TOTAL: dict[str, str] = {
    "RandomDomainKnowledgeRowGenerator": "generation_num",
    "CodeInstructionGenerator": "num_generate",
}
# a stated per-row count ("5 solutions per problem", "2 new questions per seed", "3 rounds") -> setting
STATED: dict[str, tuple[str, str]] = {
    "solution": ("CoTAnswerGenerator", "num_samples"),
    "answer": ("CoTAnswerGenerator", "num_samples"),
    "sample": ("CoTAnswerGenerator", "num_samples"),
    "question": ("ReasoningQuestionGenerator", "num_samples"),
    "problem": ("ReasoningQuestionGenerator", "num_samples"),
    "variant": ("ReasoningQuestionGenerator", "num_samples"),
    "round": ("AgenticRAGDepthQAGenerator", "n_rounds"),
    "hop": ("AgenticRAGDepthQAGenerator", "n_rounds"),
}
_STATED = re.compile(
    r"(\d+)\s+(?:[a-z\-]+\s+){0,3}?(?:(solution|answer|sample|question|problem|variant)s?\b"
    r"(?=\s+(?:per|for each|each|for every|from each|from every|of each)\b)|(round|hop)s?\b)",
    re.I,
)


def _with(step: Step, setting: str, value: int) -> int:
    """Set ``setting`` on the step within the field's bounds; returns the value set."""
    field = type(step.op).Config.model_fields[setting]
    upper = next((m.le for m in field.metadata if getattr(m, "le", None) is not None), None)
    value = max(1, min(value, int(upper))) if upper is not None else max(1, value)
    step.op = type(step.op)(**{**step.op.config_dict(), setting: value})
    return value


def apply_stated_counts(steps: list[Step], text: str) -> list[str]:
    """Per-row counts the request states, set on the generator they name; returns notes."""
    notes = []
    for m in _STATED.finditer(text):
        op, setting = STATED[(m.group(2) or m.group(3)).lower()]
        step = next((s for s in steps if s.op.name == op), None)
        if step is not None:
            value = _with(step, setting, int(m.group(1)))
            notes.append(f"stated in the request ('{m.group(0).strip()}'): {op}.{setting} = {value}")
    return notes


def size_generators(steps: list[Step], count: int | None, source_rows: int) -> list[str]:
    """Set a total count setting to ``count``, or else the first per-row count setting so that the
    source's rows yield ``count``; returns notes."""
    if not count or source_rows <= 0:
        return []
    for step in steps:
        if step.op.name in TOTAL:
            value = _with(step, TOTAL[step.op.name], count)
            return [f"target {count:,} rows: {step.op.name}.{TOTAL[step.op.name]} = {value}"]
    for step in steps:
        setting = PER_ROW.get(step.op.name)
        if setting is None or step.op.config_dict().get(setting, 1) > 1:  # stated in the request already
            continue
        per_row = _with(step, setting, math.ceil(count / source_rows))
        return [f"target {count:,} rows: {step.op.name}.{setting} = {per_row} per source row ({source_rows:,} rows)"]
    return []


@dataclass
class TargetCost:
    target: int
    yield_rows: float  # rows the whole source yields (dry run, scaled)
    calls: int  # LLM requests for the target
    prompt_tokens: int
    source_rows_needed: int | None  # when the source falls short of the target

    def note(self) -> str:
        short = (
            f"; the source yields about {self.yield_rows:,.0f}, so about {self.source_rows_needed:,} source rows "
            "are needed (add data or raise a per-row count setting)"
            if self.source_rows_needed
            else ""
        )
        return (
            f"target {self.target:,} rows: about {self.calls:,} LLM calls and {self.prompt_tokens:,} prompt "
            f"tokens{short}"
        )


def target_cost(report: PlanReport, count: int | None) -> TargetCost | None:
    """The dry run's full-source estimate scaled to ``count`` output rows (None without a count, or
    when the dry run could not say how many rows survive)."""
    if not count or not report.ok or not report.steps:
        return None
    source = report.source_rows or report.sample_rows
    first, last = report.steps[0], report.steps[-1]
    if not first.rows_in or last.rows_out is None:
        return None
    yield_rows = last.rows_out * source / first.rows_in
    calls = sum(s.est_calls for s in report.steps)
    tokens = sum(s.est_prompt_tokens for s in report.steps)
    if yield_rows <= 0:
        return TargetCost(count, 0.0, calls, tokens, None)
    factor = count / yield_rows
    needed = math.ceil(source * factor) if yield_rows < count else None
    return TargetCost(count, yield_rows, math.ceil(calls * factor), math.ceil(tokens * factor), needed)
