"""The partitioned pipeline on a real distributed executor: Dagster's Celery executor, a Redis
broker on 127.0.0.1 and two worker processes, all reading and writing the same snapshot storage.

Needs Debian's redis-server (scripts/ci_extras.sh installs it) and the dagster-celery package.
"""

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance

from dataflow_dagster.core.storage import AssetAddress, Storage
from tests.conftest import free_port
from tests.helpers import defs_for
from tests.test_partitions import STEPS, union_hashes, unpartitioned, write_corpus
from tests.test_partitions_jobs import SHARDS, job_env, launch_partition_runs, shard_pipeline

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("redis-server") is None,
        reason="redis-server not installed (apt-get install -y redis-server; see scripts/ci_extras.sh)",
    ),
    pytest.mark.skipif(
        importlib.util.find_spec("dagster_celery") is None,
        reason="dagster-celery not installed (pip install -e '.[celery]')",
    ),
]


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture
def redis_port(tmp_path: Path) -> Iterator[int]:
    port = free_port()
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not _ping(port):
            assert proc.poll() is None and time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def _start_worker(name: str, config: Path, env: dict[str, str], log: Path) -> subprocess.Popen:
    exe = str(Path(sys.executable).parent / "dagster-celery")
    with open(log, "wb") as fh:  # its own session: stopping it stops the celery process it spawns
        return subprocess.Popen(
            [
                exe,
                "worker",
                "start",
                "-A",
                "dagster_celery.app",
                "-y",
                str(config),
                "-n",
                name,
                "--",
                "--concurrency=1",
            ],
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def test_partitions_on_celery_workers_match_the_in_process_run(tmp_path: Path, redis_port: int):
    src = write_corpus(tmp_path / "corpus.jsonl")
    broker, backend = f"redis://127.0.0.1:{redis_port}/0", f"redis://127.0.0.1:{redis_port}/1"
    env = job_env(tmp_path / "celery", src, DATAFLOW_TEST_BROKER=broker, DATAFLOW_TEST_BACKEND=backend)
    config = tmp_path / "celery.yaml"
    config.write_text(f"execution:\n  config:\n    broker: '{broker}'\n    backend: '{backend}'\n")
    logs = [tmp_path / "w1.log", tmp_path / "w2.log"]
    workers = [_start_worker(n, config, env, log) for n, log in zip(("w1", "w2"), logs, strict=True)]
    try:
        deadline = time.monotonic() + 240
        while not all(b"ready." in log.read_bytes() for log in logs):
            dead = [w for w in workers if w.poll() is not None]
            assert not dead and time.monotonic() < deadline, [log.read_text(errors="replace")[-2000:] for log in logs]
            time.sleep(0.5)
        run_ids = launch_partition_runs("celery_job", SHARDS.partition_keys(), env, timeout_s=550)
    finally:
        for w in workers:
            _stop(w)
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        assert all(instance.get_run_by_id(r).is_success for r in run_ids)
        # one Celery task per Dagster step: load and the three steps (fuse=False) of each partition
        steps = sum(instance.get_run_stats(r).steps_succeeded for r in run_ids)
    done = [log.read_text(errors="replace").count("succeeded in") for log in logs]
    assert steps == 4 * len(STEPS) and sum(done) == steps and all(done), f"tasks per worker: {done}, steps: {steps}"

    distributed = Storage(tmp_path / "celery" / ".dataflow")
    in_process_root = tmp_path / "in_process"
    job = defs_for([shard_pipeline(str(src))], in_process_root).resolve_job_def("shards_job")
    with DagsterInstance.ephemeral() as instance:
        for key in SHARDS.partition_keys():
            assert job.execute_in_process(partition_key=key, instance=instance).success
    local = Storage(in_process_root)
    for step in STEPS:
        for key in SHARDS.partition_keys():
            a = distributed.current_ref(AssetAddress(f"shards__{step}", key))
            b = local.current_ref(AssetAddress(f"shards__{step}", key))
            assert a is not None and b is not None and a.content_hash == b.content_hash, (step, key)
    assert {s: union_hashes(distributed, s) for s in STEPS} == unpartitioned(tmp_path, src)
