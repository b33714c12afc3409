"""Snapshot storage: immutability, order-independent hashes, atomic publish, catalog, gc, locks."""

import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from dataflow_dagster.core.storage import Storage, content_hash


def _snap(storage: Storage, sql: str, asset: str = "p__s"):
    con = storage.connect()
    con.execute(f"CREATE TABLE t AS {sql}")
    ref = storage.write_snapshot(con, "t", asset)
    con.close()
    return ref


def test_content_hash_ignores_row_order_but_not_content():
    con = duckdb.connect()
    con.execute("CREATE TABLE a AS SELECT * FROM (VALUES (1, 'x'), (2, 'y'), (3, 'z')) v(i, s)")
    con.execute("CREATE TABLE b AS SELECT * FROM a ORDER BY i DESC")
    con.execute("CREATE TABLE c AS SELECT i, CASE WHEN i = 2 THEN 'Y' ELSE s END AS s FROM a")
    con.execute("CREATE TABLE d AS SELECT * FROM a UNION ALL SELECT * FROM a WHERE i = 1")
    ha, hb, hc, hd = (content_hash(con, t)[0] for t in "abcd")
    assert ha == hb
    assert ha != hc
    assert ha != hd  # a duplicated row changes the hash (sums, not xor)


def test_snapshot_is_content_addressed_and_drops_helper_columns(storage: Storage):
    r1 = _snap(storage, "SELECT range AS i, range % 3 AS __pos FROM range(10)")
    r2 = _snap(storage, "SELECT range AS i FROM range(9, -1, -1)")
    assert r1.content_hash == r2.content_hash and r1.path == r2.path
    assert [c[0] for c in r1.columns] == ["i"]
    assert Path(r1.path).name.startswith(r1.content_hash[:32])
    assert not list(Path(r1.path).parent.glob(".tmp-*"))


def test_publish_and_catalog_views(storage: Storage):
    ref = _snap(storage, "SELECT 1 AS _id")
    rej = _snap(storage, "SELECT 2 AS _id, 'why' AS _reason", "p__s__rejected")
    storage.publish("p__s", {"table": ref, "rejected": rej}, {"note": "x"})
    assert storage.sync_catalog()
    con = duckdb.connect(str(storage.catalog_path), read_only=True)
    names = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
    assert names == {"p__s", "p__s__rejected"}
    assert con.execute("SELECT _reason FROM p__s__rejected").fetchall()[0] == ("why",)
    con.close()
    assert storage.current("p__s")["lineage"] == {"note": "x"}
    history = (storage.root / "history" / "p__s.jsonl").read_text().splitlines()
    assert len(history) == 1


@pytest.mark.parametrize("read_only", [True, False])
def test_catalog_held_open_by_another_process_never_blocks_a_step(tmp_path: Path, read_only: bool):
    """A DuckDB session holding the catalog (read-only as the README shows, or read-write as the
    DuckDB CLI opens it) used to make every step wait lock_timeout_s and leave the views stale.
    The rebuild renames a fresh file into place: no wait, the holder keeps its old views, a new
    session sees the new ones, and the status says the catalog is current."""
    storage = Storage(tmp_path / "root")  # default lock_timeout_s (30 s): a wait would show
    first = _snap(storage, "SELECT 1 AS _id")
    storage.publish("p__a", {"table": first}, {})
    assert storage.sync_catalog()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, sys; c = duckdb.connect({str(storage.catalog_path)!r}, read_only={read_only}); "
            "print('open', flush=True); sys.stdin.readline(); "
            "print(c.execute('SELECT * FROM p__a').fetchall(), flush=True)",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        ref = _snap(storage, "SELECT 42 AS _id")
        storage.publish("p__b", {"table": ref}, {})
        t0 = time.monotonic()
        assert storage.sync_catalog() is True
        assert time.monotonic() - t0 < 3
        con = duckdb.connect(str(storage.catalog_path), read_only=True)
        assert con.execute("SELECT * FROM p__b").fetchall() == [(42,)]
        con.close()
        assert storage.catalog_status()["up_to_date"] is True
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "[(1,)]"  # the holder's session still works
    finally:
        holder.kill()
        holder.wait()


def test_catalog_staleness_is_reported_and_rebuilt(tmp_path: Path):
    storage = Storage(tmp_path / "root")
    ref = _snap(storage, "SELECT 1 AS _id")
    storage.publish("p__a", {"table": ref}, {})
    st = storage.catalog_status()
    assert st["up_to_date"] is False and st["stale"] == ["p__a"]  # never built
    assert storage.sync_catalog()
    assert storage.catalog_status()["up_to_date"] is True
    storage.publish("p__b", {"table": _snap(storage, "SELECT 2 AS _id")}, {})  # a publish without a rebuild
    st = storage.catalog_status()
    assert st["up_to_date"] is False and st["stale"] == ["p__b"]


def test_gc_removes_only_unreferenced_snapshots(storage: Storage):
    old = _snap(storage, "SELECT 1 AS _id")
    new = _snap(storage, "SELECT 2 AS _id")
    storage.publish("p__s", {"table": new}, {})
    assert storage.gc(dry_run=True) == [old.path]
    assert Path(old.path).exists()
    assert storage.gc(keep_paths={old.path}) == []
    assert storage.gc() == [old.path]
    assert not Path(old.path).exists() and Path(new.path).exists()


def test_step_connections_are_memory_bounded_and_spill(tmp_path, monkeypatch):
    """A step's DuckDB has a memory limit (default 1GB, env and resource override) and still
    finishes a sort bigger than that limit by spilling to <root>/tmp."""
    monkeypatch.delenv("DATAFLOW_MEMORY_LIMIT", raising=False)
    setting = "SELECT value FROM duckdb_settings() WHERE name = 'memory_limit'"
    con = Storage(tmp_path / "a").connect()
    assert con.execute(setting).fetchall()[0][0] == "953.6 MiB"  # 1GB, as DuckDB prints it
    con.close()
    monkeypatch.setenv("DATAFLOW_MEMORY_LIMIT", "64MB")
    con = Storage(tmp_path / "b").connect()
    assert con.execute(setting).fetchall()[0][0] == "61.0 MiB"  # 64MB
    con.execute("SET threads = 1")
    # ~200 MB of sort input under a 64MB limit: only finishes by spilling
    n = con.execute(
        "SELECT count(*) FROM (SELECT md5(i::VARCHAR) || repeat('x', 150) AS s FROM range(1000000) t(i) ORDER BY s)"
    ).fetchall()[0][0]
    assert n == 1_000_000
    con.close()
    assert Storage(tmp_path / "c", memory_limit="512MB").memory_limit == "512MB"
    with pytest.raises(Exception, match="not a DuckDB size"):
        Storage(tmp_path / "d", memory_limit="lots").connect()


def test_concurrent_catalog_rebuilds_end_with_every_asset(tmp_path: Path):
    """Rebuilds serialise on the lock file, so the last rename reflects every ref published before
    it: eight steps publishing and rebuilding at once leave all eight views."""
    import concurrent.futures

    storage = Storage(tmp_path / "root")
    refs = {f"p__s{i}": _snap(storage, f"SELECT {i} AS _id", f"p__s{i}") for i in range(8)}

    def publish_and_sync(name: str) -> bool:
        storage.publish(name, {"table": refs[name]}, {})
        return Storage(tmp_path / "root").sync_catalog()

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert all(pool.map(publish_and_sync, refs))
    con = duckdb.connect(str(storage.catalog_path), read_only=True)
    assert {r[0] for r in con.execute("SHOW TABLES").fetchall()} == set(refs)
    con.close()
    assert storage.catalog_status()["up_to_date"] is True
    assert not list(storage.catalog_path.parent.glob(".catalog.duckdb.*.tmp*"))
