"""Limits on hostile input and broken state (R6): containment, and what the limits cost when nothing
is hostile.

Measured in one run, each against its own baseline:
- SQL: the same read-only queries in this process (the old path, no wall-clock or memory bound)
  and through the SQL worker process; then every SQL attack of the test corpus, each of which
  must end as an error row within timeout + 3 s.
- Documents: small PDFs parsed in this process and through the document worker; then the hostile
  PDFs and docx files, each of which must end as an error row.
- Catalog: a step's catalog refresh while another process holds the catalog open read-only and
  read-write (before: every step waited ``lock_timeout_s`` and then left the views stale).
- Snapshots: the cheap read check (size + Parquet footer) per read, and a re-write of an existing
  snapshot (file compare) against a full re-hash.

    python bench/hostile_inputs.py            # 2,000 queries, 200 documents
    python bench/hostile_inputs.py --quick    # 300 queries, 30 documents
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench._common import goal  # noqa: E402
from dataflow_dagster.core.storage import Storage  # noqa: E402
from operators.core.isolated import IsolatedWorker  # noqa: E402
from operators.knowledge.parse import read_document  # noqa: E402
from operators.text2sql.database import Database, open_databases  # noqa: E402
from operators.text2sql.fixtures import build_all  # noqa: E402
from operators.text2sql.sql_gate import read_only_violation  # noqa: E402
from tests.helpers import SQL_ATTACKS, docx_bomb, hostile_pdfs, minimal_pdf  # noqa: E402

QUERIES = [
    "SELECT name, city FROM customers WHERE city = 'Lisbon'",
    "SELECT c.city, count(*) FROM orders o JOIN customers c ON o.customer_id = c.customer_id GROUP BY 1",
    "SELECT count(*) FROM order_items",
]


def sql_bench(root: Path, n: int) -> tuple[float, int, int]:
    """(ms added per query by the worker, attacks contained, attacks)."""
    build_all(root)
    added = 0.0
    for engine in ("sqlite", "duckdb"):
        only = root / engine  # a db_root holding just this engine's file
        only.mkdir()
        (only / f"shop.{engine}").symlink_to(root / f"shop.{engine}")
        local = Database(only / f"shop.{engine}")
        t0 = time.perf_counter()
        for i in range(n):  # the old path: the same parser gate, then the query in this process
            assert read_only_violation(QUERIES[i % 3], engine) is None
            assert local.execute_local(QUERIES[i % 3], 5.0, 1000).ok
        inproc = time.perf_counter() - t0
        local.close()
        with open_databases(only) as ds:
            ds.get("shop").execute(QUERIES[0])  # start-up is paid once per step, not per query
            t0 = time.perf_counter()
            for i in range(n):  # one query per message: the old per-row calling pattern
                assert ds.get("shop").execute(QUERIES[i % 3], 5.0, 1000).ok
            single = time.perf_counter() - t0
            batch = [("shop", QUERIES[i % 3]) for i in range(n)]
            t0 = time.perf_counter()
            for i in range(0, n, 64):  # what the execution operators send: one message per Arrow batch
                bad = [r for r in ds.execute_many(batch[i : i + 64], 5.0, 1000) if not r.ok]
                assert not bad, bad[0]
            worker = time.perf_counter() - t0
        added = max(added, (worker - inproc) / n * 1000)
        print(
            f"sql {engine}: in-process {inproc / n * 1e3:.3f} ms/query; worker, one query per message "
            f"{single / n * 1e3:.3f} ms, batches of 64 {worker / n * 1e3:.3f} ms"
        )
    contained = 0
    with open_databases(root) as ds:
        ds.get("shop").execute(QUERIES[0])  # start the worker; each attack is timed from its request
        for engine, sql in SQL_ATTACKS:
            db = Database(root / f"shop.{engine}", ds.worker)
            t0 = time.perf_counter()
            res = db.execute(sql, 1.0, 100)
            took = time.perf_counter() - t0
            contained += res.status in ("timeout", "too_large", "out_of_memory") and res.seconds < 2.5
            wall = f"({took:5.2f}s wall, incl. worker start)"
            print(f"sql attack {engine} {res.status:>14} {res.seconds:5.2f}s {wall}  {sql[:50]}")
    return added, contained, len(SQL_ATTACKS)


def doc_bench(folder: Path, n: int) -> tuple[float, int, int]:
    """(ms added per document by the worker, hostile documents contained, hostile documents)."""
    folder.mkdir(parents=True, exist_ok=True)
    docs = [
        minimal_pdf(folder / f"ok{i}.pdf", b"BT /F1 12 Tf 72 700 Td (document %d about rivers) Tj ET" % i)
        for i in range(n)
    ]
    read_document(docs[0])  # imports are paid once either way
    t0 = time.perf_counter()
    for d in docs:
        read_document(d)
    inproc = time.perf_counter() - t0
    target = "operators.knowledge.parse:read_in_worker"
    with IsolatedWorker(1024, "document worker", ("operators.knowledge.parse", "pypdf", "docx")) as w:
        w.call(target, (str(docs[0]), 64, 20_000_000), 30)
        t0 = time.perf_counter()
        for d in docs:
            assert w.call(target, (str(d), 64, 20_000_000), 30).ok
        worker = time.perf_counter() - t0
        hostile = [*hostile_pdfs(folder / "hostile").values(), docx_bomb(folder / "bomb.docx", 300)]
        contained = 0
        for path in hostile:
            t0 = time.perf_counter()
            out = w.call(target, (str(path), 64, 20_000_000), 5.0)
            took = time.perf_counter() - t0
            contained += (not out.ok or not out.value[1].strip()) and out.seconds < 6.5
            print(f"doc attack {out.status:>8} {took:5.2f}s  {path.name}: {out.message[:70]}")
    print(f"docs: in-process {inproc / n * 1e3:.2f} ms/doc, worker {worker / n * 1e3:.2f} ms/doc")
    return (worker - inproc) / n * 1000, contained, len(hostile)


def catalog_bench(root: Path) -> float:
    """Worst time a step's catalog refresh took while another process held the catalog."""
    storage = Storage(root / "store")
    con = storage.connect()
    for i in range(20):
        con.execute(f"CREATE OR REPLACE TABLE t AS SELECT range AS _id FROM range({i + 1})")
        storage.publish(f"p__s{i}", {"table": storage.write_snapshot(con, "t", f"p__s{i}")}, {})
    con.close()
    storage.sync_catalog()
    worst = 0.0
    for read_only in (True, False):
        code = (
            f"import duckdb, sys; c = duckdb.connect({str(storage.catalog_path)!r}, read_only={read_only}); "
            "print('open', flush=True); sys.stdin.readline()"
        )
        holder = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
            con = storage.connect()  # a new publish, so the refresh has something to rebuild
            con.execute("CREATE TABLE t AS SELECT 1 AS _id")
            name = f"p__held_{read_only}"
            storage.publish(name, {"table": storage.write_snapshot(con, "t", name)}, {})
            con.close()
            t0 = time.perf_counter()
            assert storage.sync_catalog() and storage.catalog_status()["up_to_date"]
            took = time.perf_counter() - t0
            worst = max(worst, took)
            print(f"catalog refresh while held {'read-only' if read_only else 'read-write'}: {took * 1000:.0f} ms")
        finally:
            holder.kill()
            holder.wait()
    return worst


def snapshot_bench(root: Path, rows: int) -> None:
    storage = Storage(root / "snap")
    con = storage.connect()
    con.execute(f"CREATE TABLE t AS SELECT range AS _id, md5(range::VARCHAR) AS s FROM range({rows})")
    t0 = time.perf_counter()
    ref = storage.write_snapshot(con, "t", "p__big")
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(1000):
        storage.verify_snapshot(ref, "p__big")
    check = (time.perf_counter() - t0) / 1000
    t0 = time.perf_counter()
    storage.write_snapshot(con, "t", "p__big")  # the same content again: verified by file compare
    rewrite = time.perf_counter() - t0
    t0 = time.perf_counter()
    storage.describe_file(con, ref.path)  # what a re-hash of the existing file costs
    rehash = time.perf_counter() - t0
    con.close()
    print(f"snapshot read check: {check * 1e6:.0f} us per read")
    print(f"snapshot of {rows} rows: first write {first:.2f}s, same content again {rewrite:.2f}s")
    print(f"  (a full re-hash of the existing file alone: {rehash:.2f}s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    n_sql, n_docs, rows = (300, 30, 100_000) if a.quick else (2000, 200, 1_000_000)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        added_sql, sql_ok, sql_n = sql_bench(root / "dbs", n_sql)
        added_doc, doc_ok, doc_n = doc_bench(root / "docs", n_docs)
        held = catalog_bench(root)
        snapshot_bench(root, rows)
    contained = 100.0 * (sql_ok + doc_ok) / (sql_n + doc_n)
    goal("R6", contained, ">=", 100, "pct_hostile_sql_and_docs_contained", sql_n + doc_n, a.quick)
    goal("R6", added_sql, "<=", 1.0, "ms_added_per_sql_query_by_worker", n_sql, a.quick)
    goal("R6", added_doc, "<=", 5.0, "ms_added_per_document_by_worker", n_docs, a.quick)
    goal("R6", held, "<=", 1.0, "s_catalog_refresh_while_held", 2, a.quick)


if __name__ == "__main__":
    main()
