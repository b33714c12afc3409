"""SQL execution filter, safety gates and structural difficulty on real SQLite and DuckDB fixture files."""

import hashlib
import json
import sqlite3
from pathlib import Path

import duckdb
import pytest

from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from dataflow_dagster.core.runner import run_source, run_step
from dataflow_dagster.core.storage import Storage
from operators.text2sql.database import Database, read_only_violation
from operators.text2sql.difficulty import SQLComponentClassifier, components, hardness
from operators.text2sql.execution import SQLExecutionFilter, SQLResultMatchEvaluator
from operators.text2sql.fixtures import build_all

GOOD = [
    "SELECT name, city FROM customers WHERE city = 'Lisbon'",
    "SELECT c.city, count(*) AS n FROM orders o JOIN customers c ON o.customer_id = c.customer_id GROUP BY c.city",
    "SELECT p.category, sum(oi.quantity * p.price) FROM order_items oi JOIN products p "
    "ON oi.product_id = p.product_id GROUP BY p.category",
    "WITH big AS (SELECT order_id FROM order_items GROUP BY order_id HAVING count(*) >= 3) SELECT count(*) FROM big",
]
MUTATING = [
    "INSERT INTO customers VALUES (999, 'Eve Mallory', 'Oslo', '2024-01-01')",
    "UPDATE products SET price = 0",
    "DELETE FROM orders",
    "DROP TABLE order_items",
    "ATTACH DATABASE 'other.db' AS other",
    "PRAGMA query_only = OFF",
    "CREATE TABLE x (a INTEGER)",
    "SELECT 1; DROP TABLE customers",
    "WITH gone AS (DELETE FROM orders RETURNING *) SELECT count(*) FROM gone",
]
BROKEN = ["SELECT nope FROM customers", "SELECT * FROM missing_table", "SELEC name FROM customers", "", None]
SLOW = "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT count(*) FROM r"
HUGE = "SELECT a.customer_id, b.customer_id, c.customer_id FROM customers a, customers b, customers c"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def dbs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dbs")
    build_all(root)
    return root


def _pipeline(tmp: Path, rows: list[dict], steps: list[Step]) -> Pipeline:
    src = tmp / "rows.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return Pipeline("t2s", Source(str(src), required_columns=["db_id", "sql"]), steps)


@pytest.mark.parametrize("engine", ["sqlite", "duckdb"])
def test_execution_filter_drops_bad_sql_and_leaves_file_unchanged(dbs: Path, tmp_path: Path, engine: str) -> None:
    db_file = dbs / f"shop.{engine}"
    before = sha256(db_file)
    root = tmp_path / "only"
    root.mkdir()
    (root / db_file.name).symlink_to(db_file)
    cases = [("good", q) for q in GOOD] + [("mutating", q) for q in MUTATING] + [("broken", q) for q in BROKEN]
    cases += [("slow", SLOW), ("huge", HUGE)]
    rows = [{"db_id": "shop", "sql": q, "case": case, "n": i} for i, (case, q) in enumerate(cases)]
    rows.append({"db_id": "../shop", "sql": GOOD[0], "case": "bad_db", "n": len(rows)})
    rows.append({"db_id": "nowhere", "sql": GOOD[0], "case": "bad_db", "n": len(rows)})
    op = SQLExecutionFilter(db_root=str(root), timeout_s=0.5, max_rows=500)
    p = _pipeline(tmp_path, rows, [Step("exec", op)])
    storage = Storage(tmp_path / ".dataflow")
    run_source(storage, p)
    out = run_step(storage, p, "exec")
    con = duckdb.connect()
    kept = con.execute(f'SELECT "case", n FROM {out.refs["table"].read_sql()} ORDER BY n').fetchall()
    rejected = dict(con.execute(f"SELECT n, _reason FROM {out.refs['rejected'].read_sql()}").fetchall())
    assert [c for c, _ in kept] == ["good"] * len(GOOD)
    by_case = {r["n"]: r["case"] for r in rows}
    assert {by_case[n] for n in rejected} == {"mutating", "broken", "slow", "huge", "bad_db"}
    assert len(rejected) == len(rows) - len(GOOD)
    for n, reason in rejected.items():
        case = by_case[n]
        if case == "mutating":
            assert "unsafe" in reason, reason
        elif case == "slow":
            assert "timeout" in reason, reason
        elif case == "huge":
            assert "too_many_rows" in reason, reason
    assert sha256(db_file) == before
    assert out.lineage["stats"]["statuses"]["ok"] == len(GOOD)


def test_mutations_fail_even_when_the_parser_gate_is_bypassed(dbs: Path) -> None:
    """The read-only connection is a second wall: run mutating SQL straight on the guarded handles."""
    for engine in ("sqlite", "duckdb"):
        path = dbs / f"school.{engine}"
        before = sha256(path)
        db = Database(path)
        con = db.connection()
        for stmt in [
            "DELETE FROM enrollments",
            "UPDATE teachers SET salary = 0",
            "DROP TABLE students",
            "CREATE TABLE t (a INTEGER)",
        ]:
            with pytest.raises((sqlite3.Error, duckdb.Error)):
                con.execute(stmt)
        if engine == "duckdb":
            with pytest.raises(duckdb.Error):
                con.execute("SELECT * FROM read_csv('/etc/passwd')")
        db.close()
        assert sha256(path) == before


EXTRA_UNSAFE = [
    "INSTALL httpfs",
    "LOAD httpfs",
    "COPY customers TO 'x.csv'",
    "SELECT * FROM read_csv('/etc/passwd')",
    "CHECKPOINT",
    "VACUUM",
    "SELECT load_extension('evil')",
    "SET threads = 1",
    "DETACH x",
]


@pytest.mark.parametrize("sql", [*MUTATING, *EXTRA_UNSAFE])
@pytest.mark.parametrize("dialect", ["sqlite", "duckdb"])
def test_parser_gate_refuses_non_select(sql: str, dialect: str) -> None:
    assert read_only_violation(sql, dialect) is not None


@pytest.mark.parametrize("sql", GOOD)
def test_parser_gate_accepts_queries(sql: str) -> None:
    assert read_only_violation(sql, "sqlite") is None
    assert read_only_violation(sql, "duckdb") is None


def test_same_results_on_both_engines(dbs: Path) -> None:
    for q in GOOD:
        a = Database(dbs / "shop.sqlite").execute(q)
        b = Database(dbs / "shop.duckdb").execute(q)
        assert a.ok and b.ok
        assert a.row_set() == b.row_set()


def test_schema_text_names_tables_and_keys(dbs: Path) -> None:
    text = Database(dbs / "school.duckdb").schema_text()
    for table in ("departments", "teachers", "courses", "students", "enrollments"):
        assert f"CREATE TABLE {table}" in text
    assert "REFERENCES departments" in text


def test_component_difficulty(tmp_path: Path) -> None:
    cases = {
        "SELECT name FROM customers": "easy",
        "SELECT count(*) FROM orders WHERE status = 'delivered'": "easy",
        "SELECT name, price FROM products WHERE price > 50": "medium",
        "SELECT name FROM products WHERE price > (SELECT avg(price) FROM products)": "hard",
        "SELECT c.city, count(*) FROM orders o JOIN customers c ON o.customer_id = c.customer_id "
        "GROUP BY c.city ORDER BY 2 DESC LIMIT 3": "extra",
        "SELECT name FROM customers UNION SELECT name FROM products": "hard",
        "DROP TABLE x": "unparsed",
    }
    assert components("SELECT a, b FROM t JOIN u ON t.id = u.id WHERE a = 1 OR b LIKE 'x%'") == (4, 0, 2)
    assert hardness(0, 0, 0) == "easy"
    rows = [{"db_id": "shop", "sql": q, "want": w} for q, w in cases.items()]
    p = _pipeline(tmp_path, rows, [Step("difficulty", SQLComponentClassifier(min_parsed_share=0.5))])
    storage = Storage(tmp_path / ".dataflow")
    run_source(storage, p)
    out = run_step(storage, p, "difficulty")
    got = duckdb.sql(f"SELECT want, sql_component_difficulty FROM {out.table.read_sql()}").fetchall()
    assert all(w == g for w, g in got), got
    spec = SQLComponentClassifier(min_parsed_share=0.5).checks()[0]
    value = duckdb.sql(f"SELECT {spec.metric_sql} FROM {out.table.read_sql()} t").fetchall()[0][0]
    assert spec.passes(value) and value == pytest.approx(6 / 7)


def test_result_match_evaluator(dbs: Path, tmp_path: Path) -> None:
    rows = [
        {
            "db_id": "shop",
            "sql": "SELECT name FROM customers WHERE city = 'Oslo'",
            "cot_sql": "SELECT c.name FROM customers AS c WHERE c.city IN ('Oslo')",
        },
        {"db_id": "shop", "sql": "SELECT count(*) FROM orders", "cot_sql": "SELECT count(*) FROM customers"},
        {"db_id": "shop", "sql": "SELECT count(*) FROM orders", "cot_sql": "DELETE FROM orders"},
    ]
    p = _pipeline(tmp_path, rows, [Step("match", SQLResultMatchEvaluator(db_root=str(dbs)))])
    storage = Storage(tmp_path / ".dataflow")
    run_source(storage, p)
    out = run_step(storage, p, "match")
    got = duckdb.sql(f"SELECT cot_sql, sql_match FROM {out.table.read_sql()}").fetchall()
    assert dict(got) == {rows[0]["cot_sql"]: True, rows[1]["cot_sql"]: False, rows[2]["cot_sql"]: False}
