"""Reconstructable jobs for the partition tests (multiprocess and Celery executors load them by
module path in other processes); configured through environment variables set by the tests."""

import os
import subprocess
import sys
from pathlib import Path

from dagster import JobDefinition, multiprocess_executor

from dataflow_dagster.core.partitions import HashShards
from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from dataflow_dagster.defs.factory import build_definitions
from operators.general_text.dedup import ExactDedupFilter
from operators.general_text.heuristics import ContentNullFilter, WordNumberFilter

REPO = Path(__file__).resolve().parents[1]
SHARDS = HashShards(4, key="text")


def shard_pipeline(src: str | None = None, partitioned: bool = True, separate_steps: bool = False) -> Pipeline:
    """``separate_steps``: every step its own Dagster execution step (``fuse=False``), so a distributed
    executor has several tasks per partition to spread; by default the rule steps share one."""
    fuse = not separate_steps
    return Pipeline(
        "shards",
        Source(src or os.environ["DATAFLOW_TEST_SRC"], required_columns=["text"]),
        [
            Step("nonnull", ContentNullFilter(), fuse=fuse),
            Step("words", WordNumberFilter(min_words=4), fuse=fuse),
            Step("dedup", ExactDedupFilter(), fuse=fuse),
        ],
        partitions=SHARDS if partitioned else None,
    )


def multiprocess_job() -> JobDefinition:
    defs = build_definitions([shard_pipeline()], executor=multiprocess_executor.configured({"max_concurrent": 2}))
    return defs.resolve_job_def("shards_job")


def celery_job() -> JobDefinition:
    from dagster_celery import celery_executor

    executor = celery_executor.configured(
        {"broker": os.environ["DATAFLOW_TEST_BROKER"], "backend": os.environ["DATAFLOW_TEST_BACKEND"]}
    )
    return build_definitions([shard_pipeline(separate_steps=True)], executor=executor).resolve_job_def("shards_job")


LAUNCH = """
import sys
from dagster import DagsterInstance, execute_job, reconstructable
import tests.test_partitions_jobs as jobs
with DagsterInstance.get() as instance:
    result = execute_job(reconstructable(getattr(jobs, sys.argv[1])), instance=instance,
                         tags={"dagster/partition": sys.argv[2]})
    print("RUN", result.run_id, result.success, flush=True)
"""


def launch_partition_runs(job_fn: str, keys: list[str], env: dict[str, str], timeout_s: float = 500) -> list[str]:
    """One run per partition, all started at once in their own processes (like a backfill's runs)."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", LAUNCH, job_fn, k],
            cwd=REPO,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for k in keys
    ]
    run_ids = []
    for p in procs:
        out, _ = p.communicate(timeout=timeout_s)
        line = next((ln for ln in out.splitlines() if ln.startswith("RUN ")), None)
        assert p.returncode == 0 and line and line.endswith("True"), out[-3000:]
        run_ids.append(line.split()[1])
    return run_ids


def job_env(tmp: Path, src: Path, **extra: str) -> dict[str, str]:
    home = tmp / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(home)) as instance:  # create the sqlite schemas once, before
        instance.get_runs(limit=1)  # concurrent runs would race to migrate them
    return {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DATAFLOW_HOME": str(tmp / ".dataflow"),
        "DATAFLOW_TEST_SRC": str(src),
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        **extra,
    }
