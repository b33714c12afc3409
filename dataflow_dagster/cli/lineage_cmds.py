"""``audit`` and ``diff``: reproducibility audits and row-level diffs of materialised assets.

Both commands load a code location module (default: ``assets.definitions``, the one workspace.yaml
loads), so they audit with exactly the pipelines, prompts, model and storage the UI uses; the
Dagster event log comes from ``$DAGSTER_HOME`` when it is set, else ``<root>/history`` is used.
"""

import importlib
import os
import sys
from dataclasses import dataclass, field
from typing import Any

import click

from dataflow_dagster.core.audit import AuditResult, audit_asset
from dataflow_dagster.core.diff import diff_asset
from dataflow_dagster.core.pipeline import Pipeline
from dataflow_dagster.core.storage import Storage
from operators.core.contract import OperatorError
from operators.core.prompt import PromptTemplate


@dataclass
class Location:
    pipeline: Pipeline
    step: str
    storage: Storage
    llm: Any
    prompts: dict[str, PromptTemplate]
    asset_keys: dict[str, Any] = field(default_factory=dict)  # step -> Dagster asset key (translator's)
    llms: dict[str, Any] = field(default_factory=dict)  # step -> client of a step served by another model


def load_location(module: str, asset: str, root: str | None = None) -> Location:
    """Resolve ``pipeline/step`` (or ``pipeline__step``) against the module's ``defs``."""
    return location_from_definitions(
        getattr(importlib.import_module(module), "defs", None), asset, root, f"module {module}"
    )


def location_from_definitions(
    defs: Any, asset: str, root: str | None = None, where: str = "the definitions"
) -> Location:
    """The pipeline, storage, LLM and prompt resources behind ``asset`` in Definitions built by the factory."""
    from dataflow_dagster.defs.factory import (
        LLM_KEY,
        STORAGE_KEY,
        llm_resource_key,
        pipelines_of,
        prompt_resource_key,
        step_keys_of,
    )

    if defs is None:
        raise OperatorError(f"{where} has no Definitions object named 'defs'; pass --module MODULE")
    pipelines = pipelines_of(defs)
    name, _, step = asset.replace("__", "/", 1).partition("/")
    if name not in pipelines:
        raise OperatorError(
            f"pipeline '{name}' is not defined by {where} (known: {sorted(pipelines)}); "
            "use PIPELINE/STEP, e.g. pretrain_qa/judge, or pass --module"
        )
    pipeline = pipelines[name]
    step = step or (pipeline.steps[-1].name if pipeline.steps else pipeline.source.name)
    if step != pipeline.source.name:
        pipeline.step(step)  # raises with the known steps
    resources = dict(getattr(defs, "resources", None) or {})
    storage = Storage(root) if root else resources[STORAGE_KEY].get() if STORAGE_KEY in resources else Storage()
    llm = resources[LLM_KEY].create_client() if LLM_KEY in resources else None
    llms = {
        s.name: resources[llm_resource_key(s)].create_client()
        for s in pipeline.steps
        if s.op.needs_llm and llm_resource_key(s) != LLM_KEY and llm_resource_key(s) in resources
    }
    prompts = {
        s.name: resources[prompt_resource_key(pipeline, s)].to_template()
        for s in pipeline.steps
        if prompt_resource_key(pipeline, s) in resources
    }
    return Location(pipeline, step, storage, llm, prompts, step_keys_of(defs, pipeline.name), llms)


def audit_definitions(
    defs: Any, asset: str, instance: Any = None, partition: str | None = None, root: str | None = None
) -> AuditResult:
    """``audit_asset`` for Definitions built by ``build_definitions`` (asset as ``pipeline/step``)."""
    loc = location_from_definitions(defs, asset, root)
    return audit_asset(
        loc.pipeline,
        loc.step,
        loc.storage,
        instance=instance,
        partition=partition,
        llm=loc.llm,
        prompts=loc.prompts,
        asset_keys=loc.asset_keys,
        llms=loc.llms,
    )


def _instance(use_event_log: bool) -> Any:
    if not use_event_log or not os.environ.get("DAGSTER_HOME"):
        return None
    from dagster import DagsterInstance

    return DagsterInstance.get()


@click.group(name="lineage", help="Reproducibility audits and row-level diffs of materialised assets.")
def lineage() -> None:
    pass


_module = click.option(
    "-m",
    "--module",
    default="assets.definitions",
    show_default=True,
    help="code location module whose `defs` define the pipelines",
)
_root = click.option("--root", default=None, help="storage root (default: the definitions' storage resource)")
_partition = click.option("--partition", default=None, help="partition key of a partitioned pipeline")
_event_log = click.option(
    "--event-log/--no-event-log",
    default=True,
    help="read materialisations from $DAGSTER_HOME's event log (else <root>/history)",
)


@lineage.command("audit")
@click.argument("asset")
@_partition
@_module
@_root
@_event_log
@click.option("--out", default=None, help="folder for the JSON and Markdown reports (default <root>/audits)")
@click.option("--plain", is_flag=True, help="plain tab-separated table instead of rich")
def audit_command(
    asset: str, partition: str | None, module: str, root: str | None, event_log: bool, out: str | None, plain: bool
) -> None:
    """Verify ASSET's stored tables and replay its chain from the response cache (no model calls).

    Exits 1 when any table or step does not match its record.
    """
    try:
        loc = load_location(module, asset, root)
        result = audit_asset(
            loc.pipeline,
            loc.step,
            loc.storage,
            instance=_instance(event_log),
            partition=partition,
            llm=loc.llm,
            prompts=loc.prompts,
            asset_keys=loc.asset_keys,
            llms=loc.llms,
        )
    except OperatorError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(result.render(plain=plain))
    js, md = result.write(out or loc.storage.root / "audits")
    click.echo(f"reports: {js} {md}")
    sys.exit(result.exit_code)


@lineage.command("diff")
@click.argument("asset")
@click.option("--from", "from_run", default=None, help="run id (or prefix) of the older materialisation")
@click.option("--to", "to_run", default=None, help="run id (or prefix) of the newer one (default: latest)")
@_partition
@_module
@_root
@_event_log
@click.option("--samples", default=5, show_default=True, help="example rows to show per kind")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of Markdown")
def diff_command(
    asset: str,
    from_run: str | None,
    to_run: str | None,
    partition: str | None,
    module: str,
    root: str | None,
    event_log: bool,
    samples: int,
    as_json: bool,
) -> None:
    """Rows added, removed and changed (same _id, new content) between two materialisations of ASSET."""
    from dagster import AssetKey

    try:
        loc = load_location(module, asset, root)
        result = diff_asset(
            loc.storage,
            loc.pipeline.asset_name(loc.step),
            from_run,
            to_run,
            partition,
            _instance(event_log),
            loc.asset_keys.get(loc.step) or AssetKey([loc.pipeline.name, loc.step]),
            samples,
        )
    except OperatorError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(result.to_json() if as_json else result.to_markdown())


# Mounted at top level by the CLI (``dataflow-dagster audit`` / ``diff``).
commands = [audit_command, diff_command]
