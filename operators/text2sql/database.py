"""Read-only access to the SQLite and DuckDB databases Text-to-SQL rows refer to by ``db_id``.

Model-written SQL is untrusted input, so every query passes independent gates before a row of its
result is read: the statement is parsed with sqlglot and must be one SELECT (or set operation) with
no mutating or file-reading node anywhere in its tree (``sql_gate``); the database is opened
read-only (SQLite ``mode=ro`` URI + ``PRAGMA query_only`` + an authorizer that only allows reads;
DuckDB ``read_only=True`` with external access disabled and the configuration locked); and the
query runs in a worker process (``operators.core.isolated``) with an address-space limit that is
SIGKILLed at its wall-clock deadline, so neither a slow function call nor a huge value can hold or
kill the step. Inside the worker a cooperative deadline (SQLite progress handler, DuckDB
``interrupt()``) answers the common slow query without a restart, SQLite refuses any string or
blob over ``max_result_bytes``, and rows are fetched only up to ``max_rows + 1`` and
``max_result_bytes``. Any single gate failing still leaves the file unchanged.
"""

import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from operators.core.contract import OperatorError
from operators.core.isolated import IsolatedWorker, Outcome
from operators.text2sql.sql_gate import _sqlite_authorizer, read_only_violation

__all__ = ["Database", "DatabaseSet", "ExecResult", "open_databases", "read_only_violation"]

DEFAULT_MEMORY_MB = 1024
DEFAULT_MAX_RESULT_BYTES = 16 * 2**20
KILL_GRACE_S = 0.5  # the worker's own interrupt gets this long to answer before it is killed
SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db")
DUCKDB_SUFFIXES = (".duckdb", ".ddb")
_DB_ID = re.compile(r"^[A-Za-z0-9_\-]+$")


def engine_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in SQLITE_SUFFIXES:
        return "sqlite"
    if suffix in DUCKDB_SUFFIXES:
        return "duckdb"
    raise OperatorError(f"{path}: unknown database type; use a {SQLITE_SUFFIXES} or {DUCKDB_SUFFIXES} file")


@dataclass
class ExecResult:
    """Outcome of one guarded execution. ``status`` is ok | unsafe | error | timeout | too_many_rows |
    too_large (result bytes over the cap) | out_of_memory (the worker hit its memory limit or died)."""

    status: str
    columns: list[str] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    message: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def row_set(self) -> frozenset[tuple[str, ...]]:
        """Rows as a set of string tuples: BIRD's comparison (order and duplicates ignored)."""
        return frozenset(tuple(_norm(v) for v in r) for r in self.rows)

    def preview(self, n: int = 5, width: int = 200) -> str:
        if not self.ok:
            return f"[{self.status}] {self.message}"
        head = " | ".join(self.columns)
        body = "\n".join(" | ".join(_norm(v) for v in r) for r in self.rows[:n])
        more = f"\n... ({len(self.rows)} rows)" if len(self.rows) > n else ""
        return (head + "\n" + body + more)[: width * (n + 1)]


def _norm(v: Any) -> str:
    if isinstance(v, float):
        return repr(round(v, 6))
    return "NULL" if v is None else str(v)


class Database:
    """One database file opened read-only, with the schema text prompts show the model.

    ``execute`` runs model-written SQL in ``worker`` (one is started on first use when none is
    given); ``execute_local`` is the same query path in this process, which is what the worker runs.
    """

    def __init__(
        self,
        path: str | Path,
        worker: IsolatedWorker | None = None,
        memory_mb: int = DEFAULT_MEMORY_MB,
        max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES,
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise OperatorError(
                f"database file {self.path} does not exist; build fixtures with "
                "`python scripts/build_sql_fixtures.py DIR` or point db_root elsewhere"
            )
        self.engine = engine_of(self.path)
        self.dialect = self.engine
        self.memory_mb, self.max_result_bytes = memory_mb, max_result_bytes
        self._worker, self._own_worker = worker, worker is None
        self._con: Any = None
        self._schema: str | None = None

    # ---- connections -------------------------------------------------------------------------
    def connection(self) -> Any:
        if self._con is None:
            self._con = self._open_sqlite() if self.engine == "sqlite" else self._open_duckdb()
        return self._con

    def _open_sqlite(self) -> sqlite3.Connection:
        uri = f"{self.path.resolve().as_uri()}?mode=ro"
        con = sqlite3.connect(uri, uri=True, check_same_thread=False)
        con.execute("PRAGMA query_only = ON")
        con.set_authorizer(_sqlite_authorizer)
        # No string or blob (zeroblob(1e9), replace(hex(...))) may grow past the result cap.
        con.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, max(self.max_result_bytes, 1 << 16))
        return con

    def _open_duckdb(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(
            str(self.path),
            read_only=True,
            config={
                "enable_external_access": False,
                "autoload_known_extensions": False,
                "autoinstall_known_extensions": False,
                "memory_limit": f"{max(self.memory_mb // 2, 64)}MB",
                "threads": 2,
                "lock_configuration": True,
            },
        )

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
        if self._own_worker and self._worker is not None:
            self._worker.close()
            self._worker = None

    # ---- execution ---------------------------------------------------------------------------
    def execute(self, sql: str | None, timeout_s: float = 5.0, max_rows: int = 1000) -> ExecResult:
        """Run ``sql`` through every gate in the worker; never raises for a bad query, returns why."""
        problem = read_only_violation(sql, self.dialect)
        if problem is not None:
            return ExecResult(problem[0], message=problem[1])
        if self._worker is None:
            self._worker = IsolatedWorker(self.memory_mb, "SQL worker", (__name__,))
        out = self._worker.call(_TARGET, self.worker_args(sql, timeout_s, max_rows), timeout_s + KILL_GRACE_S)
        return _from_outcome(out, timeout_s)

    def worker_args(self, sql: str, timeout_s: float, max_rows: int) -> tuple[Any, ...]:
        return (str(self.path), sql, timeout_s, max_rows, self.max_result_bytes, self.memory_mb)

    def execute_local(self, sql: str, timeout_s: float, max_rows: int) -> ExecResult:
        """The query path inside the worker: cooperative deadline, row and byte caps."""
        started = time.monotonic()
        try:
            if self.engine == "sqlite":
                res = self._run_sqlite(sql, timeout_s, max_rows)
            else:
                res = self._run_duckdb(sql, timeout_s, max_rows)
        except _Timeout:
            res = ExecResult("timeout", message=f"ran longer than {timeout_s:g}s and was interrupted")
        except (sqlite3.Error, duckdb.Error) as exc:
            text = str(exc).splitlines()[0][:300]
            if _RESOURCE_EXHAUSTED.search(text):
                res = ExecResult("too_large", message=f"{type(exc).__name__}: {text}")
            else:
                res = ExecResult("error", message=f"{type(exc).__name__}: {text}")
        res.seconds = round(time.monotonic() - started, 4)
        if res.ok and len(res.rows) > max_rows:
            res = ExecResult(
                "too_many_rows", res.columns, res.rows[:max_rows], f"returns more than {max_rows} rows", res.seconds
            )
        return res

    def _fetch(self, cur: Any, max_rows: int) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Up to ``max_rows + 1`` rows, stopping as soon as they exceed ``max_result_bytes``."""
        cols = [d[0] for d in cur.description or []]
        rows: list[tuple[Any, ...]] = []
        size = 0
        while len(rows) <= max_rows:
            chunk = cur.fetchmany(min(256, max_rows + 1 - len(rows)))
            if not chunk:
                break
            for r in chunk:
                size += sum(len(v) if isinstance(v, (str, bytes)) else 16 for v in r)
                if size > self.max_result_bytes:
                    raise _TooLarge(f"result exceeds {self.max_result_bytes} bytes after {len(rows)} rows")
                rows.append(tuple(r))
        return cols, rows

    def _run_sqlite(self, sql: str, timeout_s: float, max_rows: int) -> ExecResult:
        con = self.connection()
        deadline = time.monotonic() + timeout_s
        fired = {"t": False}

        def handler() -> int:
            if time.monotonic() > deadline:
                fired["t"] = True
                return 1
            return 0

        con.set_progress_handler(handler, 1000)
        try:
            cur = con.execute(sql)
            cols, rows = self._fetch(cur, max_rows)
            cur.close()
        except _TooLarge as exc:
            return ExecResult("too_large", message=f"{exc}; select fewer or smaller columns")
        except sqlite3.OperationalError:
            if fired["t"]:
                raise _Timeout() from None
            raise
        finally:
            con.set_progress_handler(None, 0)
        return ExecResult("ok", cols, rows)

    def _run_duckdb(self, sql: str, timeout_s: float, max_rows: int) -> ExecResult:
        con = self.connection()
        fired = threading.Event()

        def interrupt() -> None:
            fired.set()
            con.interrupt()

        timer: threading.Timer | None = threading.Timer(timeout_s, interrupt)
        try:
            timer.start()
        except RuntimeError:  # no memory left for a thread's stack: the worker's kill is the deadline
            timer = None
        try:
            cur = con.execute(sql)
            cols, rows = self._fetch(cur, max_rows)
        except _TooLarge as exc:
            return ExecResult("too_large", message=f"{exc}; select fewer or smaller columns")
        except duckdb.Error:
            if fired.is_set():
                raise _Timeout() from None
            raise
        finally:
            if timer is not None:
                timer.cancel()
        return ExecResult("ok", cols, rows)

    # ---- schema ------------------------------------------------------------------------------
    def schema_text(self, sample_rows: int = 1) -> str:
        """CREATE statements (with keys) and a sample row per table: what the model writes SQL from."""
        if self._schema is None:
            con = self.connection()
            if self.engine == "sqlite":
                ddl = con.execute(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT LIKE 'sqlite_%' ORDER BY name"
                ).fetchall()
            else:
                ddl = con.execute(
                    "SELECT table_name, sql FROM duckdb_tables() WHERE NOT internal ORDER BY table_name"
                ).fetchall()
            parts = []
            for name, create in ddl:
                parts.append(re.sub(r"\s+", " ", create.strip().rstrip(";")) + ";")
                if sample_rows > 0:
                    q = f'SELECT * FROM "{name}" LIMIT {int(sample_rows)}'
                    for row in con.execute(q).fetchall():
                        parts.append(f"-- e.g. {name}: ({', '.join(_norm(v) for v in row)})")
            self._schema = "\n".join(parts)
        return self._schema

    def table_names(self) -> list[str]:
        con = self.connection()
        q = (
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY 1"
            if self.engine == "sqlite"
            else "SELECT table_name FROM duckdb_tables() ORDER BY 1"
        )
        return [r[0] for r in con.execute(q).fetchall()]


class _Timeout(Exception):
    pass


class _TooLarge(Exception):
    pass


_WORKER_DBS: dict[str, Database] = {}
# How SQLite and DuckDB word "this query needs more than it may have" across versions, allocators and
# thread counts (``Out of Memory Error``, ``std::bad_alloc``, ``string or blob too big``, ...).
_RESOURCE_EXHAUSTED = re.compile(
    r"too big|too large|memory|bad.alloc|allocat|exceeds? (the )?maximum|can't start new thread", re.I
)
_TARGET = "operators.text2sql.database:execute_in_worker"


def _from_outcome(out: Outcome, timeout_s: float) -> ExecResult:
    if out.ok:
        status, cols, rows, message = out.value
        return ExecResult(status, list(cols), [tuple(r) for r in rows], message, out.seconds)
    if out.status == "timeout":
        msg = f"ran longer than {timeout_s:g}s; the SQL worker was killed"
        return ExecResult("timeout", message=msg, seconds=out.seconds)
    exhausted = out.status in ("memory", "crashed") or _RESOURCE_EXHAUSTED.search(out.message or "")
    status = "out_of_memory" if exhausted else "error"
    return ExecResult(status, message=out.message, seconds=out.seconds)


def execute_in_worker(
    path: str, sql: str, timeout_s: float, max_rows: int, max_bytes: int, memory_mb: int
) -> tuple[str, list[str], list[tuple[Any, ...]], str]:
    """Entry point inside the SQL worker; connections stay open across calls."""
    key = f"{path}|{max_bytes}|{memory_mb}"
    if key not in _WORKER_DBS:
        _WORKER_DBS[key] = Database(path, memory_mb=memory_mb, max_result_bytes=max_bytes)
    res = _WORKER_DBS[key].execute_local(sql, timeout_s, max_rows)
    return res.status, res.columns, res.rows, res.message


class DatabaseSet:
    """``db_id`` -> read-only ``Database`` under one root folder, opened lazily and closed together.

    Accepted layouts: ``<root>/<db_id>.<ext>`` and Spider/BIRD's ``<root>/<db_id>/<db_id>.<ext>``.
    All databases of the set share one SQL worker process (started on the first query).
    """

    def __init__(
        self, root: str | Path, memory_mb: int = DEFAULT_MEMORY_MB, max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES
    ) -> None:
        self.root = Path(root)
        self.memory_mb, self.max_result_bytes = memory_mb, max_result_bytes
        self._dbs: dict[str, Database] = {}
        self.worker = IsolatedWorker(memory_mb, "SQL worker", (__name__,))

    def path_of(self, db_id: str) -> Path:
        if not db_id or not _DB_ID.match(db_id):
            raise OperatorError(f"db_id {db_id!r} is not a plain name (letters, digits, _ and -)")
        for base in (self.root, self.root / db_id):
            for suffix in (*SQLITE_SUFFIXES, *DUCKDB_SUFFIXES):
                cand = base / f"{db_id}{suffix}"
                if cand.is_file():
                    return cand
        raise OperatorError(
            f"no database for db_id '{db_id}' under {self.root} (looked for {db_id}.sqlite, "
            f"{db_id}.duckdb, {db_id}/{db_id}.sqlite, ...); build fixtures with "
            "`python scripts/build_sql_fixtures.py` or fix db_root"
        )

    def get(self, db_id: str) -> Database:
        if db_id not in self._dbs:
            self._dbs[db_id] = Database(self.path_of(db_id), self.worker, self.memory_mb, self.max_result_bytes)
        return self._dbs[db_id]

    def execute(self, db_id: str | None, sql: str | None, timeout_s: float, max_rows: int) -> ExecResult:
        try:
            db = self.get(db_id or "")
        except OperatorError as exc:
            return ExecResult("error", message=str(exc))
        return db.execute(sql, timeout_s, max_rows)

    def execute_many(
        self, queries: list[tuple[str | None, str | None]], timeout_s: float, max_rows: int
    ) -> list[ExecResult]:
        """``execute`` for a batch of ``(db_id, sql)``: one message to the worker for the whole batch
        (each query still has its own deadline), which on a busy machine is most of the cost."""
        results: list[ExecResult | None] = [None] * len(queries)
        todo: list[int] = []
        args: list[tuple[Any, ...]] = []
        for i, (db_id, sql) in enumerate(queries):
            try:
                db = self.get(db_id or "")
            except OperatorError as exc:
                results[i] = ExecResult("error", message=str(exc))
                continue
            problem = read_only_violation(sql, db.dialect)
            if problem is not None:
                results[i] = ExecResult(problem[0], message=problem[1])
                continue
            todo.append(i)
            args.append(db.worker_args(sql or "", timeout_s, max_rows))
        for i, out in zip(todo, self.worker.call_many(_TARGET, args, timeout_s + KILL_GRACE_S), strict=True):
            results[i] = _from_outcome(out, timeout_s)
        return [r for r in results if r is not None]

    def close(self) -> None:
        for db in self._dbs.values():
            db.close()
        self._dbs.clear()
        self.worker.close()


@contextmanager
def open_databases(
    root: str | Path, memory_mb: int = DEFAULT_MEMORY_MB, max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES
) -> Iterator[DatabaseSet]:
    dbs = DatabaseSet(root, memory_mb, max_result_bytes)
    try:
        yield dbs
    finally:
        dbs.close()
