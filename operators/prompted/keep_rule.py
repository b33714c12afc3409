"""A filter's keep rule written in a pipeline file: a SQL boolean over columns, nothing more.

The rule runs inside the step's DuckDB, so it is parsed with sqlglot and only comparisons, boolean
logic, IN / BETWEEN / IS NULL / LIKE, column names and literals are let through: a pipeline file can
say ``score >= 4 AND label IN ('good', 'ok')`` but never call a function that reads files.
"""

import sqlglot
from sqlglot import exp

_ALLOWED: tuple[type[exp.Expression], ...] = (
    exp.Column,
    exp.Identifier,
    exp.Literal,
    exp.Boolean,
    exp.Null,
    exp.Paren,
    exp.And,
    exp.Or,
    exp.Not,
    exp.EQ,
    exp.NEQ,
    exp.GT,
    exp.GTE,
    exp.LT,
    exp.LTE,
    exp.In,
    exp.Between,
    exp.Is,
    exp.Like,
    exp.ILike,
    exp.Escape,  # LIKE ... ESCAPE: a literal % or _ in the pattern
    exp.Neg,
    exp.Tuple,
)


# Pure row functions and arithmetic a row rule may add (GeneralFilter): nothing here reads outside the row.
ROW_FUNCTIONS: tuple[type[exp.Expression], ...] = (
    exp.Add,
    exp.Sub,
    exp.Mul,
    exp.Div,
    exp.Mod,
    exp.Length,
    exp.Lower,
    exp.Upper,
    exp.Trim,
    exp.Abs,
    exp.Coalesce,
)


def compile_keep_rule(rule: str, extra: tuple[type[exp.Expression], ...] = ()) -> tuple[str, list[str]]:
    """DuckDB SQL for ``rule`` and the columns it reads; ValueError says what is not allowed.
    ``extra`` widens the allowed node types (e.g. ``ROW_FUNCTIONS``)."""
    try:
        tree = sqlglot.parse_one(rule, dialect="duckdb")
    except sqlglot.errors.ParseError as exc:
        raise ValueError(f"keep rule {rule!r} is not a SQL expression: {exc}") from None
    for node in tree.walk():
        if not isinstance(node, _ALLOWED + extra):
            also = ", arithmetic and length/lower/upper/trim/abs/coalesce" if extra else ""
            raise ValueError(
                f"keep rule {rule!r} uses {type(node).__name__} ({node.sql(dialect='duckdb')[:40]}); only column "
                f"comparisons, AND/OR/NOT, IN, BETWEEN, IS NULL and LIKE{also} are allowed"
            )
        if isinstance(node, exp.Column) and node.table:
            raise ValueError(f"keep rule {rule!r}: write column names without a table prefix")
    columns = sorted({c.name for c in tree.find_all(exp.Column)})
    return tree.sql(dialect="duckdb"), columns
