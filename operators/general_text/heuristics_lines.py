# ruff: noqa: RUF001, RUF002  (the confusable characters are the point: DataFlow matches them)
"""Line-level filters: what share of a text's lines look like list items, truncations or script.

Lines follow DataFlow's ``split_paragraphs``: split on newline, whitespace-only lines dropped; a text
with no remaining line is rejected.
"""

from operators.core.registry import register
from operators.core.sql_ops import TextConfig
from operators.general_text.base import MetricFilter
from operators.general_text.textsql import PUNCT, WS_CLASS, lit, lstrip, nonblank_lines, rstrip, strip


class EllipsisConfig(TextConfig):
    threshold: float = 0.3


@register
class LineEndWithEllipsisFilter(MetricFilter):
    """Keeps texts where lines ending in '...' or '…' are < threshold of all lines (truncated scrapes)."""

    Config = EllipsisConfig

    def metrics_sql(self) -> dict[str, str]:
        lines = nonblank_lines(self.col())
        hits = f"len(list_filter({lines}, lambda l: ends_with({rstrip('l')}, '...') OR ends_with({rstrip('l')}, '…')))"
        return {"ellipsis_line_ratio": f"CASE WHEN len({lines}) = 0 THEN NULL ELSE {hits} / len({lines}) END"}

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
        lines = nonblank_lines(self.col())
        starts = " OR ".join(f"starts_with({lstrip('l')}, {lit(b)})" for b in BULLETS)
        hits = f"len(list_filter({lines}, lambda l: {starts}))"
        return {"bullet_line_ratio": f"CASE WHEN len({lines}) = 0 THEN NULL ELSE {hits} / len({lines}) END"}

    def keep_sql(self, m: dict[str, str]) -> str:
        return f"{m['bullet_line_ratio']} <= {float(self.config.threshold)!r}"


class JavascriptConfig(TextConfig):
    threshold: int = 3


@register
class LineWithJavascriptFilter(MetricFilter):
    """Keeps texts with <= 3 lines, or with at least ``threshold`` lines not mentioning 'javascript'.

    Lines are normalised first as DataFlow does (punctuation removed, lower-cased), so a line of
    punctuation only does not count as a line.
    """

    Config = JavascriptConfig

    def metrics_sql(self) -> dict[str, str]:
        no_punct = f"lower(regexp_replace(l, {lit(PUNCT)}, '', 'g'))"
        norm = f"list_transform(string_split({self.col()}, chr(10)), lambda l: {no_punct})"
        lines = f"list_filter({norm}, lambda l: {strip('l')} <> '')"
        js = f"len(list_filter({lines}, lambda l: contains(l, 'javascript')))"
        return {"lines": f"len({lines})", "javascript_lines": js}

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
        longest = f"list_max(list_transform({pieces}, lambda p: len(regexp_extract_all(p, '[^{WS_CLASS}]+'))))"
        return {"max_words_between_punct": f"coalesce({longest}, 0)"}

    def keep_sql(self, m: dict[str, str]) -> str:
        return f"{m['max_words_between_punct']} <= {int(self.config.threshold)}"
