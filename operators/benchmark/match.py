"""BenchDatasetEvaluator and BenchDatasetEvaluatorQuestion: DataFlow's earlier benchmark scorers.

Both compare a model's answer (``input_test_answer_key``, default ``generated_cot``) with the
reference (``input_gt_answer_key``, default ``golden_answer``) and write ``answer_match_result``;
accuracy and counts are the step's stats. ``compare_method: match`` (DataFlow's default) extracts the
final answer (``\\boxed{}`` or the last expression) and checks mathematical equivalence with
math-verify, as DataFlow does. DataFlow's ``semantic`` method asks an LLM judge; it is refused here
with what to use instead (a prompted judge, or UnifiedBenchDatasetEvaluator with ``metric_type``).
"""

from typing import Any, ClassVar, Literal

from operators.core.batches import insert_rows
from operators.core.contract import Kind, OpConfig, Operator, OperatorContext, OperatorError, quote_ident
from operators.core.judge_filter import join_columns
from operators.core.registry import register
from operators.core.rowids import ID
from operators.reasoning.verify import answers_equivalent


class BenchMatchConfig(OpConfig):
    compare_method: Literal["match", "semantic"] = "match"
    input_test_answer_key: str = "generated_cot"
    input_gt_answer_key: str = "golden_answer"
    output_key: str = "answer_match_result"


class BenchMatchQuestionConfig(BenchMatchConfig):
    input_question_key: str | None = None  # read by DataFlow's semantic judge only


@register
class BenchDatasetEvaluator(Operator):
    """Marks each answer equivalent to its reference or not (math-verify) and reports accuracy."""

    kind: ClassVar[Kind] = Kind.EVALUATE
    Config = BenchMatchConfig
    domain = "core_text"
    tags = ("benchmark", "evaluation", "accuracy", "math_verify")

    def __init__(self, config: Any = None, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        if self.config.compare_method == "semantic":
            raise OperatorError(
                f"{self.name}: compare_method 'semantic' (an LLM judge) is not supported; use 'match', or judge "
                "with a PromptedEvaluator, or UnifiedBenchDatasetEvaluator with metric_type exact/contains"
            )

    def input_columns(self) -> list[str]:
        return [self.config.input_test_answer_key, self.config.input_gt_answer_key]

    def output_columns(self) -> list[str]:
        return [self.config.output_key]

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        c = self.config
        out = f"{ctx.target}__match"
        ctx.con.execute(f"CREATE TABLE {quote_ident(out)} ({ID} VARCHAR, result BOOLEAN)")
        pred, gold = quote_ident(c.input_test_answer_key), quote_ident(c.input_gt_answer_key)
        reader = ctx.con.cursor().sql(f"SELECT {ID}, {pred}, {gold} FROM {quote_ident(ctx.source or '')}")
        total, done = ctx.count(), 0
        for batch in reader.to_arrow_reader(256):
            ids, preds, golds = (batch.column(i).to_pylist() for i in range(3))
            results = [bool(answers_equivalent(g, p)) for p, g in zip(preds, golds, strict=True)]
            insert_rows(ctx, out, {ID: ids, "result": results})
            done += len(ids)
            ctx.progress(done, total)
        join_columns(ctx, out, {c.output_key: "o.result"})
        matched = ctx.con.execute(f"SELECT count(*) FILTER (WHERE result) FROM {quote_ident(out)}").fetchall()[0][0]
        return {"total_samples": done, "matched": int(matched), "accuracy": round(matched / done, 6) if done else None}


@register
class BenchDatasetEvaluatorQuestion(BenchDatasetEvaluator):
    """BenchDatasetEvaluator with DataFlow's question-aware signature (the question only matters to
    DataFlow's semantic judge, which is not supported)."""

    Config = BenchMatchQuestionConfig
