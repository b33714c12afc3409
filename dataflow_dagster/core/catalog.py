"""The catalog: one DuckDB file with a view per asset, rebuilt from the refs and renamed into place.

A DuckDB file admits one writer process and, while a writer or any reader of another process holds
it, nobody else can open it for writing. Updating the catalog in place therefore made every step
wait ``lock_timeout_s`` whenever a user had it open in a DuckDB shell (even read-only), and then
left its views stale without a word. So steps never open the live file: each rebuild writes a fresh
catalog under a temporary name and renames it over the old one. On Linux the rename swaps the
directory entry; a session holding the old file keeps reading the old inode (its views still point
at immutable snapshots, so they keep working), and the next ``duckdb.connect`` sees the new views.
Rebuilds are serialised by an ``flock`` on a sidecar lock file (held for the milliseconds a rebuild
takes), so the last rename always reflects every ref published before it.

What the rebuild cannot keep: objects a user created inside the catalog file. It is derived data;
keep your own tables in a database of your own and ``ATTACH`` the catalog read-only.

A sidecar ``<catalog>.state.json`` records when the catalog was built and a digest of the refs it
reflects; ``catalog_status`` compares that digest with the refs now, so a catalog that could not be
rebuilt (lock timeout, full disk, corrupt ref) is reported stale instead of silently lagging.
"""

import contextlib
import fcntl
import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from dataflow_dagster.core.integrity import StateCorruptError, atomic_write_text
from operators.core.contract import OperatorError, quote_ident

if TYPE_CHECKING:
    from dataflow_dagster.core.storage import Storage


class CatalogLockedError(OperatorError):
    """Another rebuild held the catalog's lock file for longer than ``lock_timeout_s``."""


def state_path(storage: "Storage") -> Path:
    return storage.catalog_path.with_name(storage.catalog_path.name + ".state.json")


def _lock_path(storage: "Storage") -> Path:
    return storage.catalog_path.with_name(f".{storage.catalog_path.name}.lock")


@contextlib.contextmanager
def _rebuild_lock(storage: "Storage") -> Iterator[None]:
    path = _lock_path(storage)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        deadline, delay = time.monotonic() + storage.lock_timeout_s, 0.01
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise CatalogLockedError(
                        f"another process kept rebuilding the catalog {storage.catalog_path} for over "
                        f"{storage.lock_timeout_s:g}s (lock {path}); snapshots are safe; rebuild it with "
                        "`dataflow-dagster catalog sync`"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.2)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def refs_digest(refs: dict[str, dict[str, Any]]) -> str:
    """Digest of what the catalog should show: every asset's published tables."""
    payload = sorted((name, sorted((k, v.get("path")) for k, v in doc["tables"].items())) for name, doc in refs.items())
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()


def _views(refs: dict[str, dict[str, Any]]) -> dict[str, str]:
    from dataflow_dagster.core.storage import SnapshotRef  # storage imports this module

    wanted: dict[str, str] = {}
    partitions: dict[str, list[str]] = {}
    for doc in refs.values():
        for part, ref in doc["tables"].items():
            view = doc["asset"] if part == "table" else f"{doc['asset']}__{part}"
            rel = SnapshotRef(**ref).read_sql()  # a fused step's table is a view over its stage snapshot
            if doc.get("partition"):
                partitions.setdefault(view, []).append(rel)
            else:
                wanted[view] = f"SELECT * FROM {rel}"
    for view, rels in partitions.items():
        wanted.setdefault(view, " UNION ALL BY NAME ".join(f"SELECT * FROM {r}" for r in sorted(rels)))
    return wanted


def rebuild(storage: "Storage") -> dict[str, Any]:
    """Write a fresh catalog from the refs and rename it over the old one; returns the new state.

    Raises CatalogLockedError when another rebuild holds the lock too long; a corrupt ref is left
    out (and named in the state's ``problems``) rather than breaking every other asset's view.
    """
    target = storage.catalog_path
    target.parent.mkdir(parents=True, exist_ok=True)
    with _rebuild_lock(storage):
        refs, problems = storage.readable_refs()
        digest = refs_digest(refs)
        previous = _read_state(storage)
        if target.exists() and previous.get("refs_digest") == digest and previous.get("problems") == problems:
            return previous  # a rebuild queued behind ours already reflects every ref we see
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        try:
            con = duckdb.connect(str(tmp))
            try:
                con.execute("BEGIN")  # one commit for all views, not one WAL write each
                for view, sql in _views(refs).items():
                    con.execute(f"CREATE VIEW {quote_ident(view)} AS {sql}")
                con.execute("COMMIT")
            finally:
                con.close()
            os.replace(tmp, target)
        finally:
            for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
                with contextlib.suppress(FileNotFoundError):
                    leftover.unlink()
        state = {
            "catalog": str(target),
            "built_at": time.time(),
            "refs_digest": digest,
            "views": len(_views(refs)),
            "problems": problems,
        }
        atomic_write_text(state_path(storage), json.dumps(state, indent=1))
    return state


def _read_state(storage: "Storage") -> dict[str, Any]:
    try:
        state = json.loads(state_path(storage).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def status(storage: "Storage") -> dict[str, Any]:
    """Is the catalog current? ``stale`` lists assets published after the last successful rebuild."""
    refs, problems = storage.readable_refs()
    out: dict[str, Any] = {"catalog": str(storage.catalog_path), "problems": problems}
    state = _read_state(storage)
    try:
        built_at = float(state["built_at"])
        digest = str(state["refs_digest"])
    except (ValueError, KeyError, TypeError):
        out.update(built_at=None, up_to_date=False, stale=sorted(refs))
        return out
    current = refs_digest(refs) == digest
    stale = [] if current else sorted(n for n, d in refs.items() if float(d.get("published_at") or 0) >= built_at)
    out.update(built_at=built_at, up_to_date=current and not problems, stale=stale)
    if not current and not stale:  # something was removed or re-pointed without a newer publish
        out["stale"] = ["(views differ from the refs)"]
    return out


def describe(st: dict[str, Any]) -> str:
    """One paragraph for humans (CLI, step logs)."""
    if st["up_to_date"]:
        return f"catalog {st['catalog']} is up to date (built {time.ctime(st['built_at'])})"
    lines = [f"catalog {st['catalog']} is stale"]
    if st.get("built_at") is None:
        lines[0] += " (never built, or built by an older version)"
    if st.get("stale"):
        lines.append(f"  not reflected: {', '.join(st['stale'])}")
    lines.extend(f"  left out: {p}" for p in st.get("problems", []))
    lines.append("  rebuild it with `dataflow-dagster catalog sync`")
    return "\n".join(lines)


__all__ = ["CatalogLockedError", "StateCorruptError", "describe", "rebuild", "refs_digest", "status"]
