# ruff: noqa: RUF001, RUF002  (the confusable characters are the point: DataFlow matches them)
"""Content filters: markup residue, identity documents, watermarks, placeholders, stop and block words."""

from typing import ClassVar, Literal

from operators.core.contract import DataflowKey
from operators.core.dataflow_names import WHITESPACE_WORDS
from operators.core.registry import register
from operators.core.sql_ops import TextConfig
from operators.general_text import native
from operators.general_text.base import MetricFilter
from operators.general_text.textsql import WS, count_sub, lit, word_count
from operators.general_text.wordlists import count_lower_tokens_in, count_substrings_in, load_list

HTML_ENTITIES = (
    "nbsp",
    "lt",
    "gt",
    "amp",
    "quot",
    "apos",
    "hellip",
    "ndash",
    "mdash",
    "lsquo",
    "rsquo",
    "ldquo",
    "rdquo",
)


@register
class HtmlEntityFilter(MetricFilter):
    """Drops texts containing an HTML entity name after '&' or fullwidth '＆' (e.g. '&nbsp', '＆amp；')."""

    tags = ("heuristic", "html", "pretrain")

    def metrics_sql(self) -> dict[str, str]:
        pattern = "[&＆](?:" + "|".join(HTML_ENTITIES) + ")"
        sql = f"regexp_matches({self.col()}, {lit(pattern)})::INT"
        return {"html_entity": native.call("html_entity", self.col()) or sql}

    def keep_sql(self, m: dict[str, str]) -> str:
        return f"{m['html_entity']} = 0"


class IDCardConfig(TextConfig):
    threshold: int = 3


def _s(n: int = 10) -> str:
    return f"{WS}{{0,{n}}}"


ID_TERMS = (
    f"(?i)(?:身{_s()}份|id{_s()}number{_s()}|identification|identity|{_s()}ID{_s()}No{_s()}|id{_s()}card{_s()}"
    f"|NRIC{_s()}number{_s()}|IC{_s()}number{_s()}|resident{_s()}registration{_s()}|I.D.{_s()}Number{_s()})"
)


@register
class IDCardFilter(MetricFilter):
    """Drops texts mentioning identity-document terms at least ``threshold`` times."""

    Config = IDCardConfig
    tags = ("heuristic", "pii", "pretrain")

    def metrics_sql(self) -> dict[str, str]:
        return {"id_terms": f"len(regexp_extract_all({self.col()}, {lit(ID_TERMS)}))"}

    def keep_sql(self, m: dict[str, str]) -> str:
        return f"{m['id_terms']} < {int(self.config.threshold)}"


SPECIAL_CHARACTERS = (
    r"u200e|&#247;|\? :|[�□]|\{\/U\}"
    r"|U\+26[0-F][0-D]|U\+273[3-4]|U\+1F[3-6][0-4][0-F]|U\+1F6[8-F][0-F]"
)


@register
class SpecialCharacterFilter(MetricFilter):
    """Drops texts with mojibake and escaped-unicode residue ('�', '□', 'U+1F600', 'u200e', ...)."""

    def metrics_sql(self) -> dict[str, str]:
        return {"special_character": f"regexp_matches({self.col()}, {lit(SPECIAL_CHARACTERS)})::INT"}

    def keep_sql(self, m: dict[str, str]) -> str:
        return f"{m['special_character']} = 0"


class WatermarkConfig(TextConfig):
    watermarks: list[str] = ["Copyright", "Watermark", "Confidential"]


@register
class WatermarkFilter(MetricFilter):
    """Drops texts matching any watermark pattern (case-sensitive regular expressions, RE2 syntax)."""

    Config = WatermarkConfig

    def metrics_sql(self) -> dict[str, str]:
        pattern = "|".join(self.config.watermarks)
        return {"watermark": f"regexp_matches({self.col()}, {lit(pattern)})::INT"}

    def keep_sql(self, m: dict[str, str]) -> str:
        return f"{m['watermark']} = 0"


class LoremConfig(TextConfig):
    threshold: float = 3e-8


@register
class LoremIpsumFilter(MetricFilter):
    """Drops placeholder text: 'lorem ipsum' occurrences / characters must be <= threshold."""

    Config = LoremConfig

    def metrics_sql(self) -> dict[str, str]:
        low = f"lower({self.col()})"
        return {"lorem_ratio": f"{count_sub(low, 'lorem ipsum')} / greatest(length({low}), 1)"}

    def keep_sql(self, m: dict[str, str]) -> str:
        return f"{m['lorem_ratio']} <= {float(self.config.threshold)!r}"


class StopWordConfig(TextConfig):
    dataflow_keys: ClassVar[dict[str, DataflowKey]] = WHITESPACE_WORDS
    threshold: float = 0.3
    path: str | None = None  # one stop word a line; default: NLTK's English list (bundled)


@register
class StopWordFilter(MetricFilter):
    """Keeps texts where stop words / words > threshold and there are more than 2 stop words.

    Natural prose is full of stop words; keyword lists, tables and spam are not.
    """

    Config = StopWordConfig

    def metrics_sql(self) -> dict[str, str]:
        items = load_list(self.config.path, "stopwords_en.txt")
        return {"stop_words": count_lower_tokens_in(self.col(), items), "words": word_count(self.col())}

    def keep_sql(self, m: dict[str, str]) -> str:
        ratio = f"coalesce({m['stop_words']} / nullif({m['words']}, 0), 0.0)"
        return f"{ratio} > {float(self.config.threshold)!r} AND {m['stop_words']} > 2"


class BlocklistConfig(TextConfig):
    dataflow_keys: ClassVar[dict[str, DataflowKey]] = WHITESPACE_WORDS
    language: Literal["en", "zh"] = "en"
    threshold: int = 1
    path: str | None = None  # one entry a line; default: the bundled list for `language`
    # "token": whole whitespace tokens, as DataFlow; "substring": anywhere (for unsegmented CJK text).
    match: Literal["token", "substring"] = "token"


@register
class BlocklistFilter(MetricFilter):
    """Keeps texts with at most ``threshold`` blocklisted words (lower-cased whitespace tokens)."""

    Config = BlocklistConfig
    tags = ("heuristic", "toxicity", "blocklist", "pretrain")

    def metrics_sql(self) -> dict[str, str]:
        items = load_list(self.config.path, f"blocklist_{self.config.language}.txt")
        if self.config.match == "substring":
            return {"blocked_words": count_substrings_in(f"lower({self.col()})", items)}
        return {"blocked_words": count_lower_tokens_in(self.col(), items)}

    def keep_sql(self, m: dict[str, str]) -> str:
        return f"{m['blocked_words']} <= {int(self.config.threshold)}"
