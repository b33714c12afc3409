"""Dry run: execute a pipeline on a sample of its source rows in scratch storage, without a model.

Static key checks (``Pipeline.check``) cannot see types: a length filter pointed at an integer column
or an evaluator's metric SQL over a text column only fails when DuckDB binds the query. So rule steps
run for real on the first rows, through the same ``runner.run_step`` a materialisation uses. LLM steps
run through the real operator code too, but against ``PlaceholderLLM``, which answers every request
with the smallest value its output schema accepts: prompts are rendered for every sampled row (a
missing template field fails here), answers are parsed and validated, and downstream steps receive
columns of the right names and types. No model is called and the user's cache is never touched.

The row counts that reach each LLM step, scaled to the full source, give the call estimate; tokens
are estimated from the rendered prompt length (characters / 4). ``dataflow_dagster.core.plan`` adds the
cache-aware figures (real requests, response-cache hits, cost) for steps whose input exists.
"""

import hashlib
import json
import logging
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import duckdb

from dataflow_dagster.core.io_formats import detect_format
from dataflow_dagster.core.pipeline import Pipeline
from dataflow_dagster.core.plan import requests_per_row
from dataflow_dagster.core.runner import StepOutcome, check_metric, run_source, run_step
from dataflow_dagster.core.storage import Storage
from operators.core.contract import Kind, OperatorError, quote_literal
from operators.core.llm import LLMRequest, LLMResponse

CHARS_PER_TOKEN = 4
_quiet = logging.getLogger("dataflow.dryrun")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


def placeholder_value(schema: dict[str, Any] | None, salt: str = "") -> Any:
    """A value the schema accepts; the last enum option / the maximum / the last ``anyOf`` branch, so
    score gates let rows through, dialogues end and downstream estimates are upper bounds. Strings
    carry ``salt`` (a hash of the request) and are at least 80 characters (a dozen words) where the
    schema allows: identical or tiny placeholders would be removed by dedup and length filters
    downstream and make the estimate collapse."""
    if not schema:
        return f"dry-run {salt}".strip()
    for alternatives in ("anyOf", "oneOf"):  # the last branch: a dialogue's "final answer" turn ends it
        if schema.get(alternatives):
            return placeholder_value(schema[alternatives][-1], salt)
    if "enum" in schema:
        return schema["enum"][-1]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type", "string")
    kind = kind[0] if isinstance(kind, list) else kind
    if kind == "object":
        props = schema.get("properties", {})
        return {k: placeholder_value(v, salt) for k, v in props.items()}
    if kind == "array":
        return [placeholder_value(schema.get("items"), salt) for _ in range(int(schema.get("minItems", 1)))]
    if kind in ("integer", "number"):
        v = schema.get("maximum", schema.get("minimum", 1))
        return int(v) if kind == "integer" else float(v)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    text = f"dry run placeholder {salt} ".lstrip()
    lo, hi = int(schema.get("minLength", 0)), int(schema.get("maxLength", 10_000))
    want = max(lo, 80)  # about a dozen words: a generated question or answer, not a fragment
    text = (text * (want // len(text) + 1))[:want]
    return text[:hi]


class PlaceholderLLM:
    """An LLMClient that answers from the output schema alone (see module docstring)."""

    model_id = "dry-run/placeholder"

    def generate(self, requests: Sequence[LLMRequest]) -> list[LLMResponse]:
        out = []
        for req in requests:
            schema = req.schema_dict()
            salt = hashlib.sha256(repr(req.messages).encode()).hexdigest()[:8]
            value = placeholder_value(schema, salt)
            text = json.dumps(value) if schema is not None else str(value)
            chars = sum(len(c) for _, c in req.messages)
            out.append(
                LLMResponse(
                    text=text,
                    prompt_tokens=max(1, chars // CHARS_PER_TOKEN),
                    completion_tokens=max(1, len(text) // CHARS_PER_TOKEN),
                    model=self.model_id,
                )
            )
        return out


@dataclass
class StepPlan:
    step: str
    op: str
    kind: str
    needs_llm: bool
    status: str = "skipped"  # ok | failed | skipped
    message: str = ""
    rows_in: int | None = None
    rows_out: int | None = None
    columns: list[str] = field(default_factory=list)
    est_rows_in: float | None = None
    est_calls: int = 0
    est_prompt_tokens: int = 0
    est_completion_tokens_max: int = 0
    checks: dict[str, float | None] = field(default_factory=dict)


@dataclass
class PlanReport:
    pipeline: str
    sample_rows: int
    source_rows: int | None
    steps: list[StepPlan]
    estimate_note: str = ""
    source_error: str = ""

    @property
    def ok(self) -> bool:
        return not self.source_error and all(s.status == "ok" for s in self.steps)

    def first_failure(self) -> str:
        if self.source_error:
            return self.source_error
        bad = next((s for s in self.steps if s.status == "failed"), None)
        return f"step '{bad.step}' ({bad.op}): {bad.message}" if bad else ""

    def totals(self) -> dict[str, int]:
        return {
            "calls": sum(s.est_calls for s in self.steps),
            "prompt_tokens": sum(s.est_prompt_tokens for s in self.steps),
            "completion_tokens_max": sum(s.est_completion_tokens_max for s in self.steps),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "ok": self.ok,
            "sample_rows": self.sample_rows,
            "source_rows": self.source_rows,
            "source_error": self.source_error,
            "estimate_note": self.estimate_note,
            "totals": self.totals(),
            "steps": [s.__dict__ for s in self.steps],
        }


def sample_source(pipeline: Pipeline, n: int, folder: Path) -> tuple[Path, int | None]:
    """The first ``n`` rows as Parquet, and the full row count (None when the file cannot be counted)."""
    path = pipeline.source_path()
    if not path.exists():
        raise OperatorError(f"pipeline '{pipeline.name}': source file {path} does not exist")
    fmt = detect_format(path, pipeline.source.format)
    lit = quote_literal(str(path))
    reader = {
        "jsonl": f"read_json({lit}, format='newline_delimited', records=true)",
        "json": f"read_json({lit}, format='auto', records=true)",
        "csv": f"read_csv({lit}, header=true)",
        "parquet": f"read_parquet({lit})",
    }[fmt]
    out = folder / "sample.parquet"
    con = duckdb.connect()
    try:
        con.execute(f"COPY (SELECT * FROM {reader} LIMIT {int(n)}) TO {quote_literal(str(out))} (FORMAT parquet)")
        try:
            total = int(con.execute(f"SELECT count(*) FROM {reader}").fetchall()[0][0])
        except duckdb.Error:
            total = None
    except duckdb.Error as exc:
        raise OperatorError(f"could not read {path} as {fmt}: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()
    return out, total


def _descendants(pipeline: Pipeline, name: str) -> set[str]:
    out, frontier = set(), {name}
    while frontier:
        nxt = {s.name for s in pipeline.steps if s.after in frontier}
        out |= nxt
        frontier = nxt
    return out


def _pass_through(storage: Storage, pipeline: Pipeline, step_name: str, out: StepOutcome) -> None:
    """Publish an LLM filter's input as its output. Placeholder answers cannot say which rows a judge
    would keep (the smallest valid answer is often "no"), so rejecting on them would zero every
    estimate downstream; keeping every row makes the plan an upper bound instead."""
    step = pipeline.step(step_name)
    up = storage.require_ref(pipeline.asset_name(step.after or pipeline.source.name))
    refs = {**out.refs, "table": up}
    refs.pop("rejected", None)
    storage.publish(out.asset, refs, {**out.lineage, "rows_out": up.row_count, "rejected_rows": 0})
    out.refs = refs


def dry_run(pipeline: Pipeline, sample_rows: int = 20, scratch: str | Path | None = None) -> PlanReport:
    """Run every step on ``sample_rows`` source rows in throw-away storage; never raises for step errors."""
    steps = [StepPlan(s.name, s.op.name, str(s.op.kind), s.op.needs_llm) for s in pipeline.steps]
    report = PlanReport(pipeline.name, sample_rows, None, steps)
    tmp = Path(tempfile.mkdtemp(prefix="dataflow-plan-", dir=scratch))
    try:
        try:
            sample, report.source_rows = sample_source(pipeline, sample_rows, tmp)
            trial = replace(
                pipeline, source=replace(pipeline.source, path=str(sample), format="parquet"), base_dir=None
            )
            storage = Storage(tmp / "store")
            src = run_source(storage, trial, log=_quiet)
        except OperatorError as exc:
            report.source_error = str(exc)
            return report
        sampled = src.table.row_count
        scale = (report.source_rows or sampled) / sampled if sampled else 0.0
        blocked: set[str] = set()
        for step, plan in zip(pipeline.steps, steps, strict=True):
            if step.name in blocked:
                plan.message = "skipped: an upstream step failed"
                continue
            try:
                out = run_step(
                    storage, trial, step.name, llm=PlaceholderLLM() if step.op.needs_llm else None, log=_quiet
                )
                plan.checks = {spec.name: check_metric(spec, out.refs) for spec in step.op.checks()}
            except (OperatorError, duckdb.Error, ValueError, KeyError, TypeError) as exc:
                plan.status = "failed"
                kind = "SQL/type error" if isinstance(exc, duckdb.Error) else ""
                plan.message = f"{kind + ': ' if kind else ''}{str(exc).splitlines()[0]}"
                blocked |= _descendants(pipeline, step.name)
                continue
            lin = out.lineage
            if step.op.needs_llm and step.op.kind == Kind.FILTER:
                _pass_through(storage, trial, step.name, out)
                plan.message = "LLM filter counted as pass-through (every row kept): downstream is an upper bound"
            plan.status, plan.rows_in, plan.rows_out = "ok", lin["rows_in"], out.table.row_count
            plan.columns = [c for c, _ in out.table.columns]
            plan.est_rows_in = round(lin["rows_in"] * scale, 1)
            if step.op.needs_llm:
                # requests, not rows: n samples per row for CoT-style generators, one per listed variation
                calls = lin["rows_in"] * requests_per_row(step)
                avg_prompt = lin["tokens"]["prompt"] / max(1, lin["cache"]["misses"])  # tokens of sent requests
                plan.est_calls = round(calls * scale)
                plan.est_prompt_tokens = round(avg_prompt * plan.est_calls)
                max_tokens = int(getattr(step.op.config, "max_tokens", 256))
                plan.est_completion_tokens_max = max_tokens * plan.est_calls
        report.estimate_note = (
            "calls = requests each LLM step sends for the sample, scaled to the source row count; an upper "
            "bound: LLM filters are counted as keeping every row and placeholder answers pass every score "
            "gate (a real run sends fewer); prompt tokens = rendered prompt characters / 4; completion "
            "tokens are bounded by max_tokens"
        )
        return report
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
