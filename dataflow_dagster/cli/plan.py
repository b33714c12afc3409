"""``plan PIPELINE``: dry run on sample rows plus a call/token estimate; nothing is published."""

import json
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from dataflow_dagster.cli.common import (
    RunFailed,
    UserError,
    human_int,
    llm_options,
    make_console,
    make_llm,
    resolve_pipeline,
    storage_option,
    workspace_option,
)
from dataflow_dagster.core.dryrun import PlanReport, dry_run
from dataflow_dagster.core.plan import plan as cost_plan
from dataflow_dagster.core.stages import Stage, plan_groups, plan_stages
from dataflow_dagster.core.storage import Storage


def plan_table(report: PlanReport, stages: list[Stage] | None = None) -> Table:
    stage_of = {n: (st.name + (" (fused)" if st.fused else "")) for st in stages or [] for n in st.steps}
    t = Table(title=f"plan {report.pipeline}: {report.sample_rows}-row sample of {human_int(report.source_rows)}")
    for col in (
        "step",
        "stage",
        "operator",
        "kind",
        "status",
        "sample in→out",
        "est. rows in",
        "LLM calls",
        "prompt tok",
        "note",
    ):
        t.add_column(col, overflow="fold")
    for s in report.steps:
        style = {"ok": "green", "skipped": "yellow"}.get(s.status, "red")
        io = f"{s.rows_in}→{s.rows_out}" if s.rows_in is not None else ""
        t.add_row(
            s.step,
            stage_of.get(s.step, ""),
            s.op,
            s.kind,
            f"[{style}]{s.status}[/{style}]",
            io,
            human_int(s.est_rows_in),
            human_int(s.est_calls) if s.needs_llm else "",
            human_int(s.est_prompt_tokens) if s.needs_llm else "",
            escape(s.message),
        )
    return t


@click.command("plan")
@click.argument("pipeline")
@workspace_option
@click.option(
    "-n",
    "--sample",
    "sample_rows",
    default=20,
    show_default=True,
    type=click.IntRange(1, 100000),
    help="Source rows to run the steps on.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@storage_option
@llm_options
def plan(
    pipeline: str,
    workspace: Path,
    sample_rows: int,
    as_json: bool,
    storage_root: Path,
    llm_base_url: str | None,
    llm_model: str | None,
) -> None:
    """Dry-run PIPELINE: check keys and types of every step on sample rows, estimate LLM calls and tokens.

    Rule steps run for real on the sample in scratch storage; LLM steps render their prompts for every
    sampled row and get placeholder answers from their output schema, so no model is called. Exit
    code 1 when a step would fail.
    """
    p = resolve_pipeline(pipeline, workspace)
    if not p.source_path().is_file():
        raise UserError(f"pipeline '{p.name}': source file {p.source_path()} does not exist; fix source.path")
    report = dry_run(p, sample_rows)
    client, _ = make_llm(llm_base_url, llm_model)
    # cache-aware figures: renders the real requests where inputs exist and counts response-cache hits
    estimated = {s.step: s.est_rows_in for s in report.steps if s.est_rows_in is not None}
    costs = cost_plan(p, Storage(storage_root), client.model_id, estimated_rows=estimated)
    stages = plan_stages(p)
    if as_json:
        staged = [{"name": st.name, "steps": list(st.steps), "fused": st.fused} for st in stages]
        grouped = [{"name": g.name, "steps": list(g.steps), "with_source": g.with_source} for g in plan_groups(p)]
        click.echo(
            json.dumps(
                {**report.to_dict(), "stages": staged, "execution_steps": grouped, "cost_plan": costs.as_dict()},
                indent=1,
                default=str,
            )
        )
    else:
        con = make_console()
        if report.source_error:
            con.print(f"[red]source[/red]: {escape(report.source_error)}")
        else:
            con.print(plan_table(report, stages))
            fused = [st for st in stages if st.fused]
            con.print(
                f"{len(stages)} stage(s) for {len(p.steps)} step(s)"
                + (": " + "; ".join(st.label() for st in fused) if fused else "")
            )
            groups = plan_groups(p)
            shared = [g for g in groups if not g.single_step and len(g.steps) + g.with_source > 1]
            con.print(
                f"{len(groups) + (0 if groups and groups[0].with_source else 1)} Dagster execution step(s) "
                "(processes under the multiprocess executor)"
                + (": " + "; ".join(f"{p.name}__{g.name} = {g.label()}" for g in shared) if shared else "")
            )
            tot = report.totals()
            con.print(
                f"estimate: {human_int(tot['calls'])} LLM calls, ~{human_int(tot['prompt_tokens'])} prompt "
                f"tokens, ≤{human_int(tot['completion_tokens_max'])} completion tokens"
            )
            con.print(f"[dim]{escape(report.estimate_note)}[/dim]")
            con.print(costs.format_table(), markup=False, highlight=False)
    if not report.ok:
        raise RunFailed(f"dry run of '{p.name}' failed: {report.first_failure()}")


commands = [plan]
