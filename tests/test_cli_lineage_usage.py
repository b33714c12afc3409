"""audit/diff as a newcomer meets them (issue 17, item 8): usage errors exit 2 in one line, the code
location imports from the project root without PYTHONPATH, YAML files are accepted, the default step
is the end of the main chain, and CLI runs are selectable by run id."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from assets.reference import reference_pipeline
from assets.text2sql import text2sql_pipeline
from dataflow_dagster.cli import cli

REPO = Path(__file__).resolve().parents[1]
EXE = Path(sys.executable).with_name("dataflow-dagster")
YAML = "proj/defs/sample/defs.yaml"  # `init` scaffolds a dg project: one component per pipeline


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "proj"
    assert invoke("init", str(root)).exit_code == 0
    monkeypatch.chdir(root)
    monkeypatch.delenv("DATAFLOW_HOME", raising=False)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return root


def test_final_step_is_the_end_of_the_main_chain() -> None:
    assert reference_pipeline().final_step == "keep_good"  # not the `topic` branch listed after it
    assert text2sql_pipeline().final_step == "exec_difficulty"


def test_usage_errors_exit_2_without_traceback(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DAGSTER_HOME")}
    env["DATAFLOW_HOME"] = str(tmp_path / "store")
    for args in (["audit", "nope/step"], ["diff", "pretrain_qa/nope"], ["audit", "x/y", "-m", "no_such_module"]):
        proc = subprocess.run([str(EXE), *args], cwd=REPO, capture_output=True, text=True, env=env, timeout=300)
        assert proc.returncode == 2, (args, proc.returncode, proc.stderr[-800:])
        assert "Traceback" not in proc.stderr and "ModuleNotFoundError" not in proc.stderr, proc.stderr[-800:]
        assert proc.stderr.startswith("error: "), proc.stderr


def test_audit_imports_the_code_location_without_pythonpath(tmp_path: Path) -> None:
    """From the repository root, as the README runs it: `assets.definitions` is found, and the answer
    is about the asset (not materialised in this empty storage), not a ModuleNotFoundError."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DAGSTER_HOME")}
    env["DATAFLOW_HOME"] = str(tmp_path / "store")
    proc = subprocess.run(
        [str(EXE), "diff", "pretrain_qa"], cwd=REPO, capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 2, proc.stderr[-800:]
    assert "pretrain_qa__keep_good" in proc.stderr and "materialise it first" in proc.stderr, proc.stderr[-800:]


def test_yaml_path_run_ids_and_diff_between_cli_runs(project: Path) -> None:
    assert invoke("run", YAML).exit_code == 0
    data = project / "proj" / "defs" / "sample" / "sample.jsonl"
    data.write_text(
        data.read_text()
        + json.dumps({"text": "Osmosis moves water across a membrane from low to high concentration."})
        + "\n"
    )
    assert invoke("run", YAML).exit_code == 0
    history = project / ".dataflow" / "history" / "sample__dedup.jsonl"
    runs = [json.loads(line)["lineage"]["run_id"] for line in history.read_text().splitlines()]
    assert len(runs) == 2 and all(r and r.startswith("cli-") for r in runs) and runs[0] != runs[1]

    diff = invoke("diff", YAML, "--from", runs[0][:12], "--to", runs[1], "--json")
    assert diff.exit_code == 0, diff.output
    out = json.loads(diff.output)
    assert out["asset"] == "sample__dedup" and out["added"] == 1  # the final step, by default
    audit = invoke("audit", f"{YAML}/long_enough", "--plain")
    assert audit.exit_code == 0, audit.output
    assert "sample__long_enough" in audit.output
