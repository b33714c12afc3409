"""``run PIPELINE``: materialise a pipeline without the UI, through the same runner Dagster assets use.

Steps run in file order (every ``after`` names an earlier step), each publishing its snapshots as a
Dagster materialisation would; blocking checks are evaluated after their step exactly like the
factory's asset checks, and a failed gate skips everything downstream of it, as in Dagster.
"""

import logging
import time
import uuid
from pathlib import Path
from typing import Any

import click
import duckdb
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from dataflow_dagster.cli.common import (
    RunFailed,
    llm_options,
    make_console,
    make_llm,
    open_storage,
    resolve_pipeline,
    storage_option,
    workspace_option,
)
from dataflow_dagster.core.fused import run_chain
from dataflow_dagster.core.pipeline import Pipeline
from dataflow_dagster.core.runner import check_metric, run_source, run_step
from dataflow_dagster.core.stages import plan_stages
from dataflow_dagster.core.storage import Storage
from operators.core.contract import OperatorError


class _ConsoleHandler(logging.Handler):
    """Routes the runner's progress lines ("asset: 64/200 rows (32%)") above the progress bar."""

    def __init__(self, progress: Progress, verbose: bool) -> None:
        super().__init__(logging.INFO)
        self.progress, self.verbose = progress, verbose

    def emit(self, record: logging.LogRecord) -> None:
        if self.verbose or record.levelno >= logging.WARNING or "rows (" in record.getMessage():
            self.progress.console.print(f"[dim]{escape(record.getMessage())}[/dim]")


def _descendants(pipeline: Pipeline, name: str) -> set[str]:
    out, frontier = set(), {name}
    while frontier:
        frontier = {s.name for s in pipeline.steps if s.after in frontier}
        out |= frontier
    return out


def evaluate_checks(storage: Storage, pipeline: Pipeline, step_name: str) -> list[dict[str, Any]]:
    """The step's declared checks on its current snapshot (the factory's asset checks, without Dagster)."""
    step = pipeline.step(step_name)
    asset = pipeline.asset_name(step_name)
    storage.require_ref(asset)
    refs = storage.current_refs(asset)
    results = []
    for spec in step.op.checks():
        value = check_metric(spec, refs)
        results.append(
            {
                "name": spec.name,
                "value": value,
                "passed": spec.passes(value),
                "blocking": spec.blocking,
                "rule": f"{spec.op} {spec.threshold}",
            }
        )
    return results


def execute(
    pipeline: Pipeline,
    storage: Storage,
    llm_base_url: str | None,
    llm_model: str | None,
    verbose: bool = False,
    console: Console | None = None,
) -> list[dict[str, Any]]:
    """Run every step; returns one status row per asset (status ok | failed | check_failed | skipped).

    Every published snapshot records the same fresh ``run_id`` (``cli-<uuid4>``), so ``diff --from/--to``
    and the history can tell CLI runs apart as they do Dagster runs."""
    console = console or make_console()
    run_id = f"cli-{uuid.uuid4()}"
    log = logging.getLogger(f"dataflow.cli.{pipeline.name}")
    log.setLevel(logging.INFO)
    log.propagate = False
    client, info = (None, {})
    if any(s.op.needs_llm for s in pipeline.steps):
        client, info = make_llm(llm_base_url, llm_model)
    results: list[dict[str, Any]] = []
    blocked: dict[str, str] = {}
    columns = [
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=console, transient=False) as progress:
        handler = _ConsoleHandler(progress, verbose)
        log.handlers = [handler]
        task = progress.add_task(f"{pipeline.name}", total=len(pipeline.steps) + 1)
        started = time.time()
        try:
            out = run_source(storage, pipeline, log=log, run_id=run_id)
            results.append(
                {
                    "asset": out.asset,
                    "status": "ok",
                    "rows_in": None,
                    "rows_out": out.table.row_count,
                    "note": f"imported from {pipeline.source_path()}",
                    "run_id": run_id,
                }
            )
        except OperatorError as exc:
            results.append({"asset": pipeline.asset_name(pipeline.source.name), "status": "failed", "note": str(exc)})
            return results + [
                {"asset": pipeline.asset_name(s.name), "status": "skipped", "note": "source failed"}
                for s in pipeline.steps
            ]
        progress.advance(task)
        stages = [st for st in plan_stages(pipeline) if st.fused]
        first_of = {st.steps[0]: st for st in stages}
        stage_steps = {n: st.steps for st in stages for n in st.steps}
        fused: dict[str, Any] = {}
        for step in pipeline.steps:
            asset = pipeline.asset_name(step.name)
            if step.name in blocked:
                results.append({"asset": asset, "status": "skipped", "note": blocked[step.name]})
                progress.advance(task)
                continue
            progress.update(task, description=f"{pipeline.name}: {step.name} ({step.op.name})")
            try:
                if step.name in first_of:  # a fused stage: one query for its steps, published one by one
                    fused = dict(
                        zip(
                            first_of[step.name].steps,
                            run_chain(storage, pipeline, first_of[step.name].steps, log=log),
                            strict=True,
                        )
                    )
                if step.name in fused:
                    out = fused.pop(step.name)
                    storage.publish(out.asset, out.refs, out.lineage)  # unpartitioned: the asset is its address
                    if not any(n in fused for n in stage_steps.get(step.name, ())):
                        storage.sync_catalog()
                else:
                    out = run_step(
                        storage,
                        pipeline,
                        step.name,
                        llm=client if step.op.needs_llm else None,
                        log=log,
                        llm_info=info,
                        run_id=run_id,
                    )
            except (OperatorError, duckdb.Error) as exc:
                results.append({"asset": asset, "status": "failed", "note": str(exc).splitlines()[0]})
                for d in _descendants(pipeline, step.name):
                    blocked[d] = f"upstream '{step.name}' failed"
                progress.advance(task)
                continue
            lin = out.lineage
            note = f"{lin['rejected_rows']} rejected" if lin["rejected_rows"] else ""
            if lin["error_rows"]:
                note += f"{', ' if note else ''}{lin['error_rows']} LLM errors"
            status = "ok"
            for chk in evaluate_checks(storage, pipeline, step.name):
                shown = "NULL" if chk["value"] is None else f"{chk['value']:.3g}"
                note += f"{', ' if note else ''}check {chk['name']}={shown} ({chk['rule']}) " + (
                    "passed" if chk["passed"] else "FAILED"
                )
                if not chk["passed"] and chk["blocking"]:
                    status = "check_failed"
                    for d in _descendants(pipeline, step.name):
                        blocked[d] = f"blocking check {chk['name']} of '{step.name}' failed"
            results.append(
                {"asset": asset, "status": status, "rows_in": lin["rows_in"], "rows_out": lin["rows_out"], "note": note}
            )
            progress.console.print(
                f"{'✓' if status == 'ok' else '✗'} {asset}: {lin['rows_in']} → {lin['rows_out']} rows {escape(note)}"
            )
            progress.advance(task)
        progress.update(task, description=f"{pipeline.name} done in {time.time() - started:.1f}s")
    return results


def summary_table(results: list[dict[str, Any]]) -> Table:
    t = Table()
    for col in ("asset", "status", "rows in", "rows out", "note"):
        t.add_column(col, overflow="fold")
    for r in results:
        style = {"ok": "green", "skipped": "yellow"}.get(r["status"], "red")
        t.add_row(
            r["asset"],
            f"[{style}]{r['status']}[/{style}]",
            str(r.get("rows_in") or ""),
            str(r.get("rows_out") if r.get("rows_out") is not None else ""),
            escape(r.get("note", "")),
        )
    return t


@click.command("run")
@click.argument("pipeline")
@storage_option
@workspace_option
@llm_options
@click.option("-v", "--verbose", is_flag=True, help="Print every log line of the steps.")
def run(
    pipeline: str, storage_root: Path, workspace: Path, llm_base_url: str | None, llm_model: str | None, verbose: bool
) -> None:
    """Materialise PIPELINE (a YAML file or a pipeline name from the workspace) without the UI.

    Snapshots, refs and the catalog are written under --storage exactly as the Dagster assets do.
    Exit code 1 when a step fails or a blocking check fails (downstream steps are skipped).
    """
    p = resolve_pipeline(pipeline, workspace)
    if not p.source_path().is_file():
        raise OperatorError(f"pipeline '{p.name}': source file {p.source_path()} does not exist; fix source.path")
    storage = open_storage(storage_root)
    out = make_console()
    results = execute(p, storage, llm_base_url, llm_model, verbose, out)
    out.print(summary_table(results))
    bad = [r for r in results if r["status"] != "ok"]
    if bad:
        first = next(r for r in bad if r["status"] != "skipped")
        raise RunFailed(
            f"{first['asset']}: {first['status']}: {first.get('note', '')} "
            f"({len(bad)} of {len(results)} assets not materialised)"
        )
    out.print(f"materialised {len(results)} assets into {storage.root} (run {results[0].get('run_id', '')})")


commands = [run]
