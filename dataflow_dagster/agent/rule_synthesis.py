"""Synthesised row rules: a filter clause that compares a named numeric column ("drop rows whose price
is negative", "keep items rated above 3") becomes a DuckDB SQL boolean for ``GeneralFilter``.

No registered operator knows the user's columns, so retrieval would pick a text filter (or a model
judge) for such a clause. The rule is only written when the clause names a column the data has and a
comparison the patterns below read; it is compiled by ``GeneralFilter``'s own guard (sqlglot: columns,
literals, comparisons, arithmetic) and run on the data's first rows before it is offered, so a rule
that DuckDB rejects is never written. A clause saying what to *remove* keeps the rows where the
comparison is false or unknown (a missing price is not a negative one).
"""

import re
from dataclasses import dataclass

import duckdb

from dataflow_dagster.agent.decompose import Clause
from dataflow_dagster.agent.planner import DataProfile
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


def _named_column(text: str, data: DataProfile) -> str | None:
    """A numeric column the clause names: its whole name, or every part of a snake_case name."""
    words = set(re.findall(r"[a-z0-9]+", text.lower()))
    numeric = [c for c, t in data.columns.items() if NUMERIC.match(t) and not c.startswith("_")]
    whole = [c for c in numeric if c.lower() in words or c.lower().rstrip("s") in words]
    parts = [c for c in numeric if all(p in words for p in c.lower().split("_") if p)]
    return (whole or parts or [None])[0]


def _condition(text: str, col: str) -> str | None:
    for pattern, template in COMPARISONS:
        m = re.search(pattern, text, re.I)
        if m:
            return template.format(*m.groups(), c=quote_ident(col))
    return None


def row_rule(clause: Clause, data: DataProfile, sample_rows: int = 200) -> RowRule | None:
    """The validated SQL rule for a filter clause on a named numeric column, or None."""
    if clause.slot not in ("filter", "check"):
        return None
    col = _named_column(clause.text, data)
    cond = _condition(clause.text, col) if col else None
    if col is None or cond is None:
        return None
    rule = cond if clause.polarity == "keep" else f"coalesce(NOT ({cond}), true)"
    from operators.general_text.general_filter import GeneralFilter

    try:
        op = GeneralFilter(filter_rules=[rule])  # the operator's own guard
        with duckdb.connect() as con:
            src = f"(SELECT * FROM {reader_sql(data.path, detect_format(data.path))} LIMIT {int(sample_rows)})"
            kept, total = con.execute(f"SELECT count(*) FILTER (WHERE {op.keep_sql()}), count(*) FROM {src}").fetchone()
    except (ValueError, duckdb.Error):
        return None
    return RowRule(rule, col, int(kept), int(total))
