"""One pipeline file that does not load must not take down the others in its folder (issue 17, item 9)."""

import importlib.util
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from dagster import AssetKey, materialize

from dataflow_dagster.cli import cli
from dataflow_dagster.core.samples import sample_pipeline, write_sample_rows
from dataflow_dagster.core.yaml_loader import BrokenPipelineFile, load_pipeline_dir
from dataflow_dagster.defs.factory import build_definitions

LOCATION = """from pathlib import Path

from dataflow_dagster.core.yaml_loader import load_pipeline_dir
from dataflow_dagster.defs.factory import build_definitions

BROKEN_FILES = []
PIPELINES = load_pipeline_dir(Path(__file__).parent / "pipelines", broken=BROKEN_FILES)
defs = build_definitions(PIPELINES, broken_files=BROKEN_FILES)
"""
BROKEN = "pipeline: draft\nsource: {path: x.jsonl}\nsteps:\n  - name: s\n    op: NoSuchOperator\n"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A code location that loads a folder of pipeline YAML files (like assets/definitions.py)."""
    root = tmp_path / "proj"
    (root / "pipelines").mkdir(parents=True)
    write_sample_rows(root / "data" / "sample.jsonl")
    (root / "pipelines" / "sample.yaml").write_text(yaml.safe_dump(sample_pipeline("sample", "../data/sample.jsonl")))
    (root / "definitions.py").write_text(LOCATION)
    (root / "workspace.yaml").write_text("load_from:\n  - python_file: definitions.py\n")
    (root / "pipelines" / "draft.yaml").write_text(BROKEN)  # e.g. an agent's draft
    monkeypatch.chdir(root)
    monkeypatch.delenv("DATAFLOW_HOME", raising=False)
    return root


def test_cli_runs_the_good_pipeline_and_names_the_broken_file(project: Path) -> None:
    ok = CliRunner().invoke(cli, ["run", "sample"])
    assert ok.exit_code == 0, ok.output
    missing = CliRunner().invoke(cli, ["run", "draft"])
    assert missing.exit_code == 2
    assert "draft.yaml did not load" in missing.output and "NoSuchOperator" in missing.output


def test_code_location_loads_with_a_placeholder_for_the_broken_file(project: Path) -> None:
    spec = importlib.util.spec_from_file_location("scaffold_defs", project / "definitions.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # the old loader raised here: the whole location was down
    defs = module.defs
    assert defs.resolve_job_def("sample_job") is not None
    placeholder = defs.resolve_assets_def(AssetKey(["broken_pipeline_files", "draft"]))
    assert "NoSuchOperator" in (placeholder.descriptions_by_key[placeholder.key] or "")
    result = materialize([placeholder], raise_on_error=False)
    assert not result.success  # materialising it says why, instead of pretending


def test_loader_reports_broken_files_instead_of_raising(tmp_path: Path) -> None:
    good = Path(__file__).resolve().parents[1] / "assets" / "pipelines" / "pretrain_qa_yaml.yaml"
    (tmp_path / "a_good.yaml").write_text(good.read_text().replace("../data/", f"{good.parent.parent}/data/"))
    (tmp_path / "b_bad.yaml").write_text("pipeline: [unclosed\n")
    (tmp_path / "c_dup.yaml").write_text((tmp_path / "a_good.yaml").read_text())
    broken: list[BrokenPipelineFile] = []
    pipes = load_pipeline_dir(tmp_path, broken=broken)
    assert [p.name for p in pipes] == ["pretrain_qa_yaml"]
    assert [b.path.name for b in broken] == ["b_bad.yaml", "c_dup.yaml"]
    assert "not valid YAML" in broken[0].error and "already used" in broken[1].error
    defs = build_definitions(pipes, broken_files=broken)
    assert defs.resolve_job_def("pretrain_qa_yaml_job") is not None


def test_agent_writes_outside_the_reference_location_by_default(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dataflow_dagster.cli.agent import _default_out

    assert _default_out() == Path("pipelines")  # a scaffolded project: the agent's file joins it
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    assert _default_out() == Path("agent_pipelines")  # this repo: never assets/pipelines/
