"""Synthesised row rules: a filter clause about a column of the user's data becomes a DuckDB SQL boolean
for ``GeneralFilter``: a comparison on a named numeric column ("drop rows whose price is negative",
"keep items rated above 3") here, and text, date and null conditions ("keep rows where ticker is
AAPL", "drop headlines that mention Tesla", "news after January 3, 2024", "remove rows with a missing
close price") in ``rule_conditions``.

No registered operator knows the user's columns, so retrieval would pick a text filter (or a model
judge) for such a clause. The rule is only written when the clause names a column the data has (or a
value found in one) and a condition the patterns read; it is compiled by ``GeneralFilter``'s own guard
(sqlglot: columns, literals, comparisons, LIKE/IN/IS NULL, arithmetic) and run on the data's first rows
before it is offered, so a rule that DuckDB rejects is never written. A clause saying what to *remove*
keeps the rows where the condition is false or unknown (a missing price is not a negative one), except
that "remove rows with a missing X" keeps ``X IS NOT NULL``.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass

import duckdb

from dataflow_dagster.agent.decompose import Clause
from dataflow_dagster.agent.profile import DataProfile
from dataflow_dagster.agent.rule_conditions import (
    DATE_TYPE,
    ISO,
    Found,
    date_condition,
    iso_dates,
    null_condition,
    text_condition,
    value_condition,
)
from dataflow_dagster.core.io_formats import detect_format, reader_sql
from operators.core.contract import quote_ident

NUMERIC = re.compile(r"^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|U\w*INT|FLOAT|DOUBLE|REAL|DECIMAL.*)$", re.I)
_NUM = r"(-?\d+(?:\.\d+)?)"
# (pattern, SQL template over {c} and the captured numbers)
COMPARISONS: tuple[tuple[str, str], ...] = (
    (rf"\bbetween\s+{_NUM}\s+(?:and|to)\s+{_NUM}", "{c} BETWEEN {0} AND {1}"),
    (rf"(?:\bat least|\bno (?:less|fewer) than|>=)\s*{_NUM}", "{c} >= {0}"),
    (rf"(?:\bat most|\bno (?:more|greater) than|\bup to|<=)\s*{_NUM}", "{c} <= {0}"),
    (rf"(?:\b(?:greater|more|higher|larger|bigger|over) than|\babove|\bover|\bexceed\w*|>)\s*{_NUM}", "{c} > {0}"),
    (rf"(?:\b(?:less|lower|smaller|fewer) than|\bbelow|\bunder|<)\s*{_NUM}", "{c} < {0}"),
    (rf"(?:\bequal(?:s| to)?|\bis exactly|=)\s*{_NUM}", "{c} = {0}"),
    (r"\bnegative\b", "{c} < 0"),
    (r"\bnon-?negative\b", "{c} >= 0"),
    (r"\bpositive\b", "{c} > 0"),
    (r"\bzero\b", "{c} = 0"),
)


@dataclass
class RowRule:
    rule: str  # GeneralFilter filter_rules entry
    column: str
    kept: int  # rows of the sample the rule keeps
    sampled: int


def _named_column(text: str, data: DataProfile, types: Callable[[str], bool]) -> str | None:
    """A column of the accepted types the clause names: its whole name (singular or plural) or every part
    of a snake_case name."""
    words = set(re.findall(r"[a-z0-9]+", text.lower()))
    words |= {w[:-1] for w in words if w.endswith("s")} | {w[:-2] for w in words if w.endswith("es")}
    cols = [c for c, t in data.columns.items() if types(t) and not c.startswith("_")]
    whole = [c for c in cols if c.lower() in words or c.lower().rstrip("s") in words]
    parts = [c for c in cols if all(p in words for p in c.lower().split("_") if p)]
    return (whole or parts or [None])[0]


def _numeric_condition(text: str, data: DataProfile) -> Found | None:
    col = _named_column(text, data, lambda t: bool(NUMERIC.match(t)))
    for pattern, template in COMPARISONS if col else ():
        m = re.search(pattern, text, re.I)
        if m:
            return Found(col, template.format(*m.groups(), c=quote_ident(col)))
    return None


def _sampled_values(con: duckdb.DuckDBPyConnection, data: DataProfile) -> dict[str, list[str]]:
    """Distinct short values of each text column of the sample: where a named value ("NVDA") lives."""
    out = {}
    for c, t in data.columns.items():
        if t == "VARCHAR" and not c.startswith("_"):
            q = quote_ident(c)
            out[c] = [r[0] for r in con.execute(f"SELECT DISTINCT {q} FROM s WHERE length({q}) <= 200").fetchall()]
    return out


def _conditions(
    text: str, data: DataProfile, con: duckdb.DuckDBPyConnection, concept: Callable[[str], bool]
) -> list[Found]:
    """Every condition the clause states ("keep AAPL news after January 3, 2024" states two): a date,
    a numeric comparison or a null test on a column it names, a text or value condition."""
    text, found = iso_dates(text), []
    dates = [c for c, t in data.columns.items() if DATE_TYPE.match(t) and not c.startswith("_")]
    if re.search(ISO, text) and dates:
        col = _named_column(text, data, lambda t: bool(DATE_TYPE.match(t))) or (dates[0] if len(dates) == 1 else None)
        when = date_condition(text, col, data.columns[col]) if col else None
        if when is None:
            return []  # a date this column or these words cannot compare
        found.append(when)
        text = text.replace(when.consumed, " ")
    numeric = _numeric_condition(text, data)
    other = _named_column(text, data, lambda t: t != "VARCHAR")  # an empty text is ContentNullFilter's
    empty = null_condition(text, other) if other and numeric is None else None
    named = _named_column(text, data, lambda t: t == "VARCHAR")
    values = _sampled_values(con, data)
    first = (re.findall(r"\w+", text) or [""])[0]
    textual = text_condition(text, named, values, data.text_column, concept) or value_condition(
        text, named, values, first
    )
    return found + [f for f in (numeric, empty, textual) if f is not None]


def _rule(found: list[Found], keep: bool) -> str:
    """The rule a keep clause states, or a removal's complement: the rows where its condition is false
    or unknown (a missing price is not a negative one; "remove rows with a missing X" keeps X IS NOT NULL)."""
    if len(found) == 1:
        f = found[0]
        return f.sql if keep != f.negate else f.negated or f"coalesce(NOT ({f.sql}), true)"
    both = " AND ".join(f"coalesce(NOT ({f.sql}), true)" if f.negate else f"({f.sql})" for f in found)
    return both if keep else f"coalesce(NOT ({both}), true)"


def row_rule(
    clause: Clause, data: DataProfile, sample_rows: int = 200, concept: Callable[[str], bool] = lambda w: False
) -> RowRule | None:
    """The validated SQL rule for a filter clause on a column of the data, or None. ``concept`` says
    whether a word names something registered operators handle (an unquoted "HTML" is not a value)."""
    if clause.slot not in ("filter", "check"):
        return None
    from operators.general_text.general_filter import GeneralFilter

    try:
        with duckdb.connect() as con:
            src = f"(SELECT * FROM {reader_sql(data.path, detect_format(data.path))} LIMIT {int(sample_rows)})"
            con.execute(f"CREATE TEMP TABLE s AS SELECT * FROM {src}")
            found = _conditions(clause.text, data, con, concept)
            if not found:
                return None
            rule = _rule(found, clause.polarity == "keep")
            op = GeneralFilter(filter_rules=[rule])  # the operator's own guard
            kept, total = con.execute(f"SELECT count(*) FILTER (WHERE {op.keep_sql()}), count(*) FROM s").fetchone()
    except (ValueError, duckdb.Error):
        return None
    return RowRule(rule, ", ".join(dict.fromkeys(f.column for f in found)), int(kept), int(total))
