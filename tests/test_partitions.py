"""Partitioned pipelines: shards run as separate (concurrent) runs; their union is the full result."""

import json
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance

from dataflow_dagster.core.audit import audit_asset
from dataflow_dagster.core.runner import run_source, run_step
from dataflow_dagster.core.storage import AssetAddress, Storage, content_hash
from operators.core.contract import OperatorError
from tests.helpers import defs_for
from tests.test_partitions_jobs import SHARDS, job_env, launch_partition_runs, shard_pipeline

STEPS = ["load", "nonnull", "words", "dedup"]


def write_corpus(path: Path, n: int = 400) -> Path:
    rows = [{"text": f"document {i % 150} covers subject {i % 150 % 11} with enough words", "i": i} for i in range(n)]
    rows += [{"text": None, "i": -1}, {"text": "tiny", "i": -2}, {"text": "", "i": -3}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def unpartitioned(tmp: Path, src: Path) -> dict[str, tuple[str, str | None]]:
    storage = Storage(tmp / "unpartitioned")
    pipe = shard_pipeline(str(src), partitioned=False)
    out = {"load": (run_source(storage, pipe).table.content_hash, None)}
    for s in pipe.steps:
        o = run_step(storage, pipe, s.name)
        out[s.name] = (o.table.content_hash, o.refs["rejected"].content_hash)
    return out


def union_hashes(storage: Storage, step: str) -> tuple[str, str | None]:
    con = duckdb.connect()
    try:
        hashes = []
        for part in ("table", "rejected"):
            refs = [storage.current_ref(AssetAddress(f"shards__{step}", k), part) for k in SHARDS.partition_keys()]
            if any(r is None for r in refs):
                hashes.append(None)
                continue
            union = " UNION ALL BY NAME ".join(f"SELECT * FROM {r.read_sql()}" for r in refs)  # fused: views
            hashes.append(content_hash(con, f"({union})")[0])
        return hashes[0], hashes[1]
    finally:
        con.close()


def test_shards_in_process_union_equals_the_unpartitioned_result(tmp_path: Path):
    src = write_corpus(tmp_path / "corpus.jsonl")
    root = tmp_path / ".dataflow"
    job = defs_for([shard_pipeline(str(src))], root).resolve_job_def("shards_job")
    with DagsterInstance.ephemeral() as instance:
        for key in SHARDS.partition_keys():
            assert job.execute_in_process(partition_key=key, instance=instance).success
        audit = audit_asset(shard_pipeline(str(src)), "dedup", Storage(root), instance=instance, partition="shard1")
        assert audit.ok and all(s.origin == "event_log" and s.reproduced for s in audit.steps)
    storage = Storage(root)
    sizes = [storage.current_ref(AssetAddress("shards__load", k)).row_count for k in SHARDS.partition_keys()]
    assert all(s > 0 for s in sizes) and sum(sizes) == 403
    assert {s: union_hashes(storage, s) for s in STEPS} == unpartitioned(tmp_path, src)
    assert storage.sync_catalog()
    con = duckdb.connect(str(storage.catalog_path), read_only=True)
    assert con.execute("SELECT count(*) FROM shards__dedup").fetchall()[0][0] == 150
    con.close()


def test_partition_key_is_required_and_checked(tmp_path: Path):
    src = write_corpus(tmp_path / "corpus.jsonl", 10)
    storage = Storage(tmp_path / "s")
    with pytest.raises(OperatorError, match="is partitioned"):
        run_source(storage, shard_pipeline(str(src)))
    with pytest.raises(OperatorError, match="unknown shard 'shard9'"):
        run_source(storage, shard_pipeline(str(src)), partition="shard9")
    with pytest.raises(OperatorError, match="not partitioned"):
        run_source(storage, shard_pipeline(str(src), partitioned=False), partition="shard0")


@pytest.mark.slow
def test_four_partitions_run_concurrently_with_the_multiprocess_executor(tmp_path: Path):
    src = write_corpus(tmp_path / "corpus.jsonl")
    env = job_env(tmp_path, src)
    run_ids = launch_partition_runs("multiprocess_job", SHARDS.partition_keys(), env)
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        stats = [instance.get_run_stats(r) for r in run_ids]
        tags = [instance.get_run_by_id(r).tags.get("dagster/partition") for r in run_ids]
    assert tags == SHARDS.partition_keys()
    starts, ends = [s.start_time for s in stats], [s.end_time for s in stats]
    assert max(starts) < min(ends), f"runs did not overlap: starts={starts} ends={ends}"
    storage = Storage(tmp_path / ".dataflow")
    assert {s: union_hashes(storage, s) for s in STEPS} == unpartitioned(tmp_path, src)
