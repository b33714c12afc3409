"""Orchestrates one agent request and owns the guarantee: no file unless it loads, dry-runs and builds."""

import hashlib
import os
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from dataflow_dagster.agent.intent import Intent, parse_intent
from dataflow_dagster.agent.planner import AgentRefusal, Compiled, DataProfile, Planner, Selection, profile_data
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
    selection: str  # "llm" or "retrieval"
    model: str
    intent: Intent
    notes: list[str] = field(default_factory=list)


def pipeline_name(request: str) -> str:
    words = [w.lower() for w in re.findall(r"[A-Za-z]{3,}", request)][:4]
    digest = hashlib.sha256(request.encode()).hexdigest()[:6]
    return "_".join(["agent", *words, digest])


def _validate(path: Path, sample_rows: int) -> tuple[Pipeline, PlanReport]:
    """The written file, loaded back as a user would load it, must dry-run and build Definitions."""
    pipeline = load_pipeline_file(path)
    report = dry_run(pipeline, sample_rows)
    if not report.ok:
        raise AgentRefusal(f"the compiled pipeline failed its dry run: {report.first_failure()}")
    # Dagster only now: `dataflow-dagster` commands that never reach here start without importing it.
    from dagster import Definitions

    from dataflow_dagster.defs.factory import build_definitions

    try:
        Definitions.validate_loadable(build_definitions([pipeline]))
    except Exception as exc:  # any Dagster definition error means the file must not be handed out
        raise AgentRefusal(f"the compiled pipeline does not load in Dagster: {exc}") from None
    return pipeline, report


def _compile(
    planner: Planner, sel: Selection, intent: Intent, data: DataProfile, name: str
) -> tuple[Pipeline, Compiled]:
    compiled = planner.compile(sel.names, intent, data)
    missing = [a for a in intent.actions if not any(_serves(s.op, a) for s in compiled.steps)]
    if missing or not compiled.steps:
        raise AgentRefusal(
            f"could not wire an operator for {missing or intent.actions} on the columns of "
            f"{data.path} ({list(data.columns)}); notes: {compiled.notes}"
        )
    count = f"; target about {intent.count:,} rows" if intent.count else ""
    pipeline = Pipeline(
        name=name,
        description=f"Written by dataflow-dagster agent from: {intent.request}{count}",
        source=Source(path=str(data.path.resolve()), required_columns=compiled.source_columns),
        steps=compiled.steps,
    )
    return pipeline, compiled


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
    if intent.refusal:
        raise AgentRefusal(intent.refusal)
    data_path = Path(data or intent.data_path or "")
    if not str(data or intent.data_path or ""):
        raise OperatorError("no input data: pass --data FILE (jsonl/json/csv/parquet) or name the file in the request")
    if not data_path.is_file():
        raise OperatorError(f"input data {data_path} does not exist")
    profile = profile_data(data_path)
    name = name or pipeline_name(request)
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    final = out / f"{name}.yaml"
    if final.exists() and not overwrite:
        raise OperatorError(f"{final} exists; pass --name NEW or --force to replace it")
    planner = Planner(all_operators(), llm)
    cands = planner.candidates(intent)
    retrieval = planner.retrieval_choice(intent, cands)
    attempts: list[Selection] = []
    notes: list[str] = []
    by_llm = planner.llm_choice(intent, cands)
    if by_llm is not None and by_llm.names:
        attempts.append(by_llm)
    elif by_llm is not None:
        notes.append(f"model selection rejected: {by_llm.note}; using retrieval ranking")
    attempts.append(retrieval)
    model = llm.model_id if llm is not None else "none (retrieval only)"
    last_error = ""
    for sel in attempts:
        tmp = out / f".{name}.{uuid.uuid4().hex[:8]}.yaml.tmp"
        try:
            pipeline, compiled = _compile(planner, sel, intent, profile, name)
            header = [f"agent request: {request}", f"operators chosen by: {sel.by} (model: {model})"]
            tmp.write_text(dump_pipeline(pipeline, out, header), encoding="utf-8")
            loaded, report = _validate(tmp, sample_rows)
            if loaded.name != name:  # the file must define exactly the pipeline it was written for
                raise AgentRefusal(f"the written file defines pipeline '{loaded.name}', not '{name}'; not written")
            os.replace(tmp, final)
            return AgentResult(final, loaded, report, sel.by, model, intent, notes + compiled.notes)
        except (AgentRefusal, OperatorError) as exc:
            last_error = str(exc)
            notes.append(f"{sel.by} selection {sel.names} failed: {exc}")
        finally:
            tmp.unlink(missing_ok=True)
    raise AgentRefusal(last_error or "no selection could be compiled")
