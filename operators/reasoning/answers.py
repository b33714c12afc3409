r"""Answer extraction and normalisation as SQL, plus the format and length filters.

After DataFlow's AnswerExtractor / StringCleaner / UnitTextManager: the final answer is the last
``\boxed{...}`` (two levels of nested braces, enough for ``\boxed{\frac{\sqrt{3}}{2}}``), else the
model's structured final answer, else a trailing "the answer is ..." phrase, else the last number.
Normalisation makes answers comparable as strings: no ``$``, ``\left``/``\right``, spacing macros,
``\text{units}``, degree signs, thousands separators, ``x =`` prefixes or trailing full stops; this
string form is the cheap first test of equality and the key of the majority vote. Everything is
RE2 regular expressions inside DuckDB, so extraction runs vectorised over the whole table.
"""

from typing import ClassVar

from operators.core.contract import Kind, OpConfig, quote_ident
from operators.core.registry import register
from operators.core.sql_ops import SQLEvaluator, SQLFilter

BOXED_RE = r"\\(?:boxed|fbox)\s*\{((?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*)\}"
ANSWER_IS_RE = r"(?i)(?:final answer|the answer|answer)\s*(?:is|:|=)\s*:?\s*\$?([^\n$]{1,60}?)\$?\s*(?:\.\s*)?$"
NUMBER_RE = r"-?\d+(?:,\d{3})*(?:\.\d+)?(?:/\d+)?"
UNIT_WORDS = (
    "cm|mm|km|m|kg|mg|g|s|sec|seconds?|minutes?|hours?|days?|weeks?|years?|dollars?|cents?|units?|"
    "degrees?|meters?|metres?|inches|inch|feet|foot|ft|miles?|mph|liters?|litres?|ml|l|square units"
)


def sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def extract_sql(text: str, fallback: str | None = None) -> str:
    """SQL expression: the final answer in column expression ``text`` (NULL when none is found)."""
    boxed = f"regexp_extract_all({text}, {sql_str(BOXED_RE)}, 1)[-1]"
    parts = [f"nullif(trim({boxed}), '')"]
    if fallback:
        parts.append(f"nullif(trim(regexp_extract_all({fallback}, {sql_str(BOXED_RE)}, 1)[-1]), '')")
        parts.append(f"nullif(trim({fallback}), '')")
    parts.append(f"nullif(trim(regexp_extract({text}, {sql_str(ANSWER_IS_RE)}, 1)), '')")
    parts.append(f"regexp_extract_all({text}, {sql_str(NUMBER_RE)}, 0)[-1]")
    return f"coalesce({', '.join(parts)})"


def normalize_sql(expr: str) -> str:
    """SQL expression: the string form of an answer used for equality and votes."""
    steps = [
        (r"^\s*\$+|\$+\s*$", ""),
        (r"\\boxed\s*\{(.*)\}", r"\1"),
        (r"\\left|\\right|\\!|\\,|\\;|\\:|\\ |\\displaystyle", ""),
        (r"\\[dt]frac", r"\\frac"),
        (r"\\(?:text|mbox|mathrm)\s*\{\s*(?:" + UNIT_WORDS + r")?\s*\}", ""),
        (r"\^\s*\{?\\circ\}?|°", ""),
        (r"\s+(?:" + UNIT_WORDS + r")\.?$", ""),
        (r"^[a-zA-Z]\s*=\s*", ""),
        (r"(\d),(\d{3})", r"\1\2"),
        (r"\\%", "%"),
        (r"\s+", ""),
        (r"\.$", ""),
    ]
    out = f"trim(CAST({expr} AS VARCHAR))"
    for pat, rep in steps:
        out = f"regexp_replace({out}, {sql_str(pat)}, {sql_str(rep)}, 'g')"
    return f"nullif(lower({out}), '')"


class ExtractConfig(OpConfig):
    input_key: str = "generated_cot"
    fallback_key: str | None = "model_answer"  # the model's structured final answer, if it gave one
    output_key: str = "extracted_answer"
    normalized_key: str = "normalized_answer"


@register
class AnswerExtractor(SQLEvaluator):
    r"""Extracts the final answer from a solution (``\boxed{}`` first) and its normalised form."""

    Config = ExtractConfig
    domain = "reasoning"
    tags = ("math", "answer", "extract", "normalize")

    def input_columns(self) -> list[str]:
        c = self.config
        return [c.input_key, *([c.fallback_key] if c.fallback_key else [])]

    def scores_sql(self) -> dict[str, str]:
        c = self.config
        fb = quote_ident(c.fallback_key) if c.fallback_key else None
        ans = extract_sql(quote_ident(c.input_key), fb)
        return {c.output_key: ans, c.normalized_key: normalize_sql(ans)}


class FormatConfig(OpConfig):
    input_key: str = "generated_cot"
    answer_key: str = "extracted_answer"
    require_boxed: bool = False  # DataFlow's formatter demands \boxed{}; structured answers do not need it


@register
class AnswerFormatFilter(SQLFilter):
    r"""Drops solutions without a usable final answer (or, if ``require_boxed``, without ``\boxed{}``)."""

    kind: ClassVar[Kind] = Kind.FILTER
    Config = FormatConfig
    domain = "reasoning"
    tags = ("math", "answer", "format", "filter")

    def input_columns(self) -> list[str]:
        return [self.config.input_key, self.config.answer_key]

    def keep_sql(self) -> str:
        ok = f"nullif(trim({quote_ident(self.config.answer_key)}), '') IS NOT NULL"
        if self.config.require_boxed:
            ok += f" AND regexp_matches({quote_ident(self.config.input_key)}, {sql_str(BOXED_RE)})"
        return ok

    def reason_sql(self) -> str:
        return "'AnswerFormatFilter: ' || " + (
            "'no \\boxed{} answer'" if self.config.require_boxed else "'no final answer found'"
        )


class LengthConfig(OpConfig):
    input_key: str = "instruction"
    min_chars: int = 10
    max_chars: int = 4000
    min_words: int = 3
    max_words: int = 1000


@register
class ReasoningLengthFilter(SQLFilter):
    """Keeps texts whose character and word counts lie within bounds (questions or solutions)."""

    kind: ClassVar[Kind] = Kind.FILTER
    Config = LengthConfig
    domain = "reasoning"
    tags = ("math", "length", "filter", "heuristic")

    def _words(self) -> str:
        return f"len(list_filter(regexp_split_to_array({self.col()}, '\\s+'), lambda w: w <> ''))"

    def keep_sql(self) -> str:
        c = self.config
        return (
            f"length({self.col()}) BETWEEN {int(c.min_chars)} AND {int(c.max_chars)} "
            f"AND {self._words()} BETWEEN {int(c.min_words)} AND {int(c.max_words)}"
        )

    def reason_sql(self) -> str:
        return (
            f"'ReasoningLengthFilter: chars=' || coalesce(length({self.col()}), 0)::VARCHAR || "
            f"', words=' || coalesce({self._words()}, 0)::VARCHAR"
        )
