"""Run a general-text operator on a real DuckDB and read back what it kept and dropped."""

from typing import Any

import duckdb
import pyarrow as pa

from operators.core.contract import Operator, OperatorContext


def make_source(
    con: duckdb.DuckDBPyConnection, texts: list[Any], extra: dict[str, list[Any]] | None = None, key: str = "text"
) -> None:
    cols = {"_id": [f"r{i}" for i in range(len(texts))], key: texts, "__pos": list(range(len(texts)))}
    cols.update(extra or {})
    table = pa.table({k: pa.array(v, type=pa.string()) if k in (key, "_id") else pa.array(v) for k, v in cols.items()})
    con.register("__arrow_src", table)
    con.execute("CREATE TABLE src AS SELECT * FROM __arrow_src")
    con.unregister("__arrow_src")


def run_op(
    op: Operator, texts: list[Any], key: str = "text", con: duckdb.DuckDBPyConnection | None = None
) -> tuple[list[int], list[int], dict[int, str]]:
    """Kept row indexes, rejected row indexes and reasons by index."""
    con = con or duckdb.connect()
    make_source(con, texts, key=key)
    ctx = OperatorContext(con=con, source="src", target="out", rejected="rej", errors="err")
    op.run(ctx)
    kept = sorted(int(r[0][1:]) for r in con.execute("SELECT _id FROM out").fetchall())
    rej = con.execute("SELECT _id, _reason FROM rej").fetchall()
    return kept, sorted(int(r[0][1:]) for r in rej), {int(r[0][1:]): r[1] for r in rej}


def refine(op: Operator, texts: list[Any], key: str = "text") -> list[Any]:
    con = duckdb.connect()
    make_source(con, texts, key=key)
    ctx = OperatorContext(con=con, source="src", target="out", rejected="rej", errors="err")
    op.run(ctx)
    rows = con.execute(f'SELECT _id, "{key}" FROM out').fetchall()
    by = {int(r[0][1:]): r[1] for r in rows}
    return [by[i] for i in range(len(texts))]


def test_progress_text_without_a_known_total_has_no_percentage():
    from dataflow_dagster.core.runner import progress_text

    assert progress_text("s", 2, None) == "s: 2 rows"
    assert progress_text("s", 2, 0) == "s: 2 rows"
    assert progress_text("s", 40, 100) == "s: 40/100 rows (40%)"
