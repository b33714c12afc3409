"""``catalog sync``, ``gc`` and ``cache stats|prune``: housekeeping of a storage root."""

import json
import os
from pathlib import Path
from typing import Any

import click

from dataflow_dagster.cli.common import (
    RunFailed,
    UserError,
    make_console,
    open_storage,
    parse_duration,
    storage_option,
)
from dataflow_dagster.core.storage import CatalogLockedError, Storage
from dataflow_dagster.llm.cache import ResponseCache


@click.group("catalog")
def catalog() -> None:
    """The catalog DuckDB file (one view per asset) under the storage root."""


@catalog.command("sync")
@storage_option
def catalog_sync(storage_root: Path) -> None:
    """Rebuild the catalog's views from the current refs (after a lock made a run skip it)."""
    storage = open_storage(storage_root)
    try:
        ok = storage.sync_catalog()
    except CatalogLockedError as exc:
        raise RunFailed(str(exc)) from None
    if not ok:
        raise RunFailed(f"catalog {storage.catalog_path} stayed locked by another process; close it and retry")
    n = sum(len(doc["tables"]) for doc in storage.all_refs().values())
    click.echo(f"catalog {storage.catalog_path}: {n} view(s) for {len(storage.all_refs())} asset(s)")


def _history_paths(storage: Storage, keep_versions: int | None) -> set[str]:
    """Snapshot paths of the last ``keep_versions`` publishes of each asset (all when None)."""
    keep: set[str] = set()
    for docs in storage.all_history().values():
        chosen = docs if keep_versions is None else docs[-keep_versions:] if keep_versions > 0 else []
        for doc in chosen:
            keep.update(t["path"] for t in doc.get("tables", {}).values())
    return keep


def _event_log_paths(dagster_home: str) -> set[str]:
    """Every snapshot path named in the materialisation metadata of a Dagster instance's event log."""
    from dagster import DagsterEventType, DagsterInstance, EventRecordsFilter

    os.environ["DAGSTER_HOME"] = dagster_home
    keep: set[str] = set()
    with DagsterInstance.get() as instance:
        records = instance.get_event_records(EventRecordsFilter(event_type=DagsterEventType.ASSET_MATERIALIZATION))
        for rec in records:
            mat = rec.asset_materialization
            if mat is None:
                continue
            md: dict[str, Any] = dict(mat.metadata or {})
            snap = md.get("snapshot")
            if snap is not None:
                keep.add(str(getattr(snap, "path", snap)))
    return keep


@click.command("gc")
@storage_option
@click.option(
    "--keep-versions",
    type=click.IntRange(0),
    default=None,
    help="Also keep the last N published versions of each asset (default: every version in the "
    "storage history; 0 = current only).",
)
@click.option(
    "--dagster-home",
    envvar="DAGSTER_HOME",
    default=None,
    type=click.Path(file_okay=False),
    help="Keep every snapshot this Dagster instance's event log mentions; env DAGSTER_HOME.",
)
@click.option(
    "--min-age",
    "min_age_s",
    default=600.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Keep snapshot files younger than this many seconds (a running step may not have published them yet).",
)
@click.option("--dry-run", is_flag=True, help="List what would be deleted; delete nothing.")
def gc(
    storage_root: Path, keep_versions: int | None, dagster_home: str | None, min_age_s: float, dry_run: bool
) -> None:
    """Delete snapshot files nothing refers to any more.

    Kept: current refs, the storage history (all or --keep-versions N per asset) and, with a Dagster
    home, every snapshot its event log names, so audits can still re-read those versions.
    """
    storage = open_storage(storage_root)
    keep = _history_paths(storage, keep_versions)
    if dagster_home:
        if not Path(dagster_home).is_dir():
            raise UserError(f"--dagster-home {dagster_home} is not a directory")
        keep |= _event_log_paths(dagster_home)
    removed = storage.gc(keep, dry_run=dry_run, min_age_s=min_age_s)
    for p in removed:
        click.echo(("would delete " if dry_run else "deleted ") + p)
    current = storage.current_paths()
    older = len(keep - current)
    click.echo(
        f"{'would delete' if dry_run else 'deleted'} {len(removed)} snapshot file(s); kept {len(current)} current "
        f"and {older} older version(s) referenced by history or the event log, and files younger than {min_age_s:g}s"
    )


@click.group("cache")
def cache() -> None:
    """The LLM response cache (<storage>/llm_cache.sqlite)."""


@cache.command("stats")
@storage_option
@click.option("--json", "as_json", is_flag=True)
def cache_stats(storage_root: Path, as_json: bool) -> None:
    """Entries and token totals held in the response cache."""
    storage = open_storage(storage_root)
    if not storage.cache_path.exists():
        stats = {"entries": 0, "prompt_tokens": 0, "completion_tokens": 0}
    else:
        stats = ResponseCache(storage.cache_path).stats()
    stats = {"path": str(storage.cache_path), **stats}
    if as_json:
        click.echo(json.dumps(stats))
        return
    make_console().print(
        f"cache {stats['path']}: {stats['entries']:,} entries, {stats['prompt_tokens']:,} prompt "
        f"tokens, {stats['completion_tokens']:,} completion tokens"
    )


@cache.command("prune")
@storage_option
@click.option("--older-than", "older_than", default=None, help="Remove entries older than this (90s, 15m, 12h, 30d).")
@click.option("--model", default=None, help="Remove only entries of this model id.")
@click.option("--all", "prune_all", is_flag=True, help="Remove every entry (audit replays will need the model again).")
def cache_prune(storage_root: Path, older_than: str | None, model: str | None, prune_all: bool) -> None:
    """Remove cached LLM answers; say which with --older-than / --model, or --all."""
    if older_than is None and model is None and not prune_all:
        raise click.UsageError("say what to prune: --older-than AGE, --model ID, or --all")
    storage = open_storage(storage_root)
    if not storage.cache_path.exists():
        click.echo("cache is empty; nothing to prune")
        return
    seconds = parse_duration(older_than) if older_than else None
    n = ResponseCache(storage.cache_path).prune(seconds, model)
    click.echo(f"pruned {n} cached response(s)")


commands = [catalog, gc, cache]
