"""Dry-run cost plan: how many LLM calls, tokens and dollars a pipeline will take before it runs.

For each LLM step whose input exists (the source file, or an upstream snapshot already in storage),
the plan renders the exact requests the step would send, hashes them into response-cache keys and
looks them up, so cache hits are counted, not guessed. A step whose input is produced by a step that
has not run yet is estimated from the upstream's row count (an upper bound: every row passes) and a
typical prompt, and is marked ``exact=False``. Completion tokens are counted at ``max_tokens`` (the
most a call may cost). Nothing here calls a model.
"""

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb

from dataflow_dagster.core.io_formats import import_file
from dataflow_dagster.core.pipeline import Pipeline, Step
from dataflow_dagster.core.storage import Storage
from dataflow_dagster.llm.cache import ResponseCache
from dataflow_dagster.llm.limits import estimate_tokens
from dataflow_dagster.llm.prices import Price, load_price_table, price_for
from operators.core.contract import Kind
from operators.core.llm import LLMRequest
from operators.core.rowids import ID, source_ids_sql


@dataclass
class StepPlan:
    asset: str
    operator: str
    rows: int
    calls: int  # cache misses: requests that will reach the model
    cache_hits: int
    prompt_tokens: int  # estimated for the calls only
    completion_tokens_max: int
    cost_usd: float | None  # None: the model has no price in the table
    exact: bool  # False: input not materialised yet, figures are an upper-bound estimate
    note: str = ""


@dataclass
class PipelinePlan:
    pipeline: str
    model_id: str
    steps: list[StepPlan] = field(default_factory=list)

    @property
    def totals(self) -> dict[str, Any]:
        costs = [s.cost_usd for s in self.steps if s.cost_usd is not None]
        return {
            "rows": sum(s.rows for s in self.steps),
            "calls": sum(s.calls for s in self.steps),
            "cache_hits": sum(s.cache_hits for s in self.steps),
            "prompt_tokens": sum(s.prompt_tokens for s in self.steps),
            "completion_tokens_max": sum(s.completion_tokens_max for s in self.steps),
            "cost_usd": round(sum(costs), 6) if len(costs) == len(self.steps) else None,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "model_id": self.model_id,
            "steps": [asdict(s) for s in self.steps],
            "totals": self.totals,
        }

    def format_table(self) -> str:
        head = f"{'asset':<40} {'rows':>7} {'calls':>7} {'hits':>7} {'tok_in':>9} {'tok_out<=':>9} {'$':>10}"
        lines = [f"plan for {self.pipeline} on {self.model_id}", head]
        for s in self.steps:
            cost = f"{s.cost_usd:.4f}" if s.cost_usd is not None else "unpriced"
            mark = "" if s.exact else " ~"
            lines.append(
                f"{s.asset:<40} {s.rows:>7} {s.calls:>7} {s.cache_hits:>7} {s.prompt_tokens:>9} "
                f"{s.completion_tokens_max:>9} {cost:>10}{mark}"
            )
        t = self.totals
        cost = f"{t['cost_usd']:.4f}" if t["cost_usd"] is not None else "unpriced"
        lines.append(
            f"{'total':<40} {t['rows']:>7} {t['calls']:>7} {t['cache_hits']:>7} {t['prompt_tokens']:>9} "
            f"{t['completion_tokens_max']:>9} {cost:>10}"
        )
        return "\n".join(lines)


def _input_rows(con: duckdb.DuckDBPyConnection, storage: Storage, pipeline: Pipeline, step: Step) -> str | None:
    """SQL relation of the step's input if it can be read now, else None."""
    up = step.after or pipeline.source.name
    ref = storage.current_ref(pipeline.asset_name(up))
    if ref is not None:
        return ref.read_sql()
    if up == pipeline.source.name:
        have = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        if "__plan_source" not in have:
            import_file(con, pipeline.source_path(), "__plan_source", pipeline.source.format)
            cols = [r[0] for r in con.execute("DESCRIBE __plan_source").fetchall()]
            ids = "SELECT * FROM __plan_source" if ID in cols else source_ids_sql("__plan_source", keep_order=True)
            con.execute(f"CREATE TABLE __plan_rows AS {ids}")  # the ids the source step will give
        return "__plan_rows"
    return None


def _requests(
    con: duckdb.DuckDBPyConnection, relation: str, step: Step, batch: int = 5000
) -> Iterator[list[LLMRequest]]:
    """The requests the step's operator would send, rendered exactly as LLMOperator.run renders them."""
    op, prompt = step.op, step.effective_prompt
    assert prompt is not None
    if hasattr(op, "requests_sql"):  # requests derived from the input (few-shot pools, sentence windows)
        relation = f"({op.requests_sql(relation)})"
    params = op.sampling()  # type: ignore[attr-defined]
    cols = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()}
    needed = sorted({*op.input_columns(), *[f for f in prompt.fields() if f in cols]} & cols)
    select = ", ".join(f'"{c}"' for c in needed) or "1"
    where = op.request_where_sql() if hasattr(op, "request_where_sql") else None  # rows the step would skip
    query = f"SELECT {select} FROM {relation}" + (f" WHERE {where}" if where else "")
    for b in con.cursor().sql(query).to_arrow_reader(batch):
        yield [
            LLMRequest.chat(
                prompt.render(op.prompt_values(r, prompt)),
                prompt.system or None,  # type: ignore[attr-defined]
                params,
                prompt.output_schema,
            )
            for r in b.to_pylist()
        ]


def requests_per_row(step: Step) -> int:
    """Requests one input row costs: ``num_samples`` for n-sample generators (CoT, question synthesis),
    one per listed value for fan-out operators (SQL variations, complexities), else one."""
    fan_values = getattr(step.op, "fan_values", None)
    if callable(fan_values):
        return max(1, len(fan_values()))
    return max(1, int(getattr(step.op.config, "num_samples", 1) or 1))


def _cost(price: Price | None, pt: int, ct: int) -> float | None:
    return round(price.cost(pt, ct), 6) if price is not None else None


def plan(
    pipeline: Pipeline,
    storage: Storage,
    model_id: str,
    prices: dict[str, Any] | None = None,
    steps: Sequence[str] | None = None,
    estimated_rows: dict[str, float] | None = None,
) -> PipelinePlan:
    """Estimate calls, tokens and cost of the pipeline's LLM steps against ``storage``'s cache.

    ``model_id`` is the client's (``resource.create_client().model_id``): it is part of every cache key.
    ``prices`` is a price table as in ``LLMResource.prices``. ``estimated_rows`` (step -> rows in, from
    a dry run) replaces the upstream-row-count guess for steps whose input does not exist yet: a dry
    run knows how generators multiply rows and what rule filters drop.
    """
    table = load_price_table(prices)
    served = model_id.split("/", 1)[-1]
    price = price_for(table, model_id, served)
    cache = ResponseCache(storage.cache_path)
    out = PipelinePlan(pipeline.name, model_id)
    est_rows: dict[str, int] = {}
    con = duckdb.connect()
    try:
        for step in pipeline.steps:
            asset = pipeline.asset_name(step.name)
            relation = _input_rows(con, storage, pipeline, step)
            if relation is not None:
                rows_in = int(con.execute(f"SELECT count(*) FROM {relation}").fetchall()[0][0])
            elif estimated_rows and step.name in estimated_rows:
                rows_in = round(estimated_rows[step.name])
            else:
                rows_in = est_rows.get(step.after or "", 0)
            fan = requests_per_row(step)
            est_rows[step.name] = rows_in * (fan if step.op.kind == Kind.GENERATE else 1)
            if not step.op.needs_llm or step.effective_prompt is None:
                continue
            if not hasattr(step.op, "prompt_values"):
                out.steps.append(
                    StepPlan(
                        asset,
                        step.op.name,
                        rows_in,
                        rows_in,
                        0,
                        0,
                        0,
                        None,
                        False,
                        "operator does not expose its prompt rendering",
                    )
                )
                continue
            if relation is None:
                sample = step.effective_prompt.render({f: "x" * 200 for f in step.effective_prompt.fields()})
                req = LLMRequest.chat(
                    sample,
                    step.effective_prompt.system or None,
                    step.op.sampling(),
                    step.effective_prompt.output_schema,
                )  # type: ignore[attr-defined]
                pt = (estimate_tokens(req) - req.params.max_tokens) * rows_in * fan
                ct = req.params.max_tokens * rows_in * fan
                out.steps.append(
                    StepPlan(
                        asset,
                        step.op.name,
                        rows_in,
                        rows_in * fan,
                        0,
                        pt,
                        ct,
                        _cost(price, pt, ct),
                        False,
                        f"input '{step.after}' not materialised: estimated, 200-char fields",
                    )
                )
                continue
            calls = hits = pt = ct = 0
            seen: set[str] = set()
            for reqs in _requests(con, relation, step):
                keys = [r.cache_key(model_id) for r in reqs]
                cached = cache.contains(list(set(keys) - seen))
                for k, r in zip(keys, reqs, strict=True):
                    if k in cached or k in seen:  # a duplicate prompt is one call, answered once
                        hits += 1
                        continue
                    seen.add(k)
                    calls += 1
                    pt += estimate_tokens(r) - r.params.max_tokens
                    ct += r.params.max_tokens
            out.steps.append(StepPlan(asset, step.op.name, rows_in, calls, hits, pt, ct, _cost(price, pt, ct), True))
    finally:
        con.close()
    return out
