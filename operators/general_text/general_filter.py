"""DataFlow's GeneralFilter with SQL rules instead of Python lambdas.

DataFlow's ``filter_rules`` are callables over the DataFrame (``lambda df: df["score"] > 3``), which a
pipeline file cannot hold and this engine would have to run row by row in Python. Here each rule is
a SQL boolean over the row's columns (``score > 3``), checked when the config is read (sqlglot, the
same guard as PromptedFilter's ``keep_when`` plus arithmetic and a few pure string functions), and
the filter keeps rows passing every rule, in one vectorised DuckDB pass. A rejected row's
``_reason`` names the first rule it failed.
"""

from typing import ClassVar

from pydantic import Field, field_validator

from operators.core.contract import Kind, OpConfig, quote_literal
from operators.core.registry import register
from operators.core.sql_ops import SQLFilter
from operators.prompted.keep_rule import ROW_FUNCTIONS, compile_keep_rule


class GeneralFilterConfig(OpConfig):
    filter_rules: list[str] = Field(min_length=1)

    @field_validator("filter_rules")
    @classmethod
    def _rules_are_row_sql(cls, rules: list[str]) -> list[str]:
        for i, rule in enumerate(rules):
            if not isinstance(rule, str) or not rule.strip():
                raise ValueError(f"filter_rules[{i}] is empty; write a SQL boolean such as `score > 3`")
            try:
                compile_keep_rule(rule, ROW_FUNCTIONS)
            except ValueError as exc:
                raise ValueError(f"filter_rules[{i}]: {exc}") from None
        return rules


@register
class GeneralFilter(SQLFilter):
    """Keeps rows for which every SQL rule in ``filter_rules`` is true (NULL counts as false)."""

    kind: ClassVar[Kind] = Kind.FILTER
    Config = GeneralFilterConfig
    tags = ("rule", "sql", "generic")
    dataflow_fidelity = "approximated"
    dataflow_note = (
        "rules are SQL booleans over the row's columns (`score > 3 AND lang = 'en'`), not Python lambdas over "
        "the DataFrame; arithmetic, LIKE/ILIKE ... ESCAPE and length/lower/upper/trim/abs/coalesce allowed, no "
        "dataset-wide expressions"
    )

    def _compiled(self) -> list[tuple[str, list[str]]]:
        return [compile_keep_rule(r, ROW_FUNCTIONS) for r in self.config.filter_rules]

    def input_columns(self) -> list[str]:
        return sorted({c for _, cols in self._compiled() for c in cols})

    def keep_sql(self) -> str:
        return " AND ".join(f"coalesce(({sql}), false)" for sql, _ in self._compiled())

    def reason_sql(self) -> str:
        cases = " ".join(
            f"WHEN NOT coalesce(({sql}), false) THEN {quote_literal(f'GeneralFilter: fails {rule}')}"
            for (sql, _), rule in zip(self._compiled(), self.config.filter_rules, strict=True)
        )
        return f"CASE {cases} END"
