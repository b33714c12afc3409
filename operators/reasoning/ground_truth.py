"""DataFlow's one-step ground-truth operators, built from the extraction and verification used elsewhere.

After DataFlow's ReasoningAnswerGroundTruthFilter (extract the final answer from a solution, compare it
with the golden answer by math-verify or exact match, keep the rows that agree),
ReasoningAnswerPipelineRootFilter (fill a missing golden answer from the answer text and mark each row
``with_gt`` / ``without_gt`` so later steps can take the branch that fits; every row is kept) and
ReasoningPretrainFormatConvertGenerator (question and answer joined into one pretraining ``text``).
Extraction is ``answers.extract_sql`` and equivalence is ``AnswerVerifier``'s: the split steps and the
fused one cannot disagree.
"""

import dataclasses
from typing import Any, ClassVar, Literal

from operators.core.contract import DataflowKey, Kind, OpConfig, Operator, OperatorContext, quote_ident
from operators.core.registry import register
from operators.core.rowids import ID, PARENTS, derived_id_sql
from operators.reasoning.answers import extract_sql
from operators.reasoning.verify import AnswerVerifier


def _text(col: str) -> str:
    return f"nullif(trim(CAST({quote_ident(col)} AS VARCHAR)), '')"


class GroundTruthConfig(OpConfig):
    dataflow_keys: ClassVar[dict[str, DataflowKey]] = {
        "input_test_answer_key": DataflowKey("input_key"),
        "input_gt_answer_key": DataflowKey("reference_key"),
    }
    input_key: str = "generated_cot"
    reference_key: str = "golden_answer"
    compare_method: Literal["math_verify", "exact"] = "math_verify"
    timeout_s: int = 5


@register
class ReasoningAnswerGroundTruthFilter(Operator):
    r"""Keeps solutions whose extracted final answer (``\boxed{}`` first) equals the golden answer:
    by math-verify equivalence, or by exact string equality with ``compare_method: exact``."""

    kind: ClassVar[Kind] = Kind.FILTER
    Config = GroundTruthConfig
    domain = "reasoning"
    tags = ("math", "verify", "math-verify", "answer", "filter")

    def input_columns(self) -> list[str]:
        return [self.config.input_key, self.config.reference_key]

    def output_columns(self) -> list[str]:
        return []

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        c, con = self.config, ctx.con
        src = quote_ident(ctx.source or "")
        con.execute(
            f"CREATE VIEW __gt_in AS SELECT {ID}, {extract_sql(quote_ident(c.input_key))} AS __extracted, "
            f"{_text(c.reference_key)} AS __gold FROM {src}"
        )
        stats: dict[str, Any] = {}
        if c.compare_method == "exact":
            con.execute("CREATE VIEW __gt_checked AS SELECT *, trim(__extracted) = __gold AS __correct FROM __gt_in")
        else:
            verifier = AnswerVerifier(
                answer_key="__extracted",
                reference_key="__gold",
                fallback_reference_key=None,
                output_key="__correct",
                source_key="__ref_source",
                timeout_s=c.timeout_s,
            )
            stats = verifier.run(dataclasses.replace(ctx, source="__gt_in", target="__gt_checked"))
        joined = f"SELECT s.*, v.__extracted, v.__gold, v.__correct FROM {src} s JOIN __gt_checked v USING ({ID})"
        hidden = "EXCLUDE (__extracted, __gold, __correct)"
        con.execute(
            f"CREATE VIEW {quote_ident(ctx.target)} AS SELECT * {hidden} FROM ({joined}) WHERE __correct IS TRUE"
        )
        reason = (
            "'ReasoningAnswerGroundTruthFilter: ' || CASE WHEN __gold IS NULL THEN 'no golden answer' "
            "WHEN __extracted IS NULL THEN 'no final answer found in the solution' "
            "ELSE 'answer ' || __extracted || ' is not ' || __gold END"
        )
        con.execute(
            f"CREATE VIEW {quote_ident(ctx.rejected)} AS SELECT * {hidden}, ({reason})::VARCHAR AS _reason "
            f"FROM ({joined}) WHERE __correct IS NOT TRUE"
        )
        return {**stats, "kept": ctx.count(ctx.target)}


class RootConfig(OpConfig):
    dataflow_keys: ClassVar[dict[str, DataflowKey]] = {
        "input_answer_key": DataflowKey("input_key"),
        "input_gt_key": DataflowKey("reference_key"),
        "output_branch_key": DataflowKey("output_key"),
    }
    input_key: str = "output"
    reference_key: str = "golden_answer"
    output_key: str = "answer_branch"


@register
class ReasoningAnswerPipelineRootFilter(Operator):
    """Fills a missing golden answer from the answer text (the same extraction as AnswerExtractor) and
    marks each row ``with_gt`` or ``without_gt`` in ``output_key``; keeps every row, as DataFlow does
    (its storage is linear too: the branch is a column, and a ThresholdFilter-like step picks one)."""

    kind: ClassVar[Kind] = Kind.EVALUATE
    Config = RootConfig
    domain = "reasoning"
    tags = ("math", "answer", "route", "ground-truth")

    def input_columns(self) -> list[str]:
        return [self.config.input_key]

    def output_columns(self) -> list[str]:
        return [self.config.reference_key, self.config.output_key]

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        c = self.config
        columns = set(ctx.columns())
        gold = _text(c.reference_key) if c.reference_key in columns else "CAST(NULL AS VARCHAR)"
        filled = f"coalesce({gold}, {extract_sql(quote_ident(c.input_key))})"
        clash = [x for x in self.output_columns() if x in columns]
        excl = f" EXCLUDE ({', '.join(quote_ident(x) for x in clash)})" if clash else ""
        ctx.con.execute(
            f"CREATE VIEW {quote_ident(ctx.target)} AS SELECT *{excl}, __gt AS {quote_ident(c.reference_key)}, "
            f"CASE WHEN __gt IS NULL THEN 'without_gt' ELSE 'with_gt' END AS {quote_ident(c.output_key)} "
            f"FROM (SELECT *, {filled} AS __gt FROM {quote_ident(ctx.source or '')})"
        )
        with_gt = ctx.con.execute(
            f"SELECT count(*) FILTER (WHERE {quote_ident(c.output_key)} = 'with_gt'), count(*) "
            f"FROM {quote_ident(ctx.target)}"
        ).fetchall()[0]
        return {"with_gt": int(with_gt[0]), "without_gt": int(with_gt[1] - with_gt[0])}


class PretrainConfig(OpConfig):
    dataflow_keys: ClassVar[dict[str, DataflowKey]] = {
        "input_read_key_question": DataflowKey("question_key"),
        "input_read_key_answer": DataflowKey("answer_key"),
    }
    question_key: str = "question"
    answer_key: str = "answer"
    output_key: str = "text"


@register
class ReasoningPretrainFormatConvertGenerator(Operator):
    """SFT rows to pretraining text: ``question + newline + answer`` (a missing side is empty), one
    row out per row in, with only the text column (and the row's lineage), as DataFlow writes it."""

    kind: ClassVar[Kind] = Kind.GENERATE
    Config = PretrainConfig
    domain = "reasoning"
    tags = ("format", "pretrain", "sft")
    dataflow_note = "honours output_key (DataFlow always writes text)"

    def input_columns(self) -> list[str]:
        return [self.config.question_key, self.config.answer_key]

    def output_columns(self) -> list[str]:
        return [self.config.output_key]

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        c, q = self.config, quote_ident

        def side(col: str) -> str:
            return f"coalesce(CAST(s.{q(col)} AS VARCHAR), '')"

        ctx.con.execute(
            f"CREATE VIEW {q(ctx.target)} AS SELECT {derived_id_sql(f's.{ID}', self.fingerprint())} AS {ID}, "
            f"[s.{ID}] AS {PARENTS}, {side(c.question_key)} || chr(10) || {side(c.answer_key)} AS {q(c.output_key)} "
            f"FROM {q(ctx.source or '')} s ORDER BY s.__pos"
        )
        return {}
