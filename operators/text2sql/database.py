"""Read-only access to the SQLite and DuckDB databases Text-to-SQL rows refer to by ``db_id``.

Model-written SQL is untrusted input, so every query passes four independent gates before a row of
its result is read: the statement is parsed with sqlglot and must be one SELECT (or set operation)
with no mutating or file-reading node anywhere in its tree; the database is opened read-only
(SQLite ``mode=ro`` URI + ``PRAGMA query_only`` + an authorizer that only allows reads; DuckDB
``read_only=True`` with external access disabled and the configuration locked); a deadline
interrupts long queries (SQLite progress handler, DuckDB ``interrupt()`` from a timer); and at most
``max_rows + 1`` rows are fetched. Any single gate failing still leaves the file unchanged.
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
import sqlglot
from sqlglot import exp

from operators.core.contract import OperatorError

SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db")
DUCKDB_SUFFIXES = (".duckdb", ".ddb")
_DB_ID = re.compile(r"^[A-Za-z0-9_\-]+$")

# Statement kinds that change state or reach outside the database. The root must be a query anyway;
# this walk catches them nested (e.g. ``WITH x AS (DELETE ... RETURNING *) SELECT ...``).
_FORBIDDEN_NODES: tuple[type[exp.Expression], ...] = tuple(
    getattr(exp, n)
    for n in (
        "Insert",
        "Update",
        "Delete",
        "Merge",
        "Drop",
        "Create",
        "Alter",
        "AlterColumn",
        "Attach",
        "Detach",
        "Pragma",
        "Command",
        "Copy",
        "Set",
        "Transaction",
        "Commit",
        "Rollback",
        "Use",
        "Install",
        "Load",
        "TruncateTable",
        "Into",
        "Export",
        "LoadData",
        "Grant",
        "Revoke",
    )
    if hasattr(exp, n)
)
# Functions that read or write files, load code or inspect the host: refused even inside a SELECT.
_FORBIDDEN_FUNCTIONS = {
    "read_csv",
    "read_csv_auto",
    "read_parquet",
    "parquet_scan",
    "read_json",
    "read_json_auto",
    "read_json_objects",
    "read_ndjson",
    "read_ndjson_auto",
    "read_text",
    "read_blob",
    "glob",
    "sniff_csv",
    "sqlite_scan",
    "sqlite_attach",
    "postgres_scan",
    "mysql_scan",
    "iceberg_scan",
    "delta_scan",
    "read_xlsx",
    "st_read",
    "load_extension",
    "readfile",
    "writefile",
    "edit",
    "fts5vocab",
    "query",
    "query_table",
    "getenv",
    "current_setting",
    "duckdb_secrets",
    "duckdb_settings",
    "duckdb_extensions",
    "pragma_database_list",
    "which_secret",
}
_QUERY_ROOTS = (exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Subquery)


def engine_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in SQLITE_SUFFIXES:
        return "sqlite"
    if suffix in DUCKDB_SUFFIXES:
        return "duckdb"
    raise OperatorError(f"{path}: unknown database type; use a {SQLITE_SUFFIXES} or {DUCKDB_SUFFIXES} file")


def read_only_violation(sql: str | None, dialect: str) -> tuple[str, str] | None:
    """``(status, reason)`` when ``sql`` may not run, None when it may.

    status is ``error`` for SQL that cannot run at all (empty, unparseable) and ``unsafe`` for SQL
    that would run but is not a single read-only query.
    """
    if sql is None or not sql.strip():
        return "error", "empty SQL"
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except sqlglot.errors.SqlglotError as exc:
        return "error", f"does not parse as {dialect} SQL: {str(exc).splitlines()[0][:200]}"
    if len(statements) != 1:
        return "unsafe", f"expected exactly one statement, found {len(statements)}"
    root = statements[0]
    if not isinstance(root, _QUERY_ROOTS):
        return "unsafe", f"not a read-only query: statement is {root.key.upper()}"
    for node in root.walk():
        if isinstance(node, _FORBIDDEN_NODES):
            return "unsafe", f"not a read-only query: contains {node.key.upper()}"
        if isinstance(node, exp.Func):
            name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
            if name in _FORBIDDEN_FUNCTIONS:
                return "unsafe", f"function {name}() reads files or host state"
        if (
            isinstance(node, exp.Table)
            and isinstance(node.this, exp.Identifier)
            and ("/" in node.name or "." in node.name or "\\" in node.name)
        ):
            return "unsafe", f"table name '{node.name}' looks like a file path"
    return None


@dataclass
class ExecResult:
    """Outcome of one guarded execution. ``status`` is ok | unsafe | error | timeout | too_many_rows."""

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
    """One database file opened read-only, with the schema text prompts show the model."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise OperatorError(
                f"database file {self.path} does not exist; build fixtures with "
                "`python scripts/build_sql_fixtures.py DIR` or point db_root elsewhere"
            )
        self.engine = engine_of(self.path)
        self.dialect = self.engine
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
        return con

    def _open_duckdb(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(
            str(self.path),
            read_only=True,
            config={
                "enable_external_access": False,
                "autoload_known_extensions": False,
                "autoinstall_known_extensions": False,
                "lock_configuration": True,
            },
        )

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    # ---- execution ---------------------------------------------------------------------------
    def execute(self, sql: str | None, timeout_s: float = 5.0, max_rows: int = 1000) -> ExecResult:
        """Run ``sql`` through every gate; never raises for a bad query, returns the reason."""
        problem = read_only_violation(sql, self.dialect)
        if problem is not None:
            return ExecResult(problem[0], message=problem[1])
        assert sql is not None
        started = time.monotonic()
        try:
            if self.engine == "sqlite":
                res = self._run_sqlite(sql, timeout_s, max_rows)
            else:
                res = self._run_duckdb(sql, timeout_s, max_rows)
        except _Timeout:
            res = ExecResult("timeout", message=f"ran longer than {timeout_s:g}s and was interrupted")
        except (sqlite3.Error, duckdb.Error) as exc:
            res = ExecResult("error", message=f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
        res.seconds = round(time.monotonic() - started, 4)
        if res.ok and len(res.rows) > max_rows:
            res = ExecResult(
                "too_many_rows", res.columns, res.rows[:max_rows], f"returns more than {max_rows} rows", res.seconds
            )
        return res

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
            rows = cur.fetchmany(max_rows + 1)
            cols = [d[0] for d in cur.description or []]
            cur.close()
        except sqlite3.OperationalError:
            if fired["t"]:
                raise _Timeout() from None
            raise
        finally:
            con.set_progress_handler(None, 0)
        return ExecResult("ok", cols, [tuple(r) for r in rows])

    def _run_duckdb(self, sql: str, timeout_s: float, max_rows: int) -> ExecResult:
        con = self.connection()
        fired = threading.Event()

        def interrupt() -> None:
            fired.set()
            con.interrupt()

        timer = threading.Timer(timeout_s, interrupt)
        timer.start()
        try:
            cur = con.execute(sql)
            cols = [d[0] for d in cur.description or []]
            rows = cur.fetchmany(max_rows + 1)
        except duckdb.Error:
            if fired.is_set():
                raise _Timeout() from None
            raise
        finally:
            timer.cancel()
        return ExecResult("ok", cols, [tuple(r) for r in rows])

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


def _sqlite_authorizer(action: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None) -> int:
    allowed = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
    if action == sqlite3.SQLITE_PRAGMA and arg1 == "query_only":  # our own setup statement
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_FUNCTION and arg2 and arg2.lower() in _FORBIDDEN_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK if action in allowed else sqlite3.SQLITE_DENY


class DatabaseSet:
    """``db_id`` -> read-only ``Database`` under one root folder, opened lazily and closed together.

    Accepted layouts: ``<root>/<db_id>.<ext>`` and Spider/BIRD's ``<root>/<db_id>/<db_id>.<ext>``.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._dbs: dict[str, Database] = {}

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
            self._dbs[db_id] = Database(self.path_of(db_id))
        return self._dbs[db_id]

    def execute(self, db_id: str | None, sql: str | None, timeout_s: float, max_rows: int) -> ExecResult:
        try:
            db = self.get(db_id or "")
        except OperatorError as exc:
            return ExecResult("error", message=str(exc))
        return db.execute(sql, timeout_s, max_rows)

    def close(self) -> None:
        for db in self._dbs.values():
            db.close()
        self._dbs.clear()


@contextmanager
def open_databases(root: str | Path) -> Iterator[DatabaseSet]:
    dbs = DatabaseSet(root)
    try:
        yield dbs
    finally:
        dbs.close()
