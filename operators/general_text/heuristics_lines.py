# ruff: noqa: RUF001, RUF002  (the confusable characters are the point: DataFlow matches them)
"""Line-level filters: what share of a text's lines look like list items, truncations or script.

Lines follow DataFlow's ``split_paragraphs``: split on newline, whitespace-only lines dropped; a text
with no remaining line is rejected.
"""

from operators.core.registry import register
from operators.core.sql_ops import TextConfig
from operators.general_text import native
from operators.general_text.base import MetricFilter
from operators.general_text.textsql import NOT_WS, PUNCT, WS_CLASS, guarded, lit, words, zero_ratio

# Whitespace other than newline: what lstrip()/rstrip() remove inside one line.
LINE_WS = f"[{WS_CLASS.replace(chr(92) + 'n', '')}]"


def line_count(col: str) -> str:
    """Lines (split on newline) that contain a non-whitespace character."""
    return f"len(regexp_extract_all({col}, {lit('(?m)^[^' + chr(92) + 'n]*' + NOT_WS)}))"


def ratio(hits: str, lines: str) -> str:
    return f"{hits} / nullif({lines}, 0)"


class EllipsisConfig(TextConfig):
    threshold: float = 0.3


@register
class LineEndWithEllipsisFilter(MetricFilter):
    """Keeps texts where lines ending in '...' or '…' are < threshold of all lines (truncated scrapes)."""

    Config = EllipsisConfig

    def metrics_sql(self) -> dict[str, str]:
        c = self.col()
        hits = f"len(regexp_extract_all({c}, {lit('(?m)(?:[.][.][.]|…)' + LINE_WS + '*$')}))"
        # without '...' or '…' the ratio is 0 wherever there is a non-blank line, i.e. a non-blank
        # character; both regex passes run only on rows that contain one
        sql = guarded(c, ("...", "…"), ratio(hits, line_count(c)), zero_ratio(c))
        return {"ellipsis_line_ratio": native.call("ellipsis_ratio", c) or sql}

    def keep_sql(self, m: dict[str, str]) -> str:
        return f"{m['ellipsis_line_ratio']} < {float(self.config.threshold)!r}"


class BulletConfig(TextConfig):
    threshold: float = 0.9


BULLETS = ("\u2022", "\u2023", "\u25b6", "\u25c0", "\u25e6", "\u25a0", "\u25a1", "\u25aa", "\u25ab", "\u2013")


@register
class LineStartWithBulletpointFilter(MetricFilter):
    """Keeps texts where lines starting with a bullet (•‣▶◀◦■□▪▫–) are <= threshold of all lines."""

    Config = BulletConfig

    def metrics_sql(self) -> dict[str, str]:
        pattern = "(?m)^" + LINE_WS + "*[" + "".join(BULLETS) + "]"
        hits = f"len(regexp_extract_all({self.col()}, {lit(pattern)}))"
        return {"bullet_line_ratio": ratio(hits, line_count(self.col()))}

    def keep_sql(self, m: dict[str, str]) -> str:
        return f"{m['bullet_line_ratio']} <= {float(self.config.threshold)!r}"


class JavascriptConfig(TextConfig):
    threshold: int = 3


@register
class LineWithJavascriptFilter(MetricFilter):
    """Keeps texts with <= 3 lines, or with at least ``threshold`` lines not mentioning 'javascript'.

    Lines are normalised first as DataFlow does (punctuation removed, lower-cased), so a line of
    punctuation only is not a line and 'java-script' mentions javascript.
    """

    Config = JavascriptConfig

    def metrics_sql(self) -> dict[str, str]:
        low = f"lower({self.col()})"
        lines = f"len(regexp_extract_all({low}, {lit('(?m)^[^' + chr(92) + 'n]*[^' + WS_CLASS + PUNCT[1:-1] + ']')}))"
        spelled = (PUNCT + "*").join("javascript")
        js = f"len(regexp_extract_all({low}, {lit('(?m)^[^' + chr(92) + 'n]*' + spelled)}))"
        return {"lines": lines, "javascript_lines": js}

    def keep_sql(self, m: dict[str, str]) -> str:
        n, js = m["lines"], m["javascript_lines"]
        return f"{n} > 0 AND ({n} <= 3 OR {n} - {js} >= {int(self.config.threshold)})"


class NoPuncConfig(TextConfig):
    threshold: int = 112


@register
class NoPuncFilter(MetricFilter):
    """Keeps texts whose longest unpunctuated stretch has <= threshold words (drops run-on dumps).

    Stretches are separated by newlines and by any of ``–.!?,;•/|…``.
    """

    Config = NoPuncConfig

    def metrics_sql(self) -> dict[str, str]:
        pieces = f"regexp_split_to_array({self.col()}, '[\\n–.!?,;•/|…]')"
        longest = f"list_max(list_transform({pieces}, lambda p: len({words('p')})))"
        return {"max_words_between_punct": f"coalesce({longest}, 0)"}

    def keep_sql(self, m: dict[str, str]) -> str:
        return f"{m['max_words_between_punct']} <= {int(self.config.threshold)}"
