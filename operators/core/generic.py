"""Kind-agnostic operators every pipeline needs: threshold filters on score columns."""

from typing import Any, ClassVar

from operators.core.contract import Kind, OpConfig, quote_literal
from operators.core.registry import register
from operators.core.sql_ops import SQLFilter


class ThresholdConfig(OpConfig):
    input_key: str
    min_value: float | None = None
    max_value: float | None = None


@register
class ThresholdFilter(SQLFilter):
    """Keeps rows whose numeric column lies within [min_value, max_value]; NULL scores are dropped.

    This is how an evaluator's score becomes a filter (evaluate-then-filter), so the score column
    stays visible on kept and rejected rows alike.
    """

    kind: ClassVar[Kind] = Kind.FILTER
    Config = ThresholdConfig
    tags = ("score", "threshold")

    def keep_sql(self) -> str:
        c = self.col()
        parts = [f"{c} IS NOT NULL"]
        if self.config.min_value is not None:
            parts.append(f"{c} >= {float(self.config.min_value)!r}")
        if self.config.max_value is not None:
            parts.append(f"{c} <= {float(self.config.max_value)!r}")
        return " AND ".join(parts)

    def reason_sql(self) -> str:
        c = self.col()
        label = quote_literal(f"{self.name}: {self.config.input_key}=")
        return f"{label} || coalesce({c}::VARCHAR, 'NULL')"

    def describe_config(self) -> dict[str, Any]:
        return self.config_dict()
