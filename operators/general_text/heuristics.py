"""Heuristic text filters after DataFlow's general_text filters, as DuckDB SQL expressions.

Word semantics follow DataFlow: a "word" is a whitespace-separated token (Python ``str.split()``).
"""

from typing import ClassVar

from operators.core.contract import Kind
from operators.core.registry import register
from operators.core.sql_ops import SQLFilter, TextConfig


def words_sql(col: str) -> str:
    """Whitespace tokens of ``col`` as a DuckDB list, matching Python's ``str.split()``."""
    return f"list_filter(regexp_split_to_array({col}, '\\s+'), lambda w: w <> '')"


class WordNumberConfig(TextConfig):
    min_words: int = 20
    max_words: int = 100000


@register
class WordNumberFilter(SQLFilter):
    """Keeps texts whose word count lies in [min_words, max_words] (DataFlow WordNumberFilter)."""

    kind: ClassVar[Kind] = Kind.FILTER
    Config = WordNumberConfig
    tags = ("heuristic", "length", "pretrain")

    def keep_sql(self) -> str:
        n = f"len({words_sql(self.col())})"
        return f"{n} >= {int(self.config.min_words)} AND {n} <= {int(self.config.max_words)}"

    def reason_sql(self) -> str:
        return f"'WordNumberFilter: words=' || len({words_sql(self.col())})::VARCHAR"


@register
class ContentNullFilter(SQLFilter):
    """Drops rows whose text is NULL, empty or whitespace only (DataFlow ContentNullFilter)."""

    kind: ClassVar[Kind] = Kind.FILTER
    Config = TextConfig
    tags = ("heuristic", "null", "pretrain", "sft")

    def keep_sql(self) -> str:
        return f"{self.col()} IS NOT NULL AND trim({self.col()}, ' \t\n\r\x0b\x0c') <> ''"


class SymbolRatioConfig(TextConfig):
    threshold: float = 0.4


@register
class SymbolWordRatioFilter(SQLFilter):
    """Drops texts where '#', '...' and '…' occur too often per word (DataFlow SymbolWordRatioFilter)."""

    kind: ClassVar[Kind] = Kind.FILTER
    Config = SymbolRatioConfig
    tags = ("heuristic", "symbols", "pretrain")

    def ratio_sql(self) -> str:
        c = self.col()
        symbols = " + ".join(
            f"((length({c}) - length(replace({c}, '{s}', ''))) // {len(s)})" for s in ("#", "...", "…")
        )
        return f"({symbols}) / greatest(len({words_sql(c)}), 1)"

    def keep_sql(self) -> str:
        return f"{self.ratio_sql()} < {float(self.config.threshold)!r}"

    def reason_sql(self) -> str:
        return f"'SymbolWordRatioFilter: ratio=' || round({self.ratio_sql()}, 3)::VARCHAR"
