"""Snapshot storage: immutable, content-addressed Parquet files plus a catalog of views.

A DuckDB database file admits one process at a time, and Dagster's default executor runs each step
in its own process. So no step ever writes a shared database: each materialisation writes Parquet
snapshots (temp name, then atomic rename), publishes them by atomically replacing one small JSON
*ref* file per asset, and only then refreshes the catalog's views in a short, retried write. The
refs are the truth; the catalog is a convenience rebuilt from them, so a user holding the catalog
open in a DuckDB shell delays nothing and loses nothing.
"""

import hashlib
import json
import os
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb

from operators.core.contract import OperatorError, quote_ident, quote_literal

TABLE_PARTS = ("table", "rejected", "errors")
MEMORY_LIMIT_ENV = "DATAFLOW_MEMORY_LIMIT"
DEFAULT_MEMORY_LIMIT = "1GB"
# DuckDB scans a Parquet file one row group per thread: 100k-row groups left a 100k-row table to one
# core (the text filter chain ran 1.9x slower). 16k rows of text is still ~10 MB a group.
SNAPSHOT_ROW_GROUP_ROWS = 16_384


class CatalogLockedError(OperatorError):
    pass


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


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


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
        final = self.place_file(tmp, asset, ref.content_hash)
        return SnapshotRef(str(final), ref.content_hash, ref.row_count, ref.columns)

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
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return tmp

    def place_file(self, tmp: Path, asset: str, digest: str) -> Path:
        """Rename ``tmp`` to its content-addressed name (an identical file already there is kept)."""
        final = self.root / "snapshots" / _safe(asset) / f"{digest[:32]}.parquet"
        if final.exists():
            tmp.unlink(missing_ok=True)
        else:
            os.replace(tmp, final)
        return final

    def describe_file(self, con: duckdb.DuckDBPyConnection, path: Path | str) -> SnapshotRef:
        rel = f"read_parquet({quote_literal(str(path))})"
        digest, n = content_hash(con, rel)
        cols = [[r[0], r[1]] for r in con.execute(f"DESCRIBE SELECT * FROM {rel}").fetchall()]
        return SnapshotRef(str(path), digest, n, cols)

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
        _atomic_write_text(self.ref_path(address), json.dumps(doc, indent=1, default=str))
        history = self.history_path(address.asset)
        history.parent.mkdir(parents=True, exist_ok=True)
        with open(history, "a", encoding="utf-8") as fh:  # append-only log for audits without Dagster
            fh.write(json.dumps(doc, default=str) + "\n")

    def current(self, address: Address) -> dict[str, Any] | None:
        path = self.ref_path(address)
        if not path.exists():
            return None
        return json.loads(path.read_text(encoding="utf-8"))

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
        return ref

    # ---- history ------------------------------------------------------------------------------
    def _history_docs(self, path: Path) -> list[dict[str, Any]]:
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def history(self, address: Address) -> list[dict[str, Any]]:
        """Every publish of ``address`` that has a table, oldest first (audits and diffs without Dagster)."""
        address = AssetAddress.of(address)
        return [
            doc
            for doc in self._history_docs(self.history_path(address.asset))
            if doc.get("partition") == address.partition and "table" in doc["tables"]
        ]

    def all_history(self) -> dict[str, list[dict[str, Any]]]:
        """Every asset's publishes, all partitions, oldest first, keyed by the history file's asset."""
        return {p.stem: self._history_docs(p) for p in sorted((self.root / "history").glob("*.jsonl"))}

    def all_refs(self) -> dict[str, dict[str, Any]]:
        out = {}
        for p in sorted((self.root / "refs").glob("*.json")):
            doc = json.loads(p.read_text(encoding="utf-8"))
            name = doc["asset"] if not doc.get("partition") else f"{doc['asset']}@{doc['partition']}"
            out[name] = doc
        return out

    # ---- catalog -----------------------------------------------------------------------------
    def sync_catalog(self) -> bool:
        """Rebuild the catalog's views from the refs. Returns False (and leaves data safe) when the
        catalog stays locked by another process for longer than ``lock_timeout_s``."""
        try:
            con = self._open_catalog()
        except CatalogLockedError:
            return False
        try:
            con.execute("BEGIN")
            existing = {
                r[0]
                for r in con.execute(
                    "SELECT view_name FROM duckdb_views() WHERE NOT internal AND schema_name='main'"
                ).fetchall()
            }
            wanted: dict[str, str] = {}
            partitions: dict[str, list[str]] = {}
            for doc in self.all_refs().values():
                for part, ref in doc["tables"].items():
                    view = doc["asset"] if part == "table" else f"{doc['asset']}__{part}"
                    rel = SnapshotRef(**ref).read_sql()
                    if doc.get("partition"):
                        partitions.setdefault(view, []).append(rel)
                    else:
                        wanted[view] = f"SELECT * FROM {rel}"
            for view, rels in partitions.items():
                union = " UNION ALL BY NAME ".join(f"SELECT * FROM {r}" for r in sorted(rels))
                wanted.setdefault(view, union)
            for view, sql in wanted.items():
                con.execute(f"CREATE OR REPLACE VIEW {quote_ident(view)} AS {sql}")
            for stale in existing - set(wanted):
                con.execute(f"DROP VIEW IF EXISTS {quote_ident(stale)}")
            con.execute("COMMIT")
        finally:
            con.close()
        return True

    def _open_catalog(self) -> duckdb.DuckDBPyConnection:
        deadline, delay = time.monotonic() + self.lock_timeout_s, 0.05
        while True:
            try:
                return duckdb.connect(str(self.catalog_path))
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower():
                    raise
                if time.monotonic() >= deadline:
                    raise CatalogLockedError(
                        f"catalog {self.catalog_path} is held open by another process ({_holder(exc)}); "
                        "close that DuckDB session (snapshots are safe; views refresh on the next run or "
                        "with `dataflow-dagster catalog sync`)"
                    ) from exc
                time.sleep(delay)
                delay = min(delay * 2, 1.0)

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


def _holder(exc: Exception) -> str:
    text = str(exc)
    marker = "PID "
    i = text.find(marker)
    return text[i:].split(")")[0] if i >= 0 else "lock conflict"
