"""The static gate for model-written SQL: one read-only query, nothing that reaches outside.

Parsed with sqlglot; the statement must be one SELECT (or set operation) with no mutating or
file-reading node anywhere in its tree. The SQLite authorizer repeats the function check at run
time. This gate decides *what* may run; ``operators.core.isolated`` bounds *how long* and *how
much memory* it may take.
"""

import sqlite3

import sqlglot
from sqlglot import exp

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


def _sqlite_authorizer(action: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None) -> int:
    allowed = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
    if action == sqlite3.SQLITE_PRAGMA and arg1 == "query_only":  # our own setup statement
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_FUNCTION and arg2 and arg2.lower() in _FORBIDDEN_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK if action in allowed else sqlite3.SQLITE_DENY
