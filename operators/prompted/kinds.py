"""DataFlow's PromptedGenerator / Evaluator / Filter / Refiner and FormatStrPromptedGenerator.

Same roles and config keys as DataFlow's classes; where DataFlow parses a free-text answer (the first
integer in 1..5, else 0), these ask for JSON under a schema and record an unparsable answer in
``__errors`` with a NULL score instead of a 0 that looks like a real score.
"""

from typing import Any, ClassVar

from pydantic import Field, model_validator

from operators.core.contract import CheckSpec, DataflowKey, Kind, OperatorContext, quote_ident, quote_literal
from operators.core.llm_ops import create_filter_views
from operators.core.registry import register
from operators.core.rowids import ID
from operators.prompted.base import PromptedConfig, PromptedOperator
from operators.prompted.keep_rule import compile_keep_rule

_JUDGE = "Please evaluate the quality of this data on a scale from 1 to 5."


@register
class PromptedGenerator(PromptedOperator):
    """Generates `output_key` (text, or JSON under `json_schema`) from `input_key` with a configured prompt.

    The user message is DataFlow's `user_prompt` + the input value, or `template` with {column} fields.
    Rows with an empty input are not sent and make no output row.
    """

    kind: ClassVar[Kind] = Kind.GENERATE
    tags = ("llm", "prompted", "no-code", "generate")
    dataflow_note = "rows with an empty input make no output row (DataFlow: an empty string)"


class FormatStrConfig(PromptedConfig):
    template: str | None = Field(
        "{input_text}", description="DataFlow f_str_template: {field} slots, other braces kept"
    )

    format_template: ClassVar[bool] = False  # DataFlow replaces only {field} of input_keys; other braces stay

    dataflow_keys: ClassVar[dict[str, DataflowKey]] = {
        "prompt_template": DataflowKey(
            "template",
            convert=lambda v: {"template": v.get("f_str_template", "{input_text}")} if isinstance(v, dict) else None,
            note="FormatStrPrompt(f_str_template=...) becomes `template`",
        ),
        "**": DataflowKey("input_keys", note="run(**input_keys): template field = column"),
    }

    @model_validator(mode="after")
    def _fields_in_template(self) -> "FormatStrConfig":
        absent = [f for f in self.input_keys if "{" + f + "}" not in (self.template or "")]
        if absent:
            raise ValueError(f"input_keys {absent} have no {{field}} slot in `template`; check the names")
        return self


@register
class FormatStrPromptedGenerator(PromptedGenerator):
    """Fills a template's {field} slots from columns (`input_keys`: field -> column) and generates `output_key`.

    Like DataFlow's FormatStrPrompt only the named fields are replaced, so JSON examples with braces in
    the template stay as written.
    """

    Config = FormatStrConfig
    dataflow_note = ""  # every row is sent, as in DataFlow

    def user_template(self) -> str:
        text = (self.config.template or "").replace("{", "{{").replace("}", "}}")
        for field in self.config.input_keys:
            text = text.replace("{{" + field + "}}", "{" + field + "}")
        return text

    def input_columns(self) -> list[str]:
        return list(dict.fromkeys(self.config.input_keys.values())) or [self.config.input_key]

    def request_where_sql(self) -> str | None:
        return None  # DataFlow sends every row; missing fields are the template's business


class ScoreConfig(PromptedConfig):
    output_key: str = "eval"
    system_prompt: str = _JUDGE
    score_min: int = Field(1, description="lowest score the answer may have")
    score_max: int = Field(5, description="highest score the answer may have")

    @model_validator(mode="after")
    def _range(self) -> "ScoreConfig":
        if self.score_min > self.score_max:
            raise ValueError(f"score_min {self.score_min} is above score_max {self.score_max}")
        return self


@register
class PromptedEvaluator(PromptedOperator):
    """Scores each row with a configured judge prompt into `output_key` (an integer in [score_min, score_max]).

    With `json_schema` + `output_columns` it writes those properties instead (labels, several scores).
    """

    kind: ClassVar[Kind] = Kind.EVALUATE
    Config = ScoreConfig
    tags = ("llm", "prompted", "no-code", "judge")
    dataflow_note = "score asked as JSON; an unparsable answer is NULL + __errors (DataFlow: 0)"

    def answer_schema(self) -> dict[str, Any] | None:
        if self.config.json_schema is not None:
            return self.config.json_schema
        lo, hi = self.config.score_min, self.config.score_max
        # an enum, not minimum/maximum: llama.cpp's grammar enforces enums but not numeric bounds
        score = (
            {"type": "integer", "enum": list(range(lo, hi + 1))}
            if hi - lo <= 100
            else {"type": "integer", "minimum": lo, "maximum": hi}
        )
        return {"type": "object", "properties": {"score": score}, "required": ["score"]}

    def outputs(self) -> dict[str, str]:
        if self.config.json_schema is None:
            return {"score": self.config.output_key}
        return super().outputs()


class FilterConfig(ScoreConfig):
    min_score: float = Field(1, description="keep rows whose score is >= this (DataFlow's min_score)")
    max_score: float = Field(5, description="keep rows whose score is <= this (DataFlow's max_score)")
    keep_when: str | None = Field(
        None, description="keep rule over the output columns instead of the score range, e.g. \"label = 'good'\""
    )

    @model_validator(mode="after")
    def _rule(self) -> "FilterConfig":
        if self.keep_when is not None:
            compile_keep_rule(self.keep_when)
        elif self.json_schema is not None:
            raise ValueError("with `json_schema` a PromptedFilter needs `keep_when` (the rule over its output columns)")
        return self


@register
class PromptedFilter(PromptedEvaluator):
    """Keeps rows whose judged score lies in [min_score, max_score], or that satisfy `keep_when`.

    Rows with an empty input or without a parsable answer are rejected; `_reason` says which.
    """

    kind: ClassVar[Kind] = Kind.FILTER
    Config = FilterConfig
    tags = ("llm", "prompted", "no-code", "judge", "filter")

    def keep_sql(self) -> str:
        if self.config.keep_when is not None:
            return compile_keep_rule(self.config.keep_when)[0]
        col = quote_ident(self.config.output_key)
        return f"{col} BETWEEN {float(self.config.min_score)!r} AND {float(self.config.max_score)!r}"

    def error_share_check(self) -> CheckSpec:
        sent = "count(*) + (SELECT count(*) FROM rejected)"  # kept rows are only part of what was sent
        return CheckSpec(
            name="error_share",
            metric_sql=f"coalesce((SELECT count(*) FROM errors)::DOUBLE / nullif({sent}, 0), 0.0)",
            op="<=",
            threshold=self.config.max_error_share,
            description="share of rows whose LLM call failed after all retries (see the step's __errors table)",
            parts=("errors", "rejected"),
        )

    def checks(self) -> list[CheckSpec]:
        return [self.error_share_check()]  # kept rows all parsed by construction

    def assemble(self, ctx: OperatorContext, cols: list[str]) -> None:
        src, out = quote_ident(ctx.source or ""), quote_ident(f"{ctx.target}__out")
        existing = set(ctx.columns())
        clash = [c for c in cols if c in existing]
        excl = f" EXCLUDE ({', '.join(quote_ident(c) for c in clash)})" if clash else ""
        new_cols = ", ".join(f"o.{quote_ident(c)}" for c in cols)
        answered = f"o.{ID} IS NOT NULL AS __answered"
        joined = f"SELECT s.*{excl}, {new_cols}, {answered} FROM {src} s LEFT JOIN {out} o USING ({ID})"
        keep = self.keep_sql()
        rule = quote_literal(self.config.keep_when or f"{self.config.min_score} <= score <= {self.config.max_score}")
        where = quote_literal(f"{self.name}: ")
        reason = (
            f"{where} || CASE WHEN NOT __answered THEN 'empty input or no parsable answer (see the __errors table)' "
            f"ELSE 'fails ' || {rule} END"
        )
        create_filter_views(ctx, joined, keep, reason, ["__answered"])

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        stats = super().run(ctx)
        stats["kept"] = ctx.count(ctx.target)
        return stats


class RefineConfig(PromptedConfig):
    output_key: str | None = Field(None, description="write the rewrite here instead of over `input_key`")


@register
class PromptedRefiner(PromptedOperator):
    """Rewrites `input_key` in place (DataFlow) or into `output_key` with a configured prompt.

    Rows with an empty input, or whose call failed (see `__errors`), keep their text.
    """

    kind: ClassVar[Kind] = Kind.REFINE
    Config = RefineConfig
    tags = ("llm", "prompted", "no-code", "rewrite")
    dataflow_note = "a failed call keeps the original text and is recorded in __errors"

    def outputs(self) -> dict[str, str]:
        if self.config.output_columns:
            return super().outputs()
        return {"": self.config.output_key or self.config.input_key}
