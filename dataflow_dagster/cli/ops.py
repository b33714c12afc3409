"""``ops list|show|search``: what the registry offers (built-ins, entry points, user modules)."""

import contextlib
import json
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from dataflow_dagster.agent.retrieval import OperatorIndex
from dataflow_dagster.cli.common import make_console
from operators.core.contract import Kind, Operator
from operators.core.registry import all_operators, get, info


def _summary(cls: type[Operator]) -> dict[str, Any]:
    doc = (cls.__doc__ or cls.name).strip().splitlines()[0]
    return {
        "name": cls.name,
        "kind": str(cls.kind),
        "domain": cls.domain,
        "needs_llm": cls.default_prompt is not None,
        "tags": list(cls.tags),
        "description": doc,
        "module": cls.__module__,
    }


def _table(rows: list[dict[str, Any]], extra: str | None = None) -> Table:
    t = Table(show_lines=False)
    for col in ("name", "kind", "domain", "llm", *([extra] if extra else []), "description"):
        t.add_column(col, overflow="fold")
    for r in rows:
        cells = [
            r["name"],
            r["kind"],
            r["domain"],
            "yes" if r["needs_llm"] else "",
            *([f"{r[extra]:.2f}"] if extra else []),
            r["description"],
        ]
        t.add_row(*[escape(str(c)) for c in cells])
    return t


def _filtered(kind: str | None, domain: str | None, llm: bool | None) -> dict[str, type[Operator]]:
    return {
        n: c
        for n, c in all_operators().items()
        if (kind is None or str(c.kind) == kind)
        and (domain is None or c.domain == domain)
        and (llm is None or (c.default_prompt is not None) == llm)
    }


_kind_opt = click.option("--kind", type=click.Choice([k.value for k in Kind]), help="Only operators of this kind.")
_domain_opt = click.option("--domain", help="Only operators of this domain (e.g. general, text2sql).")
_llm_opt = click.option("--llm/--rule", "llm", default=None, help="Only prompted (LLM) or only rule operators.")
_json_opt = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


@click.group("ops")
def ops() -> None:
    """Browse the operator registry: kinds, keys, config and prompts."""


@ops.command("list")
@_kind_opt
@_domain_opt
@_llm_opt
@_json_opt
def ops_list(kind: str | None, domain: str | None, llm: bool | None, as_json: bool) -> None:
    """List registered operators."""
    rows = [_summary(c) for c in _filtered(kind, domain, llm).values()]
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    make_console().print(_table(rows))
    click.echo(f"{len(rows)} operator(s)")


def _keys(cls: type[Operator]) -> tuple[list[str], list[str]]:
    try:
        op = cls()
        return op.input_columns(), op.output_columns()
    except Exception:  # configs with required fields (e.g. ThresholdFilter.input_key) have no default keys
        return [], []


@ops.command("show")
@click.argument("name")
@_json_opt
def ops_show(name: str, as_json: bool) -> None:
    """Show one operator: description, input/output keys, config settings and its prompt."""
    cls = get(name)
    data = info(cls)
    inputs, outputs = _keys(cls)
    data["input_columns_default"], data["output_columns_default"] = inputs, outputs
    data["checks"] = []
    with contextlib.suppress(Exception):
        data["checks"] = [
            {"name": c.name, "metric": c.metric_sql, "op": c.op, "threshold": c.threshold} for c in cls().checks()
        ]
    if cls.default_prompt is not None:
        data["prompt_system"] = cls.default_prompt.system
        data["prompt_fields"] = cls.default_prompt.fields()
        data["output_schema"] = cls.default_prompt.output_schema
    if as_json:
        click.echo(json.dumps(data, indent=1, default=str))
        return
    con = make_console()
    con.print(
        f"[bold]{cls.name}[/bold]  kind={cls.kind}  domain={cls.domain}  version={cls.version}  "
        f"llm={'yes' if data['needs_llm'] else 'no'}  tags={', '.join(cls.tags) or '-'}"
    )
    con.print(data["description"] or "(no description)", markup=False)
    con.print(f"\n[bold]keys[/bold] (defaults): reads {inputs or '(set in config)'} -> writes {outputs or '[]'}")
    t = Table(title="config")
    for col in ("setting", "type", "default", "required"):
        t.add_column(col)
    for fname, f in cls.Config.model_fields.items():
        ann = getattr(f.annotation, "__name__", str(f.annotation))
        t.add_row(fname, ann, "" if f.is_required() else repr(f.default), "yes" if f.is_required() else "")
    con.print(t)
    for c in data["checks"]:
        con.print(f"check [bold]{c['name']}[/bold]: {c['metric']} {c['op']} {c['threshold']}", markup=True)
    if cls.default_prompt is not None:
        con.print(f"\n[bold]prompt[/bold] '{cls.default_prompt.name}' fields={data['prompt_fields']}")
        if data["prompt_system"]:
            con.print(f"system: {data['prompt_system']}", markup=False)
        con.print(cls.default_prompt.template, markup=False)
        con.print("output schema: " + json.dumps(data["output_schema"]), markup=False)


@ops.command("search")
@click.argument("query", nargs=-1, required=True)
@_kind_opt
@_domain_opt
@_llm_opt
@click.option("-n", "--limit", default=10, show_default=True, type=click.IntRange(1, 1000))
@_json_opt
def ops_search(
    query: tuple[str, ...], kind: str | None, domain: str | None, llm: bool | None, limit: int, as_json: bool
) -> None:
    """Rank operators by relevance to QUERY (BM25 over names, docs, tags, config and prompts)."""
    pool = _filtered(kind, domain, llm)
    if not pool:
        click.echo("no operators match the filters")
        return
    hits = OperatorIndex(pool).rank(" ".join(query), limit=limit)
    rows = [{**_summary(pool[n]), "score": s} for n, s in hits]
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    if not rows:
        click.echo(f"no operator matches '{' '.join(query)}'; try other words or `dataflow-dagster ops list`")
        return
    make_console().print(_table(rows, extra="score"))


commands = [ops]


@ops.command("dataflow")
@click.option(
    "--status",
    type=click.Choice(["same", "approximated", "unsupported", "missing"]),
    help="Only DataFlow operators with this status.",
)
@_json_opt
def ops_dataflow(status: str | None, as_json: bool) -> None:
    """DataFlow's operator names (open-dataflow's registry, read from the real package) and ours.

    Each DataFlow operator is covered with the same semantics, approximated (the note says how),
    unsupported (why, and what to use instead) or missing. The package is downloaded once with
    `pip download --no-deps` into ~/.cache/dataflow-dagster/open-dataflow ($DATAFLOW_COMPAT_CACHE).
    """
    from dataflow_dagster.core.dataflow_coverage import coverage, summary
    from dataflow_dagster.core.dataflow_source import DATAFLOW_VERSION, registry

    rows = coverage(registry())
    totals = summary(rows)
    shown = [r for r in rows if status is None or r.status == status]
    if as_json:
        click.echo(
            json.dumps(
                {"version": DATAFLOW_VERSION, "summary": totals, "operators": [r.as_dict() for r in shown]}, indent=1
            )
        )
        return
    t = Table(show_lines=False)
    for col in ("dataflow", "family", "status", "ours", "note"):
        t.add_column(col, overflow="fold")
    for r in shown:
        t.add_row(*[escape(str(c or "")) for c in (r.dataflow, r.family, r.status, r.ours, r.note)])
    make_console().print(t)
    click.echo(
        f"open-dataflow {DATAFLOW_VERSION}: {totals['covered']} of {totals['dataflow_operators']} operators covered "
        f"({totals['same']} same semantics, {totals['approximated']} approximated); "
        f"{totals['unsupported']} unsupported with a reason; {totals['missing']} missing"
    )
