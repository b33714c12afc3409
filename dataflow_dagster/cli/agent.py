"""``agent "REQUEST"``: write a YAML pipeline from a sentence, or refuse (exit code 3)."""

from pathlib import Path

import click
from rich.markup import escape

from dataflow_dagster.agent import AgentRefusal, build_pipeline
from dataflow_dagster.cli.common import (
    AgentRefusalExit,
    UserError,
    llm_options,
    make_console,
    make_llm,
)
from dataflow_dagster.cli.plan import plan_table

AGENT_OUT = Path("agent_pipelines")


def _default_out() -> Path:
    """A scaffolded project's ./pipelines (the agent's file joins that code location), else
    ./agent_pipelines: never assets/pipelines/, whose files the reference code location loads."""
    return Path("pipelines") if Path("pipelines").is_dir() else AGENT_OUT


def _default_data() -> Path | None:
    files = sorted(p for ext in ("jsonl", "json", "csv", "parquet") for p in Path("data").glob(f"*.{ext}"))
    return files[0] if len(files) == 1 else None


@click.command("agent")
@click.argument("request", nargs=-1, required=True)
@click.option(
    "-d",
    "--data",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Input file the pipeline reads (default: a file named in the request, or the only file in ./data).",
)
@click.option(
    "-o",
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the YAML file (default: ./pipelines if it exists, else ./agent_pipelines).",
)
@click.option("--name", default=None, help="Pipeline name (default: derived from the request).")
@click.option("--force", is_flag=True, help="Replace an existing file of the same name.")
@click.option("--no-llm", is_flag=True, help="Choose operators by retrieval ranking only (no model call).")
@click.option(
    "-n",
    "--sample",
    "sample_rows",
    default=20,
    show_default=True,
    type=click.IntRange(1, 10000),
    help="Rows the dry run uses.",
)
@llm_options
def agent(
    request: tuple[str, ...],
    data: Path | None,
    out_dir: Path | None,
    name: str | None,
    force: bool,
    no_llm: bool,
    sample_rows: int,
    llm_base_url: str | None,
    llm_model: str | None,
) -> None:
    """Write a pipeline for REQUEST, e.g. "remove duplicate and empty texts, then score QA pairs".

    The request is split into ordered clauses, each served by a registered operator (BM25 over the
    registry's descriptions) or by a synthesised Prompted* step; a model behind --llm-base-url proposes
    the decomposition first and is validated (the embedded model leaves it to the rules). The notes
    say which path decided each step. The file is written only after it loads, passes a dry run on
    sample rows and builds Dagster definitions. A request it cannot serve is refused with exit code 3.
    """
    text = " ".join(request)
    if not text.strip():
        raise UserError("REQUEST is empty")
    llm = None if no_llm else make_llm(llm_base_url, llm_model)[0]
    try:
        res = build_pipeline(text, data or _default_data(), out_dir or _default_out(), llm, name, force, sample_rows)
    except AgentRefusal as exc:
        raise AgentRefusalExit(str(exc)) from None
    con = make_console()
    con.print(f"wrote {res.path}  (operators chosen by {res.selection}; model: {escape(res.model)})")
    for note in res.notes:
        con.print(f"[dim]note: {escape(note)}[/dim]")
    con.print(plan_table(res.plan))
    con.print(f"next: dataflow-dagster run {res.path}")


commands = [agent]
