"""Every rule filter as an evaluator: the same metric written as a column, no row dropped.

DataFlow pairs many filters with a separate "scorer"; here the metric is defined once, on the
filter, and this module derives the evaluator, so evaluate-then-filter (the score stays visible,
a ``ThresholdFilter`` or an asset check decides later) gives exactly the numbers the filter tests.

* ``TextMetricEvaluator(filter="WordNumberFilter", params={...})`` evaluates any metric filter;
* ``<Stem>Evaluator`` (e.g. ``WordNumberEvaluator``) is registered for each metric filter, with
  the filter's own config plus ``output_prefix``; columns are ``<prefix><metric>``.
"""

from typing import Any, ClassVar

from pydantic import Field

from operators.core.contract import Kind, OpConfig, Operator, OperatorContext, OperatorError, RowSQL
from operators.core.registry import get, register
from operators.general_text import (  # noqa: F401 - imported so their filters exist before derivation
    diversity,
    heuristics,
    heuristics_content,
    heuristics_lines,
    lang,
    pii,
)
from operators.general_text.base import MetricFilter


class MetricEvaluatorConfig(OpConfig):
    filter: str
    params: dict[str, Any] = Field(default_factory=dict)
    output_prefix: str = ""


def _metric_filter(name: str, params: dict[str, Any]) -> MetricFilter:
    cls = get(name)
    if not issubclass(cls, MetricFilter):
        raise OperatorError(f"'{name}' is not a metric filter; evaluable filters: {sorted(metric_filters())}")
    return cls(**params)


def metric_filters() -> dict[str, type[MetricFilter]]:
    """Registered metric filters, found through the class tree (no registry walk at import time)."""
    out: dict[str, type[MetricFilter]] = {}
    todo = list(MetricFilter.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith("operators.") and cls.__module__ != MetricFilter.__module__:
            out[cls.name] = cls
    return out


@register
class TextMetricEvaluator(Operator):
    """Writes the metric(s) of any rule filter as columns (``<output_prefix><metric>``); keeps all rows."""

    kind: ClassVar[Kind] = Kind.EVALUATE
    Config = MetricEvaluatorConfig
    tags = ("evaluate", "heuristic", "score")
    row_local: ClassVar[bool] = True  # every metric filter scores each row from that row alone

    def _filter(self) -> MetricFilter:
        return _metric_filter(self.config.filter, self.config.params)

    def input_columns(self) -> list[str]:
        return self._filter().input_columns()

    def output_columns(self) -> list[str]:
        return [self.config.output_prefix + m for m in self._filter().metric_columns()]

    @property
    def fusable(self) -> bool:  # type: ignore[override]
        return self._filter().fusable

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        f = self._filter()
        f.run_evaluate(ctx, {m: self.config.output_prefix + m for m in f.metric_columns()})
        return {}

    def row_sql(self, ctx: OperatorContext) -> RowSQL:
        return metric_row_sql(self._filter(), self.config.output_prefix, ctx)


def metric_row_sql(f: MetricFilter, prefix: str, ctx: OperatorContext) -> RowSQL:
    """A metric filter's metrics as new columns ``<prefix><metric>``, as ``run_evaluate`` writes them."""
    f.register_native(ctx)
    f.prepare(ctx)
    return RowSQL(add={prefix + m: expr for m, expr in f.metrics_sql().items()})


def _derive(filter_cls: type[MetricFilter]) -> type[Operator]:
    stem = filter_cls.__name__.removesuffix("Filter")
    name = f"{stem}Evaluator"

    class Config(filter_cls.Config):  # type: ignore[name-defined,misc]
        output_prefix: str = ""

    def _as_filter(self: Operator) -> MetricFilter:
        params = self.config.model_dump(exclude={"output_prefix"})
        return filter_cls(**params)

    def input_columns(self: Operator) -> list[str]:
        return _as_filter(self).input_columns()

    def output_columns(self: Operator) -> list[str]:
        return [self.config.output_prefix + m for m in _as_filter(self).metric_columns()]

    def run(self: Operator, ctx: OperatorContext) -> dict[str, Any]:
        f = _as_filter(self)
        f.run_evaluate(ctx, {m: self.config.output_prefix + m for m in f.metric_columns()})
        return {}

    def row_sql(self: Operator, ctx: OperatorContext) -> RowSQL:
        return metric_row_sql(_as_filter(self), self.config.output_prefix, ctx)

    first = (filter_cls.__doc__ or "").strip().splitlines()[0] if filter_cls.__doc__ else ""
    doc = f"Metric of {filter_cls.__name__} as columns (no row dropped). {first}"
    cls = type(
        name,
        (Operator,),
        {
            "__doc__": doc,
            "__module__": __name__,
            "__qualname__": name,
            "kind": Kind.EVALUATE,
            "name": name,
            "delegates_to": (filter_cls,),  # its code identity includes the filter's (code_identity)
            "Config": Config,
            "tags": ("evaluate", *filter_cls.tags),
            "row_local": filter_cls.row_local,
            "fusable": filter_cls.fusable,
            "row_sql": row_sql,
            "input_columns": input_columns,
            "output_columns": output_columns,
            "run": run,
        },
    )
    return register(cls)


DERIVED = {name: _derive(cls) for name, cls in sorted(metric_filters().items())}
