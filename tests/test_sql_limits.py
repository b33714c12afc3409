"""Attacks on SQL execution limits: slow single function calls, huge values and huge results must
become rows of the rejected table within the deadline, never a hung or killed step."""

import json
from pathlib import Path

import duckdb
import pytest

from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from dataflow_dagster.core.runner import run_source, run_step
from dataflow_dagster.core.storage import Storage
from operators.text2sql.database import Database, DatabaseSet
from operators.text2sql.execution import SQLExecutionFilter
from operators.text2sql.fixtures import build_all
from tests.helpers import SQL_ATTACKS as ATTACKS

TIMEOUT_S = 1.0
NORMAL = "SELECT name, city FROM customers ORDER BY name"


@pytest.fixture(scope="module")
def dbs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dbs")
    build_all(root)
    return root


@pytest.mark.parametrize(("engine", "sql"), ATTACKS)
def test_hostile_query_is_stopped_at_the_deadline(dbs: Path, engine: str, sql: str) -> None:
    ds = DatabaseSet(dbs, memory_mb=1024, max_result_bytes=16 * 2**20)
    try:
        db = Database(dbs / f"shop.{engine}", ds.worker, ds.memory_mb, ds.max_result_bytes)
        res = db.execute(sql, TIMEOUT_S, 100)
        assert res.status in ("timeout", "too_large", "out_of_memory"), (res.status, res.message)
        # from the request to the answer (worker start-up excluded): the deadline plus the kill grace
        assert res.seconds < TIMEOUT_S + 1.5, res.seconds
        after = db.execute(NORMAL, TIMEOUT_S, 100)  # the worker is back for the next row
        assert after.ok and len(after.rows) == 30
    finally:
        ds.close()


def test_execution_filter_turns_every_attack_into_a_rejected_row(dbs: Path, tmp_path: Path) -> None:
    root = tmp_path / "only"
    root.mkdir()
    for eng in ("sqlite", "duckdb"):
        (root / f"shop_{eng}.{eng}").symlink_to(dbs / f"shop.{eng}")
    rows = [{"db_id": f"shop_{eng}", "sql": sql, "n": i} for i, (eng, sql) in enumerate(ATTACKS)]
    rows += [{"db_id": "shop_sqlite", "sql": NORMAL, "n": 100}, {"db_id": "shop_duckdb", "sql": NORMAL, "n": 101}]
    src = tmp_path / "rows.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    op = SQLExecutionFilter(db_root=str(root), timeout_s=TIMEOUT_S, max_rows=100)
    pipe = Pipeline("lim", Source(str(src), required_columns=["db_id", "sql"]), [Step("exec", op)])
    storage = Storage(tmp_path / ".dataflow")
    run_source(storage, pipe)
    out = run_step(storage, pipe, "exec")
    con = duckdb.connect()
    kept = [n for (n,) in con.execute(f"SELECT n FROM {out.refs['table'].read_sql()} ORDER BY n").fetchall()]
    reasons = dict(con.execute(f"SELECT n, _reason FROM {out.refs['rejected'].read_sql()}").fetchall())
    assert kept == [100, 101]
    assert sorted(reasons) == list(range(len(ATTACKS)))
    assert all(any(w in r for w in ("timeout", "too_large", "out_of_memory")) for r in reasons.values()), reasons
