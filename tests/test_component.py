"""PipelineComponent in a `dg` project made by `dataflow-dagster init`: `dg scaffold defs`, `dg list defs`,
`dg check defs` (which refuses a wrong attribute) and `dg launch` to RUN_SUCCESS, with the real `dg`."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from dataflow_dagster.cli import cli
from dataflow_dagster.core.storage import Storage

DG = str(Path(sys.executable).parent / "dg")


def _dg(project: Path, *args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DAGSTER_HOME": str(home), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env.pop("DATAFLOW_HOME", None)
    env.pop("DATAFLOW_LLM_BASE_URL", None)
    return subprocess.run([DG, *args], cwd=project, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_scaffold_list_check_launch_a_pipeline_component(tmp_path: Path):
    project, home = tmp_path / "demo_proj", tmp_path / "dagster_home"
    home.mkdir()
    res = CliRunner().invoke(cli, ["init", str(project)])
    assert res.exit_code == 0, res.output
    assert (project / "demo_proj" / "defs" / "sample" / "defs.yaml").is_file()

    scaffolded = _dg(project, "scaffold", "defs", "dataflow_dagster.PipelineComponent", "my_pipe", home=home)
    assert scaffolded.returncode == 0, scaffolded.stderr
    defs_yaml = project / "demo_proj" / "defs" / "my_pipe" / "defs.yaml"
    assert "type: dataflow_dagster.PipelineComponent" in defs_yaml.read_text()

    listed = _dg(project, "list", "defs", "--json", home=home)
    assert listed.returncode == 0, listed.stderr
    keys = {a["asset_key"] for a in json.loads(listed.stdout)["assets"]}
    assert {"my_pipe/load", "my_pipe/dedup", "sample/load", "sample/dedup"} <= keys

    checked = _dg(project, "check", "defs", home=home)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    in_process = json.dumps({"execution": {"config": {"in_process": {}}}})
    launched = _dg(project, "launch", "--assets", "key:my_pipe/*", "--config-json", in_process, home=home)
    assert launched.returncode == 0, launched.stderr[-3000:]
    assert "RUN_SUCCESS" in launched.stdout + launched.stderr
    dedup = Storage(project / ".dataflow").current_ref("my_pipe__dedup")
    assert dedup is not None and dedup.row_count == 4

    # dg check validates the attributes against the component's schema: a misspelt key is refused.
    defs_yaml.write_text(defs_yaml.read_text().replace("    - name: dedup", "    - nmae: dedup"))
    bad = _dg(project, "check", "defs", home=home)
    assert bad.returncode != 0
    assert "nmae" in bad.stdout + bad.stderr
