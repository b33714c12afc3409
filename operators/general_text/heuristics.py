"""Length, word and character-ratio filters after DataFlow's general_text heuristics.

Each filter is a metric (SQL) plus a keep test, with DataFlow's defaults, bounds (which side is
inclusive) and tokenisation: a "word" is a ``str.split()`` token unless the docstring says otherwise.
Empty or NULL text is rejected (DataFlow's ``if text: ... else: reject``) unless stated.
"""

from typing import ClassVar, Literal

from operators.core.contract import DataflowKey
from operators.core.dataflow_names import WHITESPACE_WORDS
from operators.core.registry import register
from operators.core.sql_ops import TextConfig
from operators.general_text import native
from operators.general_text.base import MetricFilter
from operators.general_text.textsql import (
    RARE_WS,
    WORD_CLASS,
    WS_CLASS,
    ascii_ws_count,
    count_sub,
    guarded,
    has_text,
    let,
    lit,
    strip,
    unless_rare_ws,
    word_count,
    words,
    zero_ratio,
)


class WordNumberConfig(TextConfig):
    min_words: int = 20
    max_words: int = 100000


@register
class WordNumberFilter(MetricFilter):
    """Keeps texts with min_words <= words < max_words (DataFlow WordNumberFilter; upper bound exclusive).

    Empty text counts as 0 words, so it is kept only when min_words is 0.
    """

    Config = WordNumberConfig
    rejects_empty = False
    tags = ("heuristic", "length", "pretrain")

    def metrics_sql(self) -> dict[str, str]:
        return {"words": f"coalesce({word_count(self.col())}, 0)"}

    def keep_sql(self, m: dict[str, str]) -> str:
        return f"{m['words']} >= {int(self.config.min_words)} AND {m['words']} < {int(self.config.max_words)}"


@register
class ContentNullFilter(MetricFilter):
    """Drops rows whose text is NULL, empty or whitespace only (unicode whitespace, as str.strip()).

    Empty text, 空文本: the null/blank filter.
    """

    rejects_empty = False
    tags = ("heuristic", "null", "pretrain", "sft")

    def metrics_sql(self) -> dict[str, str]:
        return {"stripped_chars": f"length({strip(self.col())})"}

    def keep_sql(self, m: dict[str, str]) -> str:
        return f"{m['stripped_chars']} > 0"

    def fast_keep_sql(self) -> str:
        # trim() walks every character of every row; the test needs only the first non-blank one
        return f"coalesce({has_text(self.col())}, false)"


class ThresholdConfig(TextConfig):
    threshold: float


class SymbolRatioConfig(TextConfig):
    threshold: float = 0.4


def wordpunct_count(col: str) -> str:
    """Token count of NLTK's WordPunctTokenizer (``\\w+|[^\\w\\s]+``) with unicode classes."""
    return f"len(regexp_extract_all({col}, '[{WORD_CLASS}]+|[^{WORD_CLASS}{WS_CLASS}]+'))"


@register
class SymbolWordRatioFilter(MetricFilter):
    """Keeps texts where ('#' + '...' + '…' occurrences) / WordPunct tokens < threshold."""

    Config = SymbolRatioConfig
    tags = ("heuristic", "symbols", "pretrain")

    def metrics_sql(self) -> dict[str, str]:
        c = self.col()
        symbols = " + ".join(count_sub(c, s) for s in ("#", "...", "…"))
        n = wordpunct_count(c)
        # no symbol at all (most rows): the ratio is 0 wherever there is a token, and tokens exist
        # exactly when there is a non-blank character; the costly tokeniser runs on the rest only
        sql = guarded(c, ("#", "...", "…"), f"({symbols}) / nullif({n}, 0)", zero_ratio(c))
        return {"symbol_ratio": native.call("symbol_ratio", c) or sql}

    def keep_sql(self, m: dict[str, str]) -> str:
        return f"{m['symbol_ratio']} < {float(self.config.threshold)!r}"


@register
class ColonEndFilter(MetricFilter):
    """Drops texts that end with ':' (an unfinished question or list header)."""

    def metrics_sql(self) -> dict[str, str]:
        return {"ends_with_colon": f"ends_with({self.col()}, ':')::INT"}

    def keep_sql(self, m: dict[str, str]) -> str:
        return f"{m['ends_with_colon']} = 0"


class CharNumberConfig(TextConfig):
    threshold: int = 100


@register
class CharNumberFilter(MetricFilter):
    """Keeps texts with at least ``threshold`` characters once stripped and spaces/newlines/tabs removed."""

    Config = CharNumberConfig
    tags = ("heuristic", "length", "pretrain")

    def metrics_sql(self) -> dict[str, str]:
        c = self.col()
        s = strip(c)
        exact = f"length(replace(replace(replace({s}, ' ', ''), chr(10), ''), chr(9), ''))"
        # strip() only matters for whitespace other than space/newline/tab at either end (rare);
        # elsewhere the count is the length minus the spaces, newlines and tabs, with no trim()
        ends = f"regexp_matches({c}, {lit('^[' + WS_CLASS + ']*' + RARE_WS + '|' + RARE_WS + '[' + WS_CLASS + ']*$')})"
        sql = f"(CASE WHEN {ends} THEN {exact} ELSE length({c}) - ({ascii_ws_count(c)}) END)"
        return {"chars": native.call("char_number", c) or sql}

    def keep_sql(self, m: dict[str, str]) -> str:
        return f"{m['chars']} >= {int(self.config.threshold)}"


class SentenceNumberConfig(TextConfig):
    min_sentences: int = 3
    max_sentences: int = 7500


@register
class SentenceNumberFilter(MetricFilter):
    """Keeps texts with min <= sentences <= max, a sentence being DataFlow's ``\\b[^.!?\\n]+[.!?]*`` match.

    RE2 has no unicode ``\\b``; a match of that pattern is exactly a maximal run of characters other
    than ``.!?\\n`` that contains a word character, which is what is counted here.
    """

    Config = SentenceNumberConfig
    tags = ("heuristic", "length", "pretrain")

    def metrics_sql(self) -> dict[str, str]:
        pattern = f"[^.!?\\n]*[{WORD_CLASS}][^.!?\\n]*"
        sql = f"len(regexp_extract_all({self.col()}, {lit(pattern)}))"
        return {"sentences": native.call("sentences", self.col()) or sql}

    def keep_sql(self, m: dict[str, str]) -> str:
        s = m["sentences"]
        return f"{s} >= {int(self.config.min_sentences)} AND {s} <= {int(self.config.max_sentences)}"


class MeanWordLengthConfig(TextConfig):
    min_length: float = 3
    max_length: float = 10


@register
class MeanWordLengthFilter(MetricFilter):
    """Keeps texts whose mean word length (rounded to 2 places) lies in [min_length, max_length)."""

    Config = MeanWordLengthConfig
    tags = ("heuristic", "length", "pretrain")

    def metrics_sql(self) -> dict[str, str]:
        c = self.col()
        exact = f"length(regexp_replace({c}, '[{WS_CLASS}]+', '', 'g'))"
        fast = f"length({c}) - ({ascii_ws_count(c)})"  # only space/newline/tab: no regex needed
        chars = unless_rare_ws(c, fast, exact)
        mean = native.call("mean_word_length", c) or f"{chars} / nullif({word_count(c)}, 0)"
        return {"mean_word_length": f"round({mean}, 2)"}

    def keep_sql(self, m: dict[str, str]) -> str:
        v = m["mean_word_length"]
        return f"{v} >= {float(self.config.min_length)!r} AND {v} < {float(self.config.max_length)!r}"


class CurlyBracketConfig(TextConfig):
    threshold: float = 0.025


@register
class CurlyBracketFilter(MetricFilter):
    """Keeps texts where ('{' + '}') / characters < threshold (drops code and template dumps)."""

    Config = CurlyBracketConfig
    tags = ("heuristic", "symbols", "code", "pretrain")

    def metrics_sql(self) -> dict[str, str]:
        c = self.col()
        sql = f"({count_sub(c, '{')} + {count_sub(c, '}')}) / greatest(length({c}), 1)"
        return {"curly_ratio": native.call("curly_ratio", c) or sql}

    def keep_sql(self, m: dict[str, str]) -> str:
        return f"{m['curly_ratio']} < {float(self.config.threshold)!r}"


class CapitalWordsConfig(TextConfig):
    dataflow_keys: ClassVar[dict[str, DataflowKey]] = WHITESPACE_WORDS
    threshold: float = 0.2


def is_upper(w: str) -> str:
    """Python's ``str.isupper()``: at least one cased character and no lowercase one."""
    return f"(upper({w}) = {w} AND lower({w}) <> {w})"


@register
class CapitalWordsFilter(MetricFilter):
    """Keeps texts where the share of all-caps words (``str.isupper``) is <= threshold."""

    Config = CapitalWordsConfig

    def metrics_sql(self) -> dict[str, str]:
        caps = f"len(list_filter(lw, lambda x: {is_upper('x')}))"
        sql = let(words(self.col()), "lw", f"coalesce({caps} / nullif(len(lw), 0), 0.0)")
        return {"capital_ratio": native.call("capital_ratio", self.col()) or sql}

    def keep_sql(self, m: dict[str, str]) -> str:
        return f"{m['capital_ratio']} <= {float(self.config.threshold)!r}"


class UniqueWordsConfig(TextConfig):
    threshold: float = 0.1


@register
class UniqueWordsFilter(MetricFilter):
    """Keeps texts where distinct lower-cased words / words > threshold (drops repeated spam)."""

    Config = UniqueWordsConfig

    def metrics_sql(self) -> dict[str, str]:
        body = "len(list_distinct(lw)) / nullif(len(lw), 0)"
        sql = let(words(f"lower({self.col()})"), "lw", body)
        return {"unique_ratio": native.call("unique_ratio", self.col()) or sql}

    def keep_sql(self, m: dict[str, str]) -> str:
        return f"{m['unique_ratio']} > {float(self.config.threshold)!r}"


class AlphaWordsConfig(TextConfig):
    dataflow_keys: ClassVar[dict[str, DataflowKey]] = {
        "use_tokenizer": DataflowKey(
            convert=lambda v: {"tokenizer": "whitespace"} if v is False else None,
            refuse="NLTK's word_tokenize needs a download; write tokenizer: wordpunct (closest) or whitespace",
        )
    }
    threshold: float = 0.5
    # DataFlow's use_tokenizer=True means NLTK word_tokenize (needs a punkt download); we offer
    # whitespace (use_tokenizer=False) and wordpunct; see docs/general_text.md.
    tokenizer: Literal["whitespace", "wordpunct"] = "whitespace"


@register
class AlphaWordsFilter(MetricFilter):
    """Keeps texts where the share of words containing an ASCII letter is > threshold."""

    Config = AlphaWordsConfig

    def metrics_sql(self) -> dict[str, str]:
        c = self.col()
        if self.config.tokenizer == "whitespace":
            w = words(c)
        else:
            w = f"regexp_extract_all({c}, '[{WORD_CLASS}]+|[^{WORD_CLASS}{WS_CLASS}]+')"
        alpha = "len(list_filter(lw, lambda x: regexp_matches(x, '[a-zA-Z]')))"
        return {"alpha_ratio": let(w, "lw", f"{alpha} / nullif(len(lw), 0)")}

    def keep_sql(self, m: dict[str, str]) -> str:
        return f"{m['alpha_ratio']} > {float(self.config.threshold)!r}"
