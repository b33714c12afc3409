"""Base classes for rule operators expressed as DuckDB SQL.

Rule operators describe *what* to compute as SQL expressions over the input columns; the bases turn
that into lazy views, so a filter over a billion rows streams from the upstream snapshot into the
output snapshot without ever holding the table in Python.

Every input relation carries ``__pos`` (the row's position in the upstream snapshot): operators
that must pick "the first" of something order by it, and the storage layer drops ``__``-prefixed
columns when it writes the output.
"""

from typing import Any, ClassVar

from operators.core.contract import Kind, OpConfig, Operator, OperatorContext, RowSQL, quote_ident, quote_literal

POS = "__pos"


class TextConfig(OpConfig):
    input_key: str = "text"


class SQLFilter(Operator):
    """A filter whose keep-rule is a SQL boolean expression; NULL counts as reject."""

    kind: ClassVar[Kind] = Kind.FILTER
    row_local: ClassVar[bool] = True
    fusable: ClassVar[bool] = True
    Config = TextConfig

    def input_columns(self) -> list[str]:
        return [self.config.input_key]  # type: ignore[attr-defined]

    def output_columns(self) -> list[str]:
        return []

    def col(self, name: str | None = None) -> str:
        return quote_ident(name or self.config.input_key)  # type: ignore[attr-defined]

    def keep_sql(self) -> str:
        raise NotImplementedError

    def reason_sql(self) -> str:
        """Why a row was dropped; a SQL expression so reasons can carry the measured value."""
        return quote_literal(self.name)

    def prepare(self, ctx: OperatorContext) -> None:
        """Hook for filters that need helper tables/macros (e.g. word lists) before the views."""

    def row_sql(self, ctx: OperatorContext) -> RowSQL:
        self.prepare(ctx)
        return RowSQL(keep=f"coalesce(({self.keep_sql()}), false)", reason=self.reason_sql())

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        self.prepare(ctx)
        src, keep = quote_ident(ctx.source or ""), f"coalesce(({self.keep_sql()}), false)"
        ctx.con.execute(f"CREATE VIEW {quote_ident(ctx.target)} AS SELECT * FROM {src} WHERE {keep}")
        ctx.con.execute(
            f"CREATE VIEW {quote_ident(ctx.rejected)} AS "
            f"SELECT *, ({self.reason_sql()})::VARCHAR AS _reason FROM {src} WHERE NOT {keep}"
        )
        return {}


class SQLRefiner(Operator):
    """Rewrites columns in place with SQL expressions; same rows, same ids."""

    kind: ClassVar[Kind] = Kind.REFINE
    row_local: ClassVar[bool] = True
    fusable: ClassVar[bool] = True
    Config = TextConfig

    def input_columns(self) -> list[str]:
        return [self.config.input_key]  # type: ignore[attr-defined]

    def output_columns(self) -> list[str]:
        return [self.config.input_key]  # type: ignore[attr-defined]

    def rewrite_sql(self, col: str) -> str:
        raise NotImplementedError

    def row_sql(self, ctx: OperatorContext) -> RowSQL:
        col = self.config.input_key  # type: ignore[attr-defined]
        return RowSQL(replace={col: self.rewrite_sql(quote_ident(col))})

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        col = quote_ident(self.config.input_key)  # type: ignore[attr-defined]
        ctx.con.execute(
            f"CREATE VIEW {quote_ident(ctx.target)} AS "
            f"SELECT * REPLACE (({self.rewrite_sql(col)}) AS {col}) FROM {quote_ident(ctx.source or '')}"
        )
        return {}


class SQLEvaluator(Operator):
    """Adds score columns computed by SQL expressions; never drops rows."""

    kind: ClassVar[Kind] = Kind.EVALUATE
    row_local: ClassVar[bool] = True
    fusable: ClassVar[bool] = True

    def scores_sql(self) -> dict[str, str]:
        """Output column -> SQL expression."""
        raise NotImplementedError

    def output_columns(self) -> list[str]:
        return list(self.scores_sql())

    def row_sql(self, ctx: OperatorContext) -> RowSQL:
        return RowSQL(add=self.scores_sql())

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        cols = ", ".join(f"({expr}) AS {quote_ident(name)}" for name, expr in self.scores_sql().items())
        existing = set(ctx.columns())
        clash = [c for c in self.scores_sql() if c in existing]
        exclude = f" EXCLUDE ({', '.join(quote_ident(c) for c in clash)})" if clash else ""
        ctx.con.execute(
            f"CREATE VIEW {quote_ident(ctx.target)} AS SELECT *{exclude}, {cols} FROM {quote_ident(ctx.source or '')}"
        )
        return {}
