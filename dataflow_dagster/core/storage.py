"""Snapshot storage: immutable, content-addressed Parquet files plus a catalog of views.

A DuckDB database file admits one process at a time, and Dagster's default executor runs each step
in its own process. So no step ever writes a shared database: each materialisation writes Parquet
snapshots (temp name, then atomic rename), publishes them by atomically replacing one small JSON
*ref* file per asset, and only then refreshes the catalog's views in a short, retried write. The
refs are the truth; the catalog is a convenience rebuilt from them, so a user holding the catalog
open in a DuckDB shell delays nothing and loses nothing (see ``dataflow_dagster.core.catalog``).

Every file here may be damaged from outside (disk full, half-restored backup, a file copied over a
snapshot): refs, history lines and snapshots are checked cheaply when read (``core.integrity``), and
a damaged one gives a one-line error naming the file and what to do instead of a traceback.
"""

import filecmp
import hashlib
import json
import logging
import os
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb

from dataflow_dagster.core import catalog as _catalog
from dataflow_dagster.core.catalog import CatalogLockedError
from dataflow_dagster.core.integrity import (
    StateCorruptError,
    atomic_write_text,
    history_lines,
    parquet_problem,
    read_json_file,
    require_keys,
)
from operators.core.contract import OperatorError, quote_ident, quote_literal

TABLE_PARTS = ("table", "rejected", "errors")
MEMORY_LIMIT_ENV = "DATAFLOW_MEMORY_LIMIT"
DEFAULT_MEMORY_LIMIT = "1GB"
# DuckDB scans a Parquet file one row group per thread: 100k-row groups left a 100k-row table to one
# core (the text filter chain ran 1.9x slower). 16k rows of text is still ~10 MB a group.
SNAPSHOT_ROW_GROUP_ROWS = 16_384

_atomic_write_text = atomic_write_text  # the name other engine modules import
__all__ = ["CatalogLockedError", "SnapshotRef", "StateCorruptError", "Storage", "content_hash"]


@dataclass(frozen=True)
class AssetAddress:
    """One materialisable thing in storage: an asset (``pipeline__step``) and, if partitioned, a partition.

    Every storage lookup takes one of these (or a plain asset name for an unpartitioned asset), so an
    asset and its partition travel together instead of as two loose arguments.
    """

    asset: str
    partition: str | None = None

    @classmethod
    def of(cls, address: "AssetAddress | str") -> "AssetAddress":
        return address if isinstance(address, AssetAddress) else cls(address)

    @property
    def stem(self) -> str:
        """File-name stem of this address under refs/, memo/ (``asset`` or ``asset@partition``)."""
        name = self.asset if self.partition is None else f"{self.asset}@{_safe(self.partition)}"
        return _safe(name)

    def __str__(self) -> str:
        return self.asset if self.partition is None else f"{self.asset}@{self.partition}"


Address = AssetAddress | str


@dataclass(frozen=True)
class SnapshotRef:
    """A published table: a whole Parquet file, or (steps of a fused stage) a view over the stage's
    snapshot: ``select`` picks and renames its columns and ``where`` its rows."""

    path: str
    content_hash: str
    row_count: int
    columns: list[list[str]]  # [name, type] pairs
    size: int | None = None  # bytes when written; None in refs written before sizes were recorded
    select: str | None = None
    where: str | None = None

    def read_sql(self) -> str:
        if self.select is None and self.where is None:
            return f"read_parquet({quote_literal(self.path)})"
        return (
            f"(SELECT {self.select or '*'} FROM read_parquet({quote_literal(self.path)}) WHERE {self.where or 'true'})"
        )

    def scan_sql(self, pos: str) -> str:
        """The table with each row's position in the snapshot file as column ``pos``."""
        file = f"read_parquet({quote_literal(self.path)}, file_row_number=true)"
        if self.select is None and self.where is None:
            return f"(SELECT * EXCLUDE (file_row_number), file_row_number AS {pos} FROM {file})"
        return f"(SELECT {self.select or '*'}, file_row_number AS {pos} FROM {file} WHERE {self.where or 'true'})"


def content_hash(con: duckdb.DuckDBPyConnection, relation_sql: str) -> tuple[str, int]:
    """Order-independent hash of a relation: rows hashed as JSON, summed, plus the schema.

    Summing per-row md5 halves makes the hash independent of row order (parallel writers and
    different join plans may reorder rows) while still counting duplicates.
    """
    n, lo, hi = con.execute(
        f"""SELECT count(*), coalesce(sum(md5_number_lower(j)::HUGEINT), 0),
                   coalesce(sum(md5_number_upper(j)::HUGEINT), 0)
            FROM (SELECT to_json(t)::VARCHAR AS j FROM {relation_sql} t)"""
    ).fetchall()[0]
    schema = con.execute(f"DESCRIBE SELECT * FROM {relation_sql}").fetchall()
    cols = [[r[0], r[1]] for r in schema]
    return hash_digest(int(n), int(lo), int(hi), cols), int(n)


def hash_digest(n: int, lo: int, hi: int, cols: list[list[str]]) -> str:
    """The content hash from its parts: row count, the two sums of per-row md5 halves, the schema.
    Sums add up, so the hash of a union of row groups is computed from the groups' sums."""
    return hashlib.sha256(json.dumps([n, str(lo), str(hi), cols]).encode()).hexdigest()


class Storage:
    """Paths and operations under one storage root (default ``.dataflow``)."""

    def __init__(
        self,
        root: str | os.PathLike[str] = ".dataflow",
        catalog: str | None = None,
        lock_timeout_s: float = 30.0,
        memory_limit: str | None = None,
        cache_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.root = Path(root).resolve()
        self._cache_path = Path(cache_path).resolve() if cache_path else self.root / "llm_cache.sqlite"
        self.catalog_path = Path(catalog).resolve() if catalog else self.root / "catalog.duckdb"
        self.lock_timeout_s = lock_timeout_s
        # Each step's DuckDB gets this memory limit and spills past it to <root>/tmp. DuckDB's own
        # default (80% of RAM per connection) lets a few parallel steps of the multiprocess
        # executor take the machine down; 1GB keeps a step's peak RSS under ~2 GiB at any table size.
        self.memory_limit = memory_limit or os.environ.get(MEMORY_LIMIT_ENV) or DEFAULT_MEMORY_LIMIT
        (self.root / "snapshots").mkdir(parents=True, exist_ok=True)
        (self.root / "refs").mkdir(parents=True, exist_ok=True)
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)

    # ---- paths: the on-disk layout of a storage root lives here and nowhere else --------------
    @property
    def cache_path(self) -> Path:
        """The response cache (SQLite, WAL) shared by every step of this root (or given at creation)."""
        return self._cache_path

    def scratch(self, root: str | os.PathLike[str]) -> "Storage":
        """A separate storage at ``root`` answering LLM rows from this one's response cache.

        Audit replays and benchmark checks rebuild tables there without touching this root's refs.
        """
        return Storage(
            root, lock_timeout_s=self.lock_timeout_s, memory_limit=self.memory_limit, cache_path=self.cache_path
        )

    def history_path(self, asset: str) -> Path:
        """Append-only log of every publish of ``asset`` (all partitions), one JSON document a line."""
        return self.root / "history" / f"{_safe(asset)}.jsonl"

    def memo_dir(self, address: Address) -> Path:
        """Row-memo sidecars of one step (and partition); see ``core.incremental``."""
        return self.root / "memo" / AssetAddress.of(address).stem

    def plots_dir(self, asset: str) -> Path:
        """Charts drawn for ``asset``'s metadata and checks (content-addressed PNGs)."""
        return self.root / "plots" / _safe(asset)

    def ref_path(self, address: Address) -> Path:
        return self.root / "refs" / f"{AssetAddress.of(address).stem}.json"

    def connect(self, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
        """A private in-memory DuckDB for one step, spilling to the storage root's tmp dir."""
        con = duckdb.connect(":memory:")
        con.execute(f"SET temp_directory = {quote_literal(str(self.root / 'tmp'))}")
        limit = memory_limit or self.memory_limit
        try:
            con.execute(f"SET memory_limit = {quote_literal(limit)}")
        except duckdb.Error as exc:
            con.close()
            raise OperatorError(
                f"memory limit '{limit}' (StorageResource.memory_limit or ${MEMORY_LIMIT_ENV}) "
                f"is not a DuckDB size: {exc}; use e.g. '1GB' or '512MB'"
            ) from exc
        return con

    # ---- snapshots ---------------------------------------------------------------------------
    def write_snapshot(self, con: duckdb.DuckDBPyConnection, relation: str, asset: str) -> SnapshotRef:
        """Write ``relation`` (minus ``__`` helper columns) as an immutable snapshot of ``asset``."""
        cols = [r[0] for r in con.execute(f"DESCRIBE {quote_ident(relation)}").fetchall()]
        keep = ", ".join(quote_ident(c) for c in cols if not c.startswith("__")) or "*"
        tmp = self.write_file(con, f"SELECT {keep} FROM {quote_ident(relation)}", asset)
        try:
            ref = self.describe_file(con, tmp)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        final = self.place_file(tmp, asset, ref.content_hash, con)
        return SnapshotRef(str(final), ref.content_hash, ref.row_count, ref.columns, final.stat().st_size)

    def write_file(self, con: duckdb.DuckDBPyConnection, query: str, asset: str) -> Path:
        """Write ``query`` to a temporary Parquet file in ``asset``'s snapshot folder (``place_file``
        then gives it its final name); nothing half-written is ever left under a final name."""
        folder = self.root / "snapshots" / _safe(asset)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".tmp-{uuid.uuid4().hex}.parquet"
        try:
            con.execute(
                f"COPY ({query}) TO {quote_literal(str(tmp))} "
                f"(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {SNAPSHOT_ROW_GROUP_ROWS})"
            )
        except duckdb.OutOfMemoryException as exc:
            tmp.unlink(missing_ok=True)
            limit = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
            raise OperatorError(
                f"'{asset}' needs more memory than the step's DuckDB limit ({limit}); a single row with a "
                f"very large field (about 100 MB needs ~3GB) is the usual cause. Raise "
                f"StorageResource(memory_limit=...) or ${MEMORY_LIMIT_ENV}, e.g. '4GB'"
            ) from exc
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return tmp

    def place_file(self, tmp: Path, asset: str, digest: str, con: duckdb.DuckDBPyConnection | None = None) -> Path:
        """Rename ``tmp`` to its content-addressed name. A file already there is kept when it holds
        that content (checked with ``con`` when given); a damaged or swapped one is replaced."""
        final = self.root / "snapshots" / _safe(asset) / f"{digest[:32]}.parquet"
        if final.exists() and (con is None or self._holds(con, final, tmp, digest)):
            tmp.unlink(missing_ok=True)
        else:
            os.replace(tmp, final)
        return final

    def _holds(self, con: duckdb.DuckDBPyConnection, existing: Path, fresh: Path, digest: str) -> bool:
        """Does the snapshot already stored under a content address really hold that content?

        Byte-identical to the fresh copy (the usual re-run) is answered by a file compare; a
        different layout of the same rows needs a re-hash. Anything else is logged and repaired.
        """
        problem = parquet_problem(existing)
        if problem is None:
            if existing.stat().st_size == fresh.stat().st_size and filecmp.cmp(existing, fresh, shallow=False):
                return True
            try:
                if self.describe_file(con, existing).content_hash == digest:
                    return True
            except duckdb.Error as exc:
                problem = f"cannot be read ({str(exc).splitlines()[0][:200]})"
            else:
                problem = "holds other rows than its name says"
        logging.getLogger("dataflow").warning(f"snapshot {existing} {problem}; replacing it with the fresh copy")
        return False

    def describe_file(self, con: duckdb.DuckDBPyConnection, path: Path | str) -> SnapshotRef:
        rel = f"read_parquet({quote_literal(str(path))})"
        digest, n = content_hash(con, rel)
        cols = [[r[0], r[1]] for r in con.execute(f"DESCRIBE SELECT * FROM {rel}").fetchall()]
        return SnapshotRef(str(path), digest, n, cols, Path(path).stat().st_size)

    def verify_snapshot(self, ref: SnapshotRef, asset: str) -> None:
        """Cheap check before a step reads ``ref`` (size, Parquet header and footer): a truncated or
        swapped file fails here with the way out, not as a DuckDB error mid-step or as wrong rows."""
        problem = parquet_problem(ref.path, ref.size)
        if problem is not None:
            raise StateCorruptError(
                f"snapshot {ref.path} of '{asset}' {problem}; re-materialise '{asset}' to rewrite it "
                f"(the UI or `dataflow-dagster run PIPELINE`); `dataflow-dagster lineage audit {asset}` "
                "re-hashes every stored table of its chain"
            )

    # ---- refs --------------------------------------------------------------------------------
    def publish(self, address: Address, refs: dict[str, SnapshotRef], lineage: dict[str, Any]) -> None:
        """Make ``refs`` the current version of ``address`` in one atomic rename; append it to the history."""
        address = AssetAddress.of(address)
        doc = {
            "asset": address.asset,
            "partition": address.partition,
            "published_at": time.time(),
            "tables": {k: asdict(v) for k, v in refs.items()},
            "lineage": lineage,
        }
        atomic_write_text(self.ref_path(address), json.dumps(doc, indent=1, default=str))
        history = self.history_path(address.asset)
        history.parent.mkdir(parents=True, exist_ok=True)
        with open(history, "a+b") as fh:  # append-only log for audits without Dagster
            if fh.tell() > 0:
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":  # a crash cut the last record short: start a fresh line
                    fh.write(b"\n")
            fh.write((json.dumps(doc, default=str) + "\n").encode())

    def _history_docs(self, path: Path, strict: bool = False) -> list[dict[str, Any]]:
        """Every publish record in one history file, oldest first. A damaged line stops a ``strict``
        reader (gc: it cannot know which snapshots that line kept alive); others skip it with a warning."""
        if not path.exists():
            return []
        docs = []
        for lineno, doc, problem in history_lines(path):
            if doc is not None:
                docs.append(doc)
                continue
            fix = f"delete or repair line {lineno} of {path} (each line is one publish record)"
            if strict:
                raise StateCorruptError(f"{problem}; {fix}")
            logging.getLogger("dataflow").warning(f"{problem}: skipped; {fix}")
        return docs

    def current(self, address: Address) -> dict[str, Any] | None:
        path = self.ref_path(address)
        if not path.exists():
            return None
        return self._read_ref(path)

    def _read_ref(self, path: Path) -> dict[str, Any]:
        fix = (
            f"re-materialise '{path.stem}' to rewrite it, or copy the last good line of "
            f"{self.root / 'history' / path.stem.split('@')[0]}.jsonl into it"
        )
        doc = read_json_file(path, "ref file", fix)
        require_keys(doc, path, "ref file", fix, asset=str, tables=dict)
        for part, table in doc["tables"].items():
            try:
                SnapshotRef(**table)
            except TypeError:
                raise StateCorruptError(f"ref file {path}: table '{part}' is not a snapshot record; {fix}") from None
        return doc

    def current_ref(self, address: Address, part: str = "table") -> SnapshotRef | None:
        doc = self.current(address)
        if doc is None or part not in doc["tables"]:
            return None
        return SnapshotRef(**doc["tables"][part])

    def current_refs(self, address: Address) -> dict[str, SnapshotRef]:
        """Every table of the asset's current materialisation (``table``, ``rejected``, ``errors``...)."""
        doc = self.current(address) or {"tables": {}}
        return {k: SnapshotRef(**v) for k, v in doc["tables"].items()}

    def require_ref(self, address: Address) -> SnapshotRef:
        address = AssetAddress.of(address)
        ref = self.current_ref(address)
        asset = address.asset
        if ref is None:
            where = f" partition '{address.partition}'" if address.partition else ""
            raise OperatorError(
                f"upstream asset '{asset}'{where} has no materialisation in storage {self.root}; "
                "materialise it first (or the whole pipeline job)"
            )
        if not Path(ref.path).exists():
            raise OperatorError(
                f"snapshot {ref.path} of '{asset}' is missing (deleted by hand or gc?); re-materialise '{asset}'"
            )
        self.verify_snapshot(ref, asset)
        return ref

    # ---- history ------------------------------------------------------------------------------
    def history(self, address: Address) -> list[dict[str, Any]]:
        """Every publish of ``address`` that has a table, oldest first (audits and diffs without Dagster)."""
        address = AssetAddress.of(address)
        return [
            doc
            for doc in self._history_docs(self.history_path(address.asset))
            if doc.get("partition") == address.partition and "table" in doc["tables"]
        ]

    def all_history(self, strict: bool = False) -> dict[str, list[dict[str, Any]]]:
        """Every asset's publishes, all partitions, oldest first, keyed by the history file's asset."""
        return {p.stem: self._history_docs(p, strict) for p in sorted((self.root / "history").glob("*.jsonl"))}

    def all_refs(self) -> dict[str, dict[str, Any]]:
        """Every current ref; a damaged one raises (callers that delete things must not guess)."""
        refs, problems = self.readable_refs()
        if problems:
            raise StateCorruptError(problems[0])
        return refs

    def readable_refs(self) -> tuple[dict[str, dict[str, Any]], list[str]]:
        """Every ref that reads, plus one message per damaged ref (the catalog leaves those out, so
        one bad ref does not take every other asset's view down with it)."""
        out, problems = {}, []
        for p in sorted((self.root / "refs").glob("*.json")):
            try:
                doc = self._read_ref(p)
            except StateCorruptError as exc:
                problems.append(str(exc))
                continue
            name = doc["asset"] if not doc.get("partition") else f"{doc['asset']}@{doc['partition']}"
            out[name] = doc
        return out, problems

    # ---- catalog -----------------------------------------------------------------------------
    def sync_catalog(self) -> bool:
        """Rebuild the catalog from the refs and rename it into place (never waits on a user's DuckDB
        session). Returns False, leaving data safe and the catalog reported stale by
        ``catalog_status``, when another rebuild holds the lock too long or the write fails."""
        try:
            _catalog.rebuild(self)
        except (CatalogLockedError, OSError, duckdb.Error) as exc:
            logging.getLogger("dataflow").warning(f"catalog not refreshed: {exc}")
            return False
        return True

    def catalog_status(self) -> dict[str, Any]:
        """``up_to_date``, ``built_at``, ``stale`` (assets newer than the catalog) and ``problems``."""
        return _catalog.status(self)

    # ---- garbage collection ------------------------------------------------------------------
    def current_paths(self) -> set[str]:
        """Snapshot files the current refs point at."""
        return {t["path"] for doc in self.all_refs().values() for t in doc["tables"].values()}

    def gc(self, keep_paths: set[str] | None = None, dry_run: bool = False, min_age_s: float = 0.0) -> list[str]:
        """Delete snapshot files referenced neither by current refs nor by ``keep_paths``
        (e.g. every path the Dagster event log still mentions).

        Files younger than ``min_age_s`` are kept: a step writes its snapshot before it publishes the
        ref, and a gc between the two would delete a file that is about to become current.
        """
        keep = set(keep_paths or ()) | self.current_paths()
        newest = time.time() - min_age_s
        removed = []
        for f in (self.root / "snapshots").rglob("*.parquet"):
            if str(f) in keep or f.name.startswith(".tmp-"):
                continue
            if min_age_s > 0 and f.stat().st_mtime > newest:
                continue
            removed.append(str(f))
            if not dry_run:
                f.unlink()
        return sorted(removed)


def _safe(name: str) -> str:
    bad = set('/\\:*?"<>|\0')
    cleaned = "".join("_" if ch in bad else ch for ch in name)
    if cleaned in {"", ".", ".."}:
        raise OperatorError(f"'{name}' cannot be used as an asset or partition name in storage")
    return cleaned
