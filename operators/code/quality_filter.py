"""DataFlow's CodeQualityScoreFilter: the code-quality judge and the keep range in one step."""

from typing import Any, ClassVar

from operators.code.generators import CodeQualityEvaluator, QualityConfig
from operators.core.contract import CheckSpec, DataflowKey, Kind, OperatorContext, quote_ident
from operators.core.dataflow_names import rename
from operators.core.judge_filter import assemble_keep
from operators.core.registry import register
from operators.scoring.score_ops import range_sql


class CodeQualityFilterConfig(QualityConfig):
    score_key: str = "quality_score"
    feedback_key: str = "quality_feedback"
    output_key: str = "quality_score_filter_label"  # DataFlow's label column: 1 on kept rows, 0 on rejected
    min_score: float = 7
    max_score: float = 10
    dataflow_keys: ClassVar[dict[str, DataflowKey]] = {
        "input_instruction_key": rename("input_key"),
        "input_code_key": rename("code_key"),
        "output_score_key": rename("score_key"),
        "output_feedback_key": rename("feedback_key"),
    }


@register
class CodeQualityScoreFilter(CodeQualityEvaluator):
    """Scores code against its instruction 1-10 (CodeQualityEvaluator's prompt) and keeps rows whose
    score lies in [min_score, max_score]; score, feedback and the 0/1 label are on kept and rejected rows."""

    kind: ClassVar[Kind] = Kind.FILTER
    Config = CodeQualityFilterConfig
    tags = ("llm", "code", "judge", "quality", "filter")
    dataflow_fidelity = "approximated"
    dataflow_note = (
        "a row whose answer cannot be parsed is rejected and recorded in __errors (DataFlow keeps it with score 0)"
    )

    def outputs(self) -> dict[str, str]:
        return {"score": self.config.score_key, "feedback": self.config.feedback_key}

    def output_columns(self) -> list[str]:
        return [*self.outputs().values(), self.config.output_key]

    def checks(self) -> list[CheckSpec]:
        return [self.error_share_check()]

    def assemble(self, ctx: OperatorContext, cols: list[str]) -> None:
        c = self.config
        score = f"o.{quote_ident(c.score_key)}"
        keep = range_sql(score, c.min_score, c.max_score)
        columns: dict[str, Any] = {col: f"o.{quote_ident(col)}" for col in cols}
        columns[c.output_key] = f"CASE WHEN coalesce(({keep}), false) THEN 1 ELSE 0 END"
        why = f"'{c.score_key}=' || coalesce({score}::VARCHAR, 'NULL') || ' outside [{c.min_score}, {c.max_score}]'"
        assemble_keep(ctx, self.name, keep, columns, why)
