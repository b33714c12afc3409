"""Prompted score judges: DataFlow's model-based scorers as LLM judges with a bounded answer.

One base for the SFT selection scorers (Alpagasus, Deita, Instag, Treeinstruct, RM) and the
pretraining quality scorers (FineWeb-Edu, Qurating, Textbook, DebertaV3, PairQual, Meta). Each
evaluator writes its score column(s) under DataFlow's names; each filter is the evaluator plus
DataFlow's default keep range, with the score kept on kept and rejected rows. Answers are integer
enums or bounded lists, so a small model cannot ramble; a failed answer is NULL plus an ``__errors``
row, and the filter rejects it (never keeps an unjudged row).

Where DataFlow runs a judge on its ``llm_serving`` (Alpagasus, Treeinstruct, Meta) the semantics
are the same. Where it loads a specific fine-tuned model (Deita scorers, the reward model, the
FineWeb-Edu/DeBERTa/Textbook/PairQual classifiers, QuRater) the prompted judge approximates it with
the same scale; ``base_url`` + ``model`` send the prompt to a user's own OpenAI-compatible endpoint
(a stronger judge) instead of the pipeline's model. Each class docstring says which case it is.
"""

import dataclasses
from typing import Any, ClassVar

from operators.core.contract import CheckSpec, Kind, OperatorContext, quote_ident
from operators.core.judge_filter import assemble_keep
from operators.core.llm import LLMResponse
from operators.core.llm_ops import LLMConfig, LLMOperator
from operators.core.prompt import PromptTemplate
from operators.scoring.chat_endpoint import EndpointChat
from operators.scoring.score_ops import range_sql
from operators.scoring.source import EndpointConfig


def judge_prompt(name: str, template: str, props: dict[str, dict[str, Any]]) -> PromptTemplate:
    return PromptTemplate(
        name=name,
        system="You are a strict data-quality judge. Reply in JSON.",
        template=template,
        output_schema={"type": "object", "properties": props, "required": list(props)},
    )


def int_scale(lo: int, hi: int) -> dict[str, Any]:
    return {"type": "integer", "enum": list(range(lo, hi + 1))}


def short_list(lo: int, hi: int) -> dict[str, Any]:
    """A bounded list of short phrases (tags, tree nodes)."""
    item = {"type": "string", "minLength": 1, "maxLength": 30}
    return {"type": "array", "minItems": lo, "maxItems": hi, "items": item}


class JudgeConfig(LLMConfig, EndpointConfig):
    max_tokens: int = 24


class ScoreJudge(LLMOperator):
    """Subclasses set ``default_prompt``, ``Config`` and ``fields`` (prompt field -> config key)."""

    kind: ClassVar[Kind] = Kind.EVALUATE
    fields: ClassVar[dict[str, str]] = {}  # a key set to None (e.g. no ``input`` column) binds ""

    def input_columns(self) -> list[str]:
        return [getattr(self.config, k) for k in self.fields.values() if getattr(self.config, k)]

    def outputs(self) -> dict[str, str]:
        return {"score": self.config.output_key}  # type: ignore[attr-defined]

    def prompt_values(self, row: dict[str, Any], prompt: PromptTemplate) -> dict[str, Any]:
        out = {}
        for f, k in self.fields.items():
            col = getattr(self.config, k)
            out[f] = (row.get(col) if col else None) or ""
        return out

    def transform(self, values: dict[str, Any]) -> dict[str, Any]:
        """Turn the parsed answer into the stored score(s) (e.g. a tag list into its length)."""
        return values

    def parse(self, resp: LLMResponse, schema: dict[str, Any] | None) -> dict[str, Any]:
        return self.transform(super().parse(resp, schema))

    def _column_types(self, schema: dict[str, Any] | None) -> dict[str, str]:
        return {c: "DOUBLE" for c in self.outputs().values()}

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        if self.config.base_url:  # type: ignore[attr-defined]
            ctx = dataclasses.replace(ctx, llm=EndpointChat(self.config))  # type: ignore[arg-type]
        return super().run(ctx)


class RangeJudge(ScoreJudge):
    """The filter form: keeps rows whose every score lies in its [min, max] range."""

    kind: ClassVar[Kind] = Kind.FILTER

    def ranges(self) -> dict[str, tuple[float | None, float | None]]:
        c = self.config
        return {c.output_key: (c.min_score, c.max_score)}  # type: ignore[attr-defined]

    def keep_sql(self, expr: str, col: str) -> str:
        lo, hi = self.ranges()[col]
        return range_sql(expr, lo, hi)

    def checks(self) -> list[CheckSpec]:
        return [self.error_share_check()]

    def assemble(self, ctx: OperatorContext, cols: list[str]) -> None:
        keep = " AND ".join(self.keep_sql(f"o.{quote_ident(c)}", c) for c in self.ranges())
        why = " || ', ' || ".join(f"'{c}=' || coalesce(o.{quote_ident(c)}::VARCHAR, 'NULL')" for c in self.ranges())
        columns = {c: f"o.{quote_ident(c)}" for c in cols}
        assemble_keep(ctx, self.name, keep, columns, f"{why} || ' outside the keep range'")
