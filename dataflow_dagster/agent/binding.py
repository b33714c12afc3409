"""Column binding helpers: which column an operator setting means, and which score a gate reads.

Kept apart from the planner's ordering logic: these answer questions about one operator and the
columns at hand, whatever the plan around it.
"""

import re
import types
from typing import Any

from dataflow_dagster.agent.profile import DataProfile
from dataflow_dagster.agent.retrieval import _stem
from operators.core.contract import Kind, Operator


def _same_column(field_name: str, default: str, available: list[str]) -> str | None:
    """The available column an input setting means when its default column is absent: the field's
    own name ("code_key" -> code) or the last word of its default ("generated_code" -> code)."""
    for want in (field_name.removesuffix("_key").removeprefix("input_"), default.rsplit("_", 1)[-1]):
        if want in available and not want.startswith("_"):
            return want
    return None


def _accepts_none(annotation: Any) -> bool:
    return isinstance(annotation, types.UnionType) and type(None) in annotation.__args__


# words for a column that the data may name differently
COLUMN_WORDS: dict[str, tuple[str, ...]] = {
    "response": ("output", "answer", "completion"),
    "回答": ("output", "response", "answer"),
    "答案": ("answer", "output"),
    "问题": ("question", "problem"),
    "指令": ("instruction",),
    "标题": ("headline", "title"),
    "代码": ("code",),
}


def _named_text_column(text: str, data: DataProfile) -> str | None:
    """A text column other than the main one that the clause names by its name ("titles", "headline")."""
    words = {_stem(w) for w in re.findall(r"[a-z0-9_]+", text.lower())}
    for word, columns in COLUMN_WORDS.items():  # "responses" of an instruction/output table are its outputs
        if word in words or (not word.isascii() and word in text):
            words |= {c for c in columns if c in data.columns}
    named = [
        c
        for c, t in data.columns.items()
        if t == "VARCHAR" and c != data.text_column and not c.startswith("_") and _stem(c.lower()) in words
    ]
    return named[0] if len(named) == 1 else None


def _score_column(op: Operator) -> tuple[str, float] | None:
    """(column, mid-scale threshold) of an evaluator's numeric output, for an evaluate-then-filter gate."""
    if op.kind != Kind.EVALUATE or op.default_prompt is None or not op.default_prompt.output_schema:
        return None
    outputs = getattr(op, "outputs", lambda: {})()
    props = op.default_prompt.output_schema.get("properties", {})
    for prop, col in outputs.items():
        spec = props.get(prop, {})
        if spec.get("type") in ("integer", "number"):
            values = [v for v in spec.get("enum", []) if isinstance(v, int | float)]
            lo = min(values) if values else spec.get("minimum")
            hi = max(values) if values else spec.get("maximum")
            if lo is not None and hi is not None:
                return col, float(lo + (hi - lo) / 2)
    return None


def _threshold_unit(cls: type[Operator]) -> str | None:
    """The unit a count filter's single ``threshold`` counts, from its name (CharNumberFilter: chars),
    so that "anything under 40 characters" sets it; None for other operators."""
    m = re.match(r"(Char|Word|Sentence|Line|Token)(?:Number|Count)", cls.name)
    return m.group(1).lower() if m and "threshold" in cls.Config.model_fields else None
