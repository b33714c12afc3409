"""Rejects QA pairs whose question gives its answer away (a weak model's favourite degenerate output).

A 135M model asked for a question and its answer often writes the answer into the question, or the
same text twice ("Who wrote Hamlet?" -> "Who wrote Hamlet?"); a document-grounded re-answer then
copies it too, and the pair scores F1 = 1.0 against itself. Such a pair teaches nothing, so it is
dropped before any score can "verify" it.
"""

from typing import ClassVar

from operators.core.contract import Kind, OpConfig, OperatorContext, quote_ident, quote_literal
from operators.core.registry import register
from operators.core.sql_ops import SQLFilter
from operators.rag.metrics import MACROS


class EchoConfig(OpConfig):
    question_key: str = "question"
    answer_keys: list[str] = ["answer"]  # the answer and any reference answers (e.g. golden_doc_answer)


@register
class QAEchoFilter(SQLFilter):
    """Drops a row when, for any of ``answer_keys``, the answer normalises (SQuAD rules: case,
    punctuation, articles) to the question itself, or every token of the answer already appears in the
    question (yes/no answers excepted). Vectorised: DuckDB list functions over the whole column."""

    kind: ClassVar[Kind] = Kind.FILTER
    Config = EchoConfig
    domain = "rag"
    tags = ("qa", "quality", "degenerate")

    def input_columns(self) -> list[str]:
        return [self.config.question_key, *self.config.answer_keys]

    def prepare(self, ctx: OperatorContext) -> None:
        for m in MACROS:
            ctx.con.execute(m)

    def _echo(self, answer_key: str) -> str:
        q, a = quote_ident(self.config.question_key), quote_ident(answer_key)
        qn, an = f"qa_norm({q}::VARCHAR)", f"qa_norm({a}::VARCHAR)"
        return (
            f"({an} = {qn} OR (len(qa_tokens({an})) > 0 AND {an} NOT IN ('yes', 'no') "
            f"AND len(list_filter(qa_tokens({an}), lambda w: NOT list_contains(qa_tokens({qn}), w))) = 0))"
        )

    def keep_sql(self) -> str:
        echoes = " OR ".join(f"coalesce({self._echo(k)}, false)" for k in self.config.answer_keys)
        return f"{quote_ident(self.config.question_key)} IS NOT NULL AND NOT ({echoes})"

    def reason_sql(self) -> str:
        parts = ", ".join(
            f"CASE WHEN coalesce({self._echo(k)}, false) THEN {quote_literal(k)} END" for k in self.config.answer_keys
        )
        return (
            f"{quote_literal(self.name + ': the question contains its answer (')} || "
            f"coalesce(concat_ws(', ', {parts}), 'no question') || ')'"
        )
