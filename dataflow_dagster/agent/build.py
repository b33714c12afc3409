"""Orchestrates one agent request and owns the guarantee: no file unless it loads, dry-runs and builds."""

import hashlib
import os
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from dataflow_dagster.agent import compose
from dataflow_dagster.agent.intent import Intent, parse_intent
from dataflow_dagster.agent.model_plan import is_capable, propose
from dataflow_dagster.agent.planner import AgentRefusal, Compiled, DataProfile, Planner, Selection, profile_data
from dataflow_dagster.agent.recipes import match_recipe
from dataflow_dagster.agent.retrieval import OperatorIndex
from dataflow_dagster.agent.synthesis import model_prompt
from dataflow_dagster.agent.target import apply_stated_counts, size_generators, target_cost
from dataflow_dagster.core.dryrun import PlanReport, dry_run
from dataflow_dagster.core.pipeline import Pipeline, Source
from dataflow_dagster.core.yaml_loader import dump_pipeline, load_pipeline_file
from operators.core.contract import OperatorError
from operators.core.llm import LLMClient
from operators.core.registry import all_operators


@dataclass
class AgentResult:
    path: Path
    pipeline: Pipeline
    plan: PlanReport
    selection: str  # "recipe", "llm" or "retrieval": which path decided the steps
    model: str
    intent: Intent
    notes: list[str] = field(default_factory=list)


def pipeline_name(request: str) -> str:
    words = [w.lower() for w in re.findall(r"[A-Za-z]{3,}", request)][:4]
    digest = hashlib.sha256(request.encode()).hexdigest()[:6]
    return "_".join(["agent", *words, digest])


def placeholder_verdict(pipeline: Pipeline, report: PlanReport) -> str | None:
    """Why a dry run's zero survivors are no evidence, or None when they are.

    The dry run answers LLM steps with placeholders (the smallest value the schema accepts), so a rule
    filter whose input derives from an LLM step's output (tests written by the model, then executed)
    judges placeholders, not data. Its verdict on the sample says nothing about a real run; a filter on
    the source's own columns (``ExecutionStatusFilter(input_key: code)``) is judged for real.
    """
    tainted: dict[str, str] = {}
    rows = {s.step: s.rows_out for s in report.steps}
    for step in pipeline.steps:
        op = step.op
        src = next((tainted[c] for c in op.input_columns() if c in tainted), None)
        if rows.get(step.name) == 0:
            if src is None:
                return None
            return f"step '{step.name}' ({op.name}) judges placeholder answers of LLM step '{src}'"
        origin = step.name if op.needs_llm else src
        if origin is not None:
            tainted.update({c: origin for c in op.output_columns()})
    return None


def _validate(path: Path, sample_rows: int) -> tuple[Pipeline, PlanReport, list[str]]:
    """The written file, loaded back as a user would load it, must dry-run and build Definitions."""
    pipeline = load_pipeline_file(path)
    report = dry_run(pipeline, sample_rows)
    if not report.ok:
        raise AgentRefusal(f"the compiled pipeline failed its dry run: {report.first_failure()}")
    last = report.steps[-1] if report.steps else None
    notes: list[str] = []
    unjudged = placeholder_verdict(pipeline, report) if last is not None and last.rows_out == 0 else None
    if unjudged:
        notes.append(f"survivors not judged by the dry run: {unjudged}; the real model's output decides")
    elif last is not None and last.rows_out == 0:
        raise AgentRefusal(
            f"the compiled pipeline keeps no rows in its dry run (step '{last.step}' ({last.op}) leaves 0 of "
            f"{last.rows_in}); a pipeline that drops every sample row does not do what was asked"
        )
    # Dagster only now: `dataflow-dagster` commands that never reach here start without importing it.
    from dagster import Definitions

    from dataflow_dagster.defs.factory import build_definitions

    try:
        Definitions.validate_loadable(build_definitions([pipeline]))
    except Exception as exc:  # any Dagster definition error means the file must not be handed out
        raise AgentRefusal(f"the compiled pipeline does not load in Dagster: {exc}") from None
    return pipeline, report, notes


def _compile(
    planner: Planner, sel: Selection, intent: Intent, data: DataProfile, name: str
) -> tuple[Pipeline, Compiled]:
    recipe = match_recipe(intent, data) if sel.by == "recipe" else None
    source = recipe.source if recipe is not None else None
    if recipe is not None:
        before, lead = compose.prefix(planner, intent, data, recipe, sel)
        after = compose.suffix(planner, intent, data, recipe, sel, lead)
        notes = [f"recipe {recipe.recipe}", *before.notes, *recipe.notes, *after.notes]
        compiled = Compiled(before.steps + recipe.steps + after.steps, notes)
        compiled.source_columns = sorted({*before.source_columns, *recipe.source_columns})
        missing: list[str] = []
    else:
        compiled = planner.compile(sel.names, intent, data, sel.preset, sel.bind, sel.settings)
        missing = [a for a in intent.actions if not any(_serves(s.op, a) for s in compiled.steps)]
    if missing or not compiled.steps:
        raise AgentRefusal(
            f"could not wire an operator for {missing or intent.actions} on the columns of "
            f"{data.path} ({list(data.columns)}); notes: {compiled.notes}"
        )
    compiled.notes += apply_stated_counts(compiled.steps, intent.request)
    if intent.count:
        compiled.notes += size_generators(compiled.steps, intent.count, _row_count(source or data.path))
    count = f"; target about {intent.count:,} rows" if intent.count else ""
    pipeline = Pipeline(
        name=name,
        description=f"Written by dataflow-dagster agent from: {intent.request}{count}",
        source=Source(path=str((source or data.path).resolve()), required_columns=compiled.source_columns),
        steps=compiled.steps,
    )
    return pipeline, compiled


# a column that says what the data is, when the request names no domain
DATA_DOMAINS: dict[str, tuple[str, ...]] = {"code": ("code", "raw_code", "source_code"), "text2sql": ("sql", "SQL")}


def _cleans(intent: Intent, index: OperatorIndex) -> bool:
    """Every clause cleans, filters or rewrites, with words a registered operator's description
    has ("fix spelling mistakes"): an operation on the given file, even without a data noun. A
    request outside data preparation ("delete my account") has no such words."""
    from dataflow_dagster.agent.decompose import object_words

    if not intent.clauses or any(c.slot not in ("refine", "filter", "dedup") for c in intent.clauses):
        return False
    return all(max(index.scores_for(object_words(c.text)).values(), default=0.0) >= 5.0 for c in intent.clauses)


def _row_count(path: Path) -> int:
    import duckdb

    from dataflow_dagster.core.io_formats import detect_format, reader_sql

    with duckdb.connect() as con:
        return int(con.execute(f"SELECT count(*) FROM {reader_sql(path, detect_format(path))}").fetchone()[0])


def _decided_by(sel: Selection, op_name: str) -> str:
    if sel.by == "recipe" and op_name in sel.decided:
        return sel.decided[op_name]
    if sel.by == "recipe":
        return f"recipe {sel.note}"
    if sel.by == "llm" and op_name in sel.decided:
        return sel.decided[op_name]
    if sel.by == "llm":
        return "model (decomposition validated against the request)" if op_name in sel.names else "contract"
    return sel.decided.get(op_name, "contract (an input the chosen steps need)")


def _serves(op: object, action: str) -> bool:
    from dataflow_dagster.agent.planner import _slot_of

    return _slot_of(type(op)) == action  # type: ignore[arg-type]


def build_pipeline(
    request: str,
    data: str | Path | None,
    out_dir: str | Path,
    llm: LLMClient | None = None,
    name: str | None = None,
    overwrite: bool = False,
    sample_rows: int = 20,
) -> AgentResult:
    """Turn ``request`` into ``out_dir/<name>.yaml``; raises AgentRefusal (nothing written) if it cannot."""
    intent = parse_intent(request)
    planner: Planner | None = None
    given: DataProfile | None = None
    if intent.unnamed_data and data is not None and Path(data).is_file():
        # "drop the products whose price is below 0": the column it names says which data is meant;
        # "use minhash to remove near duplicates": a deduplication or a stated limit acts on the given file
        planner, given = Planner(all_operators(), llm), profile_data(Path(data))
        columns = {c.lower() for c in given.columns if not c.startswith("_")}
        acts_on_rows = any(c.slot == "dedup" or c.limits for c in intent.clauses) or _cleans(intent, planner.index)
        if acts_on_rows or columns & set(re.findall(r"[a-z0-9_]+", request.lower())):
            intent.refusal = None
    if intent.refusal:
        raise AgentRefusal(intent.refusal)
    data_path = Path(data or intent.data_path or "")
    if not str(data or intent.data_path or ""):
        raise OperatorError("no input data: pass --data FILE (jsonl/json/csv/parquet) or name the file in the request")
    if not data_path.is_file():
        raise OperatorError(f"input data {data_path} does not exist")
    profile = given if given is not None and given.path == data_path else profile_data(data_path)
    if not intent.domains:  # "drop auto-generated files" on a table with a code column is about code
        intent.domains += [d for d, cols in DATA_DOMAINS.items() if any(c in profile.columns for c in cols)]
    name = name or pipeline_name(request)
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    final = out / f"{name}.yaml"
    if final.exists() and not overwrite:
        raise OperatorError(f"{final} exists; pass --name NEW or --force to replace it")
    planner = planner or Planner(all_operators(), llm)
    attempts: list[Selection] = []
    notes: list[str] = []
    recipe = match_recipe(intent, profile)
    sql_data = any(c.lower() in ("sql", "db_id", "query", "gold_sql") for c in profile.columns)
    if "text2sql" in intent.domains and recipe is None and not sql_data:
        raise AgentRefusal(
            f"Text-to-SQL needs a database: {data_path} has no SQL or db_id column; pass a CSV (it becomes a "
            "typed DuckDB table) or rows with db_id/sql columns"
        )
    if recipe is not None:  # a domain recipe knows the chain the contract needs; tried first
        attempts.append(Selection([s.op.name for s in recipe.steps], "recipe", recipe.recipe))
    try:
        if recipe is not None and recipe.recipe == "text2sql_csv":
            raise AgentRefusal("no retrieval fallback: no other operator chain serves Text-to-SQL from a CSV")
        cands = planner.candidates(intent)
    except AgentRefusal:
        if recipe is None:
            raise
        cands = {}
    if cands:
        if is_capable(llm):
            proposal = propose(planner, llm, intent, cands)  # type: ignore[arg-type]
            if proposal.selection is not None:
                attempts.append(proposal.selection)
            else:
                notes.append(f"{proposal.note}; the rule path decides")
        elif llm is not None:
            notes.append(
                f"model {llm.model_id} is the embedded one, too small to decompose requests: the rule path decides"
            )
        choice = planner.retrieval_choice(intent, cands, profile)
        if is_capable(llm):  # a capable model writes the synthesised steps' instructions
            for op, clause in choice.synthesised.items():
                cfg = choice.preset[op]
                cfg["user_prompt"], how = model_prompt(llm, op, clause, cfg["user_prompt"])  # type: ignore[arg-type]
                choice.decided[op] += f"; {how}"
        attempts.append(choice)
    model = llm.model_id if llm is not None else "none (retrieval only)"
    last_error = ""
    for sel in attempts:
        tmp = out / f".{name}.{uuid.uuid4().hex[:8]}.yaml.tmp"
        try:
            pipeline, compiled = _compile(planner, sel, intent, profile, name)
            header = [f"agent request: {request}", f"operators chosen by: {sel.by} (model: {model})"]
            header += [f"step {s.name} ({s.op.name}): {_decided_by(sel, s.op.name)}" for s in pipeline.steps]
            tmp.write_text(dump_pipeline(pipeline, out, header), encoding="utf-8")
            loaded, report, gate_notes = _validate(tmp, sample_rows)
            if loaded.name != name:  # the file must define exactly the pipeline it was written for
                raise AgentRefusal(f"the written file defines pipeline '{loaded.name}', not '{name}'; not written")
            os.replace(tmp, final)
            decided = [f"step {s.name} ({s.op.name}): {_decided_by(sel, s.op.name)}" for s in loaded.steps]
            cost = target_cost(report, intent.count)
            res_notes = notes + compiled.notes + gate_notes + decided + ([cost.note()] if cost else [])
            return AgentResult(final, loaded, report, sel.by, model, intent, res_notes)
        except (AgentRefusal, OperatorError) as exc:
            last_error = str(exc)
            notes.append(f"{sel.by} selection {sel.names} failed: {exc}")
        finally:
            tmp.unlink(missing_ok=True)
    raise AgentRefusal("; ".join(notes) or last_error or "no selection could be compiled")
