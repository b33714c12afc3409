"""Answer-matching evaluators (SQuAD F1 and exact match) as DuckDB macros over whole columns.

Normalisation follows SQuAD / DataFlow's AgenticRAGQAF1Evaluator exactly: lower-case, drop ASCII
punctuation (``string.punctuation``), drop the articles a/an/the at word boundaries, split on
whitespace (Python ``str.split()``'s whitespace set). F1 counts shared tokens with multiplicity
(``Counter & Counter``); when either side normalises to yes/no/noanswer the pair scores 0 unless
both are equal. With several golden answers (a list column) the best score counts. The regexes are
RE2 spellings of Python's: ``\\b`` is emulated with Unicode letter/number classes, applied twice so
adjacent articles ("a the") are both removed, as Python's zero-width ``\\b`` does.
"""

import re
import string
from typing import Any, ClassVar

from operators.core.contract import CheckSpec, Kind, OpConfig, OperatorContext, quote_ident, quote_literal
from operators.core.registry import register
from operators.core.sql_ops import SQLEvaluator

_PUNCT = quote_literal("[" + re.escape(string.punctuation) + "]")
_ARTICLE = quote_literal(r"(^|[^\pL\pN_])(a|an|the)([^\pL\pN_]|$)")
_WS = quote_literal(
    r"[\t\n\x0b\x0c\r\x1c-\x1f \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}"
    r"\x{202f}\x{205f}\x{3000}]+"
)

MACROS = [
    f"""CREATE OR REPLACE TEMP MACRO qa_norm(s) AS trim(regexp_replace(regexp_replace(regexp_replace(
        regexp_replace(lower(s), {_PUNCT}, '', 'g'), {_ARTICLE}, '\\1 \\3', 'g'), {_ARTICLE}, '\\1 \\3', 'g'),
        {_WS}, ' ', 'g'), ' ')""",
    "CREATE OR REPLACE TEMP MACRO qa_tokens(n) AS list_filter(string_split(n, ' '), lambda w: w <> '')",
    """CREATE OR REPLACE TEMP MACRO qa_same(p, g) AS coalesce(list_sum(list_transform(
        list_distinct(list_intersect(p, g)),
        lambda t: least(len(list_filter(p, lambda x: x = t)), len(list_filter(g, lambda x: x = t))))), 0)""",
    """CREATE OR REPLACE TEMP MACRO qa_f1_norm(pn, gn) AS CASE
        WHEN pn IS NULL OR gn IS NULL THEN 0.0
        WHEN (pn IN ('yes', 'no', 'noanswer') OR gn IN ('yes', 'no', 'noanswer')) AND pn <> gn THEN 0.0
        WHEN qa_same(qa_tokens(pn), qa_tokens(gn)) = 0 THEN 0.0
        ELSE 2.0 * qa_same(qa_tokens(pn), qa_tokens(gn)) / (len(qa_tokens(pn)) + len(qa_tokens(gn))) END""",
    """CREATE OR REPLACE TEMP MACRO qa_f1(pred, golds) AS coalesce(list_max(list_transform(golds,
        lambda g: qa_f1_norm(qa_norm(pred), qa_norm(g)))), 0.0)""",
    """CREATE OR REPLACE TEMP MACRO qa_em(pred, golds) AS coalesce(list_max(list_transform(golds,
        lambda g: (pred IS NOT NULL AND g IS NOT NULL AND qa_norm(pred) = qa_norm(g))::INT)), 0)::DOUBLE""",
]


class AnswerMatchConfig(OpConfig):
    prediction_key: str = "refined_answer"
    golden_key: str = "golden_doc_answer"  # VARCHAR or VARCHAR[] (several acceptable answers)
    output_key: str = "F1Score"
    min_mean: float = 0.0  # the blocking check: mean score over the table must reach this


class _AnswerMatch(SQLEvaluator):
    Config = AnswerMatchConfig
    domain = "rag"
    macro: ClassVar[str] = ""

    def input_columns(self) -> list[str]:
        return [self.config.prediction_key, self.config.golden_key]

    def scores_sql(self) -> dict[str, str]:
        golds = getattr(self, "_golds_sql", f"[{quote_ident(self.config.golden_key)}]")
        return {self.config.output_key: f"{self.macro}({quote_ident(self.config.prediction_key)}, {golds})"}

    def checks(self) -> list[CheckSpec]:
        col = quote_ident(self.config.output_key)
        # an empty table passes: row counts report that, this gate judges the scores that exist
        return [
            CheckSpec(
                f"mean_{self.config.output_key.lower()}",
                f"coalesce(avg(t.{col}), {float(self.config.min_mean)!r})",
                ">=",
                self.config.min_mean,
                f"mean {self.config.output_key} over the table",
            )
        ]

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        for m in MACROS:
            ctx.con.execute(m)
        types = dict(
            ctx.con.execute(
                f"SELECT column_name, column_type FROM (DESCRIBE {quote_ident(ctx.source or '')})"
            ).fetchall()
        )
        g = quote_ident(self.config.golden_key)
        is_list = str(types.get(self.config.golden_key, "")).endswith("[]")
        self._golds_sql = f"{g}::VARCHAR[]" if is_list else f"[{g}::VARCHAR]"
        return super().run(ctx)


@register
class QAF1Evaluator(_AnswerMatch):
    """SQuAD token F1 between a predicted answer and one or more golden answers (best golden counts)."""

    kind: ClassVar[Kind] = Kind.EVALUATE
    tags = ("qa", "f1", "score", "rag")
    macro = "qa_f1"


class EMConfig(AnswerMatchConfig):
    output_key: str = "EMScore"


@register
class QAExactMatchEvaluator(_AnswerMatch):
    """SQuAD exact match (1.0/0.0) after normalisation, against one or more golden answers."""

    kind: ClassVar[Kind] = Kind.EVALUATE
    Config = EMConfig
    tags = ("qa", "exact-match", "score", "rag")
    macro = "qa_em"
