"""Great Expectations 1.x suites as data-quality gates.

``dagster-ge`` only supports GX < 1.0, so the suite runs here: an ephemeral GX context (in-memory
stores, analytics and progress bars off), a pandas datasource over the snapshot (read through
DuckDB, only the columns the expectations name), one validation. GX is a heavy import (seconds),
so it is imported only when a check runs and is an optional extra (``pip install
'dataflow-dagster[gx]'``); pipelines without expectations never touch it.
"""

import importlib.util
import os
from dataclasses import dataclass, field
from typing import Any

from operators.core.contract import OperatorError

GX_EXTRA_HINT = "install the optional extra: pip install 'dataflow-dagster[gx]' (great-expectations>=1,<2)"
_COLUMN_KWARGS = ("column", "column_A", "column_B")
_COLUMN_LIST_KWARGS = ("column_list", "column_set")


def gx_available() -> bool:
    return importlib.util.find_spec("great_expectations") is not None


def normalise_expectations(configs: list[Any], where: str) -> list[dict[str, Any]]:
    """Shape-check expectation configs at definition time, so a typo fails when the code location
    loads rather than halfway through a run. GX itself validates names and kwargs when it runs."""
    out = []
    for i, cfg in enumerate(configs):
        if not isinstance(cfg, dict) or not isinstance(cfg.get("type"), str):
            raise OperatorError(
                f"{where}: expectation #{i} must be a dict like "
                f"{{'type': 'expect_column_values_to_not_be_null', 'kwargs': {{'column': 'x'}}}}; "
                f"got {cfg!r}"
            )
        if not cfg["type"].startswith("expect_"):
            raise OperatorError(
                f"{where}: expectation #{i} type '{cfg['type']}' is not a GX expectation (names start with 'expect_')"
            )
        unknown = set(cfg) - {"type", "kwargs", "meta"}
        if unknown:
            raise OperatorError(
                f"{where}: expectation #{i} ({cfg['type']}) has unknown keys {sorted(unknown)}; "
                "put arguments under 'kwargs'"
            )
        out.append({"type": cfg["type"], "kwargs": dict(cfg.get("kwargs") or {}), "meta": dict(cfg.get("meta") or {})})
    if out and not gx_available():
        raise OperatorError(
            f"{where} declares Great Expectations expectations but great_expectations is not installed; {GX_EXTRA_HINT}"
        )
    return out


def needed_columns(configs: list[dict[str, Any]], available: list[str]) -> list[str]:
    """Columns the suite reads; table-level expectations (row count, column set) need them all."""
    cols: list[str] = []
    for cfg in configs:
        kw = cfg["kwargs"]
        named = [kw[k] for k in _COLUMN_KWARGS if k in kw]
        named += [c for k in _COLUMN_LIST_KWARGS for c in (kw.get(k) or [])]
        if not named:
            return list(available)
        cols += named
    return [c for c in available if c in cols]


@dataclass
class ExpectationOutcome:
    type: str
    kwargs: dict[str, Any]
    success: bool
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    examples: list[Any] = field(default_factory=list)
    observed_value: Any = None
    exception: str | None = None

    @property
    def column(self) -> str | None:
        return self.kwargs.get("column")


@dataclass
class SuiteOutcome:
    success: bool
    results: list[ExpectationOutcome]

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [r for r in self.results if not r.success]


def run_suite(df: Any, configs: list[dict[str, Any]], suite_name: str) -> SuiteOutcome:
    """Validate a pandas DataFrame against expectation configs in a throwaway GX context."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    try:
        import great_expectations as gx
        from great_expectations.data_context.types.base import (
            DataContextConfig,
            InMemoryStoreBackendDefaults,
            ProgressBarsConfig,
        )
        from great_expectations.expectations.expectation_configuration import ExpectationConfiguration
    except ImportError as exc:
        raise OperatorError(f"{suite_name}: great_expectations is not importable ({exc}); {GX_EXTRA_HINT}") from exc
    context = gx.get_context(
        mode="ephemeral",
        project_config=DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(),
            analytics_enabled=False,
            progress_bars=ProgressBarsConfig(globally=False),
        ),
    )
    batch = (
        context.data_sources.add_pandas("dataflow")
        .add_dataframe_asset("snapshot")
        .add_batch_definition_whole_dataframe("all")
        .get_batch(batch_parameters={"dataframe": df})
    )
    suite = gx.ExpectationSuite(name=suite_name)
    for cfg in configs:
        try:
            suite.add_expectation_configuration(
                ExpectationConfiguration(type=cfg["type"], kwargs=cfg["kwargs"], meta=cfg["meta"] or None)
            )
        except Exception as exc:
            raise OperatorError(f"{suite_name}: expectation {cfg['type']} {cfg['kwargs']} is invalid: {exc}") from exc
    suite = context.suites.add(suite)
    result = batch.validate(suite, result_format="SUMMARY")
    outcomes = []
    for res in result.results:
        d = res.to_json_dict()
        cfg, r = d.get("expectation_config") or {}, d.get("result") or {}
        exc_info = d.get("exception_info") or {}
        message = exc_info.get("exception_message") if exc_info.get("raised_exception") else None
        outcomes.append(
            ExpectationOutcome(
                type=cfg.get("type", "?"),
                kwargs={k: v for k, v in (cfg.get("kwargs") or {}).items() if k != "batch_id"},
                success=bool(d.get("success")),
                unexpected_count=r.get("unexpected_count"),
                unexpected_percent=r.get("unexpected_percent"),
                examples=list(r.get("partial_unexpected_list") or [])[:5],
                observed_value=r.get("observed_value"),
                exception=message,
            )
        )
    return SuiteOutcome(success=bool(result.success), results=outcomes)
