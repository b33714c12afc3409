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


def _named_text_column(text: str, data: DataProfile) -> str | None:
    """A text column other than the main one that the clause names by its name ("titles", "headline")."""
    words = {_stem(w) for w in re.findall(r"[a-z0-9_]+", text.lower())}
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
