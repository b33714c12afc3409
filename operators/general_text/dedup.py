"""Deduplication filters. Rejected rows name the ``_id`` of the row they duplicate."""

from typing import Any, ClassVar

from operators.core.contract import Kind, Operator, OperatorContext, quote_ident
from operators.core.registry import register
from operators.core.rowids import ID
from operators.core.sql_ops import POS, TextConfig


class ExactDedupConfig(TextConfig):
    normalize: bool = False  # lower-case and collapse whitespace before hashing


@register
class ExactDedupFilter(Operator):
    """Keeps the first row (in input order) of each group of identical texts (md5 of the text)."""

    kind: ClassVar[Kind] = Kind.FILTER
    Config = ExactDedupConfig
    tags = ("dedup", "exact", "pretrain", "sft")

    def input_columns(self) -> list[str]:
        return [self.config.input_key]

    def output_columns(self) -> list[str]:
        return []

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        c = quote_ident(self.config.input_key)
        key = f"lower(trim(regexp_replace({c}, '\\s+', ' ', 'g')))" if self.config.normalize else c
        src = quote_ident(ctx.source or "")
        ranked = (
            f"SELECT *, first({ID}) OVER (PARTITION BY md5({key}) ORDER BY {POS}) AS __first "
            f"FROM {src}"
        )
        ctx.con.execute(
            f"CREATE VIEW {quote_ident(ctx.target)} AS "
            f"SELECT * EXCLUDE (__first) FROM ({ranked}) WHERE __first = {ID} OR {c} IS NULL"
        )
        ctx.con.execute(
            f"CREATE VIEW {quote_ident(ctx.rejected)} AS "
            f"SELECT * EXCLUDE (__first), 'ExactDedupFilter: duplicate of ' || __first AS _reason, "
            f"__first AS _duplicate_of FROM ({ranked}) WHERE __first <> {ID} AND {c} IS NOT NULL"
        )
        return {}

    def run_incremental(self, ctx: OperatorContext, previous: str) -> dict[str, Any] | None:
        """New rows are judged against every earlier row: a new row is kept only if no earlier row
        (kept or not) and no earlier new row has its text. Declines when a new row would precede
        the first earlier row of its group, since that would change an earlier row's outcome."""
        c = quote_ident(self.config.input_key)
        key = f"lower(trim(regexp_replace({c}, '\\s+', ' ', 'g')))" if self.config.normalize else c
        new, prev = quote_ident(ctx.source or ""), quote_ident(previous)
        both = f"SELECT *, false AS __new FROM {prev} UNION ALL BY NAME SELECT *, true AS __new FROM {new}"
        row = ctx.con.execute(
            f"SELECT count(*) FROM (SELECT min({POS}) FILTER (WHERE __new) AS n, "
            f"min({POS}) FILTER (WHERE NOT __new) AS o FROM ({both}) WHERE {c} IS NOT NULL GROUP BY md5({key})) "
            "WHERE n < o").fetchone()
        if row and row[0]:
            return None
        ranked = f"SELECT *, first({ID}) OVER (PARTITION BY md5({key}) ORDER BY {POS}) AS __first FROM ({both})"
        ctx.con.execute(
            f"CREATE VIEW {quote_ident(ctx.target)} AS SELECT * EXCLUDE (__first, __new) FROM ({ranked}) "
            f"WHERE __new AND (__first = {ID} OR {c} IS NULL)"
        )
        ctx.con.execute(
            f"CREATE VIEW {quote_ident(ctx.rejected)} AS "
            f"SELECT * EXCLUDE (__first, __new), 'ExactDedupFilter: duplicate of ' || __first AS _reason, "
            f"__first AS _duplicate_of FROM ({ranked}) WHERE __new AND __first <> {ID} AND {c} IS NOT NULL"
        )
        return {}
