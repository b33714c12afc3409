"""Filters as "metric + predicate", so every filter is also an evaluator.

A DataFlow filter computes one number per row (a word count, a ratio, a score) and keeps the row if
the number passes a test. Splitting the two lets the same class run as a filter (keep/reject with
the measured value in ``_reason``) or as an evaluator (the metric written as a column, the test
left to a later ``ThresholdFilter`` or asset check), with one definition of the metric.

Metrics are SQL expressions (lazy views, DuckDB streams them) or, where SQL cannot express them,
vectorised numpy/Arrow code over record batches (``BatchMetricFilter``): batches are pulled from a
cursor, scored, and appended to a DuckDB table keyed by ``__pos``, so memory stays bounded by the
batch size whatever the table size.
"""

import itertools
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from operators.core.contract import Kind, Operator, OperatorContext, RowSQL, quote_ident, quote_literal
from operators.core.sql_ops import POS, TextConfig
from operators.general_text import native
from operators.general_text.textsql import text_present

_uid = itertools.count()


class MetricFilter(Operator):
    """A rule filter defined by named metrics (SQL) and a keep predicate over them."""

    kind: ClassVar[Kind] = Kind.FILTER
    Config = TextConfig
    tags: ClassVar[tuple[str, ...]] = ("heuristic", "pretrain")
    # DataFlow's ``if text: ... else: reject``: empty/NULL text is dropped before the metric is tested.
    rejects_empty: ClassVar[bool] = True
    row_local: ClassVar[bool] = True  # each row's outcome depends on that row alone: refreshes reuse the memo
    fusable: ClassVar[bool] = True

    def input_columns(self) -> list[str]:
        return [self.config.input_key]  # type: ignore[attr-defined]

    def output_columns(self) -> list[str]:
        return []

    def col(self) -> str:
        return quote_ident(self.config.input_key)  # type: ignore[attr-defined]

    # ---- to override ---------------------------------------------------------------------------
    def metrics_sql(self) -> dict[str, str]:
        """Metric name -> SQL expression over the input columns."""
        raise NotImplementedError

    def keep_sql(self, m: dict[str, str]) -> str:
        """Keep predicate; ``m`` maps metric names to the column holding each value."""
        raise NotImplementedError

    def prepare(self, ctx: OperatorContext) -> None:
        """Create helper tables/macros the metric SQL needs."""

    def fast_keep_sql(self) -> str | None:
        """An equivalent keep test (NULL/empty handling included) cheaper than the metrics, or None.

        Kept rows then never pay for the metrics; only rejected rows compute them, for ``_reason``.
        """
        return None

    # ---- machinery -----------------------------------------------------------------------------
    def register_native(self, ctx: OperatorContext) -> None:
        """Create the native ``df_*`` functions this filter's SQL may call on ``ctx.con`` (views bind
        their functions when created). Generating the metric SQL first registers its word sets."""
        if native.enabled():
            self.metrics_sql()
            native.register(ctx.con)

    def metric_columns(self) -> dict[str, str]:
        return {name: f"__m_{name}" for name in self.metrics_sql()}

    def scored(self, ctx: OperatorContext, where: str | None = None) -> str:
        """Name of a relation: the source (rows passing ``where``) plus one ``__m_<metric>`` column per metric."""
        self.register_native(ctx)
        self.prepare(ctx)
        name = f"__scored_{next(_uid)}"
        cols = ", ".join(
            f"({expr}) AS {quote_ident(self.metric_columns()[k])}" for k, expr in self.metrics_sql().items()
        )
        src = quote_ident(ctx.source or "")
        if where:
            src = f"(SELECT * FROM {src} WHERE {where})"
        ctx.con.execute(f"CREATE VIEW {quote_ident(name)} AS SELECT *, {cols} FROM {src}")
        return name

    def full_keep_sql(self) -> str:
        """The keep test, NULL meaning "drop". Deliberately not wrapped in coalesce(): DuckDB pushes
        the filter below the metric projection, and inside one wrapped expression each mention of a
        metric is computed again (2x the cost); a plain conjunction is split and stays cheap."""
        keep = self.keep_sql({k: quote_ident(v) for k, v in self.metric_columns().items()})
        if self.rejects_empty:
            keep = f"{text_present(self.col())} AND ({keep})"
        return f"({keep})"

    def reason_sql(self, m: dict[str, str] | None = None) -> str:
        """Why a row was dropped; ``m`` maps metric names to SQL holding each value (default: the
        ``__m_<metric>`` columns of ``scored``)."""
        m = m or {k: quote_ident(v) for k, v in self.metric_columns().items()}
        shown = "coalesce(regexp_replace(round({}::DOUBLE, 4)::VARCHAR, '\\.0$', ''), 'NULL')"
        parts = [f"'{k}=' || " + shown.format(m[k]) for k in self.metric_columns()]
        measured = f"{quote_literal(self.name + ': ')} || " + " || ', ' || ".join(parts)
        if not self.rejects_empty:
            return measured
        empty = quote_literal(self.name + ": empty text")
        return f"CASE WHEN {text_present(self.col())} THEN {measured} ELSE {empty} END"

    def inline_keep_sql(self) -> str:
        """The keep test over the source with each metric computed exactly once per row.

        Filtering a projection of the metrics lets DuckDB push the test below the projection and
        substitute every mention of a metric with its expression, evaluated again each time (2x and
        more). Binding the metrics to one lambda parameter (``list_transform([struct], lambda m:
        ...)[1]``) is a "let" the optimizer cannot duplicate.
        """
        metrics = self.metrics_sql()
        marks = {k: f"__metric_{i}__" for i, k in enumerate(metrics)}
        probe = self.keep_sql(marks)
        if all(probe.count(mark) <= 1 for mark in marks.values()):  # each metric used once: no "let" needed
            inline = probe
            for k, mark in marks.items():
                inline = inline.replace(mark, f"({metrics[k]})")
        else:
            inline = self.metrics_let(self.keep_sql({k: f"__m.{quote_ident(k)}" for k in metrics}))
        return f"({text_present(self.col())} AND {inline})" if self.rejects_empty else inline

    def metrics_let(self, body: str) -> str:
        """``body`` (SQL using ``__m."<metric>"``) with every metric computed once for the row."""
        packed = ", ".join(f"{quote_ident(k)} := ({expr})" for k, expr in self.metrics_sql().items())
        return f"list_transform([struct_pack({packed})], lambda __m: ({body}))[1]"

    def row_sql(self, ctx: OperatorContext) -> RowSQL:
        self.register_native(ctx)
        self.prepare(ctx)
        reason = self.reason_sql({k: f"__m.{quote_ident(k)}" for k in self.metrics_sql()})
        return RowSQL(keep=self.fast_keep_sql() or self.inline_keep_sql(), reason=self.metrics_let(reason))

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        self.register_native(ctx)
        hidden = ", ".join(quote_ident(v) for v in self.metric_columns().values())
        fast = self.fast_keep_sql()
        if fast is not None:
            src = quote_ident(ctx.source or "")
            ctx.con.execute(f"CREATE VIEW {quote_ident(ctx.target)} AS SELECT * FROM {src} WHERE {fast}")
            scored = quote_ident(self.scored(ctx, where=f"({fast}) IS NOT TRUE"))  # NULL: rejected, never lost
            ctx.con.execute(
                f"CREATE VIEW {quote_ident(ctx.rejected)} AS SELECT * EXCLUDE ({hidden}), "
                f"({self.reason_sql()})::VARCHAR AS _reason FROM {scored}"
            )
            return {}
        scored = quote_ident(self.scored(ctx))
        keep = self.full_keep_sql()
        if isinstance(self, BatchMetricFilter):
            target = f"SELECT * EXCLUDE ({hidden}) FROM {scored} WHERE {keep}"
        else:
            target = f"SELECT * FROM {quote_ident(ctx.source or '')} WHERE {self.inline_keep_sql()}"
        ctx.con.execute(f"CREATE VIEW {quote_ident(ctx.target)} AS {target}")
        ctx.con.execute(
            f"CREATE VIEW {quote_ident(ctx.rejected)} AS SELECT * EXCLUDE ({hidden}), "
            f"({self.reason_sql()})::VARCHAR AS _reason FROM {scored} WHERE {keep} IS NOT TRUE"
        )
        return {}

    def run_evaluate(self, ctx: OperatorContext, output_keys: dict[str, str]) -> None:
        """Evaluator mode: write the metrics as columns (``output_keys``: metric -> column name)."""
        scored = quote_ident(self.scored(ctx))
        existing = set(ctx.columns())
        clash = [c for c in output_keys.values() if c in existing]
        exclude = ", ".join(quote_ident(c) for c in clash)
        hidden = ", ".join(quote_ident(v) for v in self.metric_columns().values())
        exclude_all = f"{hidden}{', ' + exclude if clash else ''}"
        outs = ", ".join(
            f"{quote_ident(self.metric_columns()[k])} AS {quote_ident(col)}" for k, col in output_keys.items()
        )
        ctx.con.execute(
            f"CREATE VIEW {quote_ident(ctx.target)} AS SELECT * EXCLUDE ({exclude_all}), {outs} FROM {scored}"
        )


class BatchMetricFilter(MetricFilter):
    """A metric filter whose metrics are computed by vectorised Python over Arrow record batches."""

    batch_rows: ClassVar[int] = 20_000
    fusable: ClassVar[bool] = False  # its metrics come from Python over record batches, not row SQL
    metric_types: ClassVar[dict[str, str]] = {}

    def metrics_sql(self) -> dict[str, str]:  # the metric columns come from the scores table
        return {k: "NULL" for k in self.metric_types}

    def input_sql(self) -> str:
        """What each batch carries besides ``__pos``: SQL over the input (may pre-tokenise)."""
        return f"{self.col()} AS text"

    def compute(self, batch: pa.RecordBatch) -> dict[str, np.ndarray | pa.Array]:
        raise NotImplementedError

    def scored(self, ctx: OperatorContext, where: str | None = None) -> str:
        self.prepare(ctx)
        n = next(_uid)
        table, name = f"__scores_{n}", f"__scored_{n}"
        cols = ", ".join(f"{quote_ident(self.metric_columns()[k])} {t}" for k, t in self.metric_types.items())
        src = quote_ident(ctx.source or "")
        if where:
            src = f"(SELECT * FROM {src} WHERE {where})"
        ctx.con.execute(f"CREATE TABLE {quote_ident(table)} ({POS} BIGINT, {cols})")
        reader = ctx.con.cursor().sql(f"SELECT {POS}, {self.input_sql()} FROM {src}").to_arrow_reader(self.batch_rows)
        total = ctx.con.execute(f"SELECT count(*) FROM {src}").fetchall()[0][0]
        done = 0
        for batch in reader:
            if batch.num_rows == 0:
                continue
            values = self.compute(batch)
            arrays = [batch.column(0)] + [
                pa.array(values[k]) if not isinstance(values[k], pa.Array) else values[k] for k in self.metric_types
            ]
            out = pa.Table.from_arrays(arrays, names=[POS, *self.metric_columns().values()])
            view = f"__batch_{n}"
            ctx.con.register(view, out)
            ctx.con.execute(f"INSERT INTO {quote_ident(table)} SELECT * FROM {quote_ident(view)}")
            ctx.con.unregister(view)
            done += batch.num_rows
            ctx.progress(done, total)
        hidden = ", ".join(f"sc.{quote_ident(v)}" for v in self.metric_columns().values())
        ctx.con.execute(
            f"CREATE VIEW {quote_ident(name)} AS SELECT s.*, {hidden} FROM {src} s "
            f"LEFT JOIN {quote_ident(table)} sc ON s.{POS} = sc.{POS}"
        )
        return name
