"""Evaluator/filter pairs whose per-row score comes from a model computation (not a chat answer).

DataFlow pairs each model scorer with a filter that recomputes the score and keeps a range
(``PerplexitySampleEvaluator`` / ``PerplexityFilter``, ...). Here the filter is the evaluator with
``min_score``/``max_score``: the score column is written on kept and rejected rows alike, rows
without a score (empty text) are rejected with that reason. Input streams in Arrow batches, scores
land in a DuckDB table keyed by ``_id``, and the join back is SQL.
"""

from typing import Any, ClassVar

from operators.core.batches import insert_rows
from operators.core.contract import Kind, OpConfig, Operator, OperatorContext, quote_ident
from operators.core.judge_filter import assemble_keep, join_columns
from operators.core.rowids import ID
from operators.scoring.source import source_id


class RangeMixin(OpConfig):
    min_score: float | None = None
    max_score: float | None = None


def range_sql(expr: str, lo: float | None, hi: float | None) -> str:
    parts = [f"{expr} IS NOT NULL"]
    if lo is not None:
        parts.append(f"{expr} >= {float(lo)!r}")
    if hi is not None:
        parts.append(f"{expr} <= {float(hi)!r}")
    return " AND ".join(parts)


class BatchScoreOperator(Operator):
    """Subclasses set ``Config`` (with ``output_key``), ``score_inputs()`` and ``score_batch(rows)``."""

    kind: ClassVar[Kind] = Kind.EVALUATE
    row_local: ClassVar[bool] = True
    rows_per_batch: ClassVar[int] = 16

    def input_columns(self) -> list[str]:
        return self.score_inputs()

    def output_columns(self) -> list[str]:
        return [self.config.output_key]  # type: ignore[attr-defined]

    def score_inputs(self) -> list[str]:
        raise NotImplementedError

    def optional_inputs(self) -> list[str]:
        return []

    def score_batch(self, rows: list[dict[str, Any]]) -> list[float | None]:
        raise NotImplementedError

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        out = f"{ctx.target}__scores"
        ctx.con.execute(f"CREATE TABLE {quote_ident(out)} ({ID} VARCHAR, score DOUBLE)")
        present = set(ctx.columns())
        cols = sorted({ID, *self.score_inputs(), *(c for c in self.optional_inputs() if c in present)})
        reader = ctx.con.cursor().sql(
            f"SELECT {', '.join(quote_ident(c) for c in cols)} FROM {quote_ident(ctx.source or '')}"
        )
        total, done, scored = ctx.count(), 0, 0
        for batch in reader.to_arrow_reader(self.rows_per_batch):
            rows = batch.to_pylist()
            scores = self.score_batch(rows)
            insert_rows(ctx, out, {ID: [r[ID] for r in rows], "score": scores})
            done += len(rows)
            scored += sum(s is not None for s in scores)
            ctx.progress(done, total)
        key = self.config.output_key  # type: ignore[attr-defined]
        if self.kind == Kind.FILTER:
            c = self.config
            keep = range_sql("o.score", c.min_score, c.max_score)  # type: ignore[attr-defined]
            why = f"'{key}=' || coalesce(round(o.score, 4)::VARCHAR, 'NULL (nothing to score)') || ' outside the range'"
            assemble_keep(ctx, self.name, keep, {key: "o.score"}, why, answers=out)
        else:
            join_columns(ctx, out, {key: "o.score"})
        return {"scored_rows": scored, "unscored_rows": done - scored, "scored_by": source_id(self.config)}
