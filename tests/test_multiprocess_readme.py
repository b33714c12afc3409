"""The README's main command under Dagster's default multiprocess executor.

Two LLM branches (`qa` and `topic`) read the same upstream snapshot; they must run at the same time
(their step intervals overlap in the event log) without lock errors, and the catalog must then show
every table by name.
"""

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterEventType, DagsterInstance, EventRecordsFilter

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_reference_job_multiprocess_parallel_llm_branches(tmp_path: Path):
    home, data = tmp_path / "dagster_home", tmp_path / "dataflow"
    home.mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(home), "DATAFLOW_HOME": str(data)}
    env.pop("DATAFLOW_LLM_BASE_URL", None)
    dagster = Path(sys.executable).parent / "dagster"
    proc = subprocess.run(
        [str(dagster), "job", "execute", "-m", "assets.definitions", "-j", "pretrain_qa_job"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "multiprocess" in out.lower()
    assert "Could not set lock" not in out and "database is locked" not in out

    instance = DagsterInstance.from_config(str(home))
    times: dict[tuple[str, str], float] = {}
    for etype in (DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS):
        for rec in instance.get_event_records(EventRecordsFilter(event_type=etype)):
            entry = rec.event_log_entry
            times[(entry.step_key, etype.value)] = entry.timestamp
    qa = (times[("pretrain_qa__qa", "STEP_START")], times[("pretrain_qa__qa", "STEP_SUCCESS")])
    topic = (times[("pretrain_qa__topic", "STEP_START")], times[("pretrain_qa__topic", "STEP_SUCCESS")])
    assert max(qa[0], topic[0]) < min(qa[1], topic[1]), f"qa {qa} and topic {topic} did not overlap"

    con = duckdb.connect(str(data / "catalog.duckdb"), read_only=True)
    names = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
    assert {"pretrain_qa__qa", "pretrain_qa__topic", "pretrain_qa__keep_good", "pretrain_qa__dedup__rejected"} <= names
    assert con.execute("SELECT count(*) FROM pretrain_qa__topic").fetchall()[0][0] > 0


def test_definitions_validate_on_workspace():
    dagster = Path(sys.executable).parent / "dagster"
    proc = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
