"""Custom operators from an installed package's entry point: a real dist-info on sys.path, a real
subprocess running the CLI, no mocks."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PACKAGE = '''
"""A third-party operator package."""
from operators.core.contract import Kind
from operators.core.registry import register
from operators.core.sql_ops import SQLFilter


@register
class PluginUpperCaseFilter(SQLFilter):
    """Keeps texts that contain at least one upper-case letter (plugin operator)."""

    kind = Kind.FILTER
    tags = ("plugin", "case")

    def keep_sql(self):
        return f"regexp_matches({self.col()}, '[A-Z]')"
'''


def make_site(tmp: Path) -> Path:
    site = tmp / "site"
    pkg = site / "df_plugin_demo"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(PACKAGE)
    dist = site / "df_plugin_demo-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: df-plugin-demo\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text("[dataflow_dagster.operators]\ndemo = df_plugin_demo\n")
    (dist / "RECORD").write_text("")
    return site


def cli(args: list[str], site: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)])}
    env.pop("DATAFLOW_OPERATOR_MODULES", None)
    return subprocess.run(
        [sys.executable, "-m", "dataflow_dagster.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_entry_point_operator_is_listed_usable_in_yaml_and_in_the_schema(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    listed = cli(["ops", "list", "--json"], site, tmp_path)
    assert listed.returncode == 0, listed.stderr
    row = next(r for r in json.loads(listed.stdout) if r["name"] == "PluginUpperCaseFilter")
    assert row["module"] == "df_plugin_demo" and row["kind"] == "filter"

    (tmp_path / "data.jsonl").write_text('{"text": "Hello"}\n{"text": "quiet"}\n{"text": "World"}\n')
    (tmp_path / "p.yaml").write_text(
        "pipeline: plug\nsource: {path: data.jsonl}\nsteps:\n"
        "  - name: upper\n    op: PluginUpperCaseFilter\n    config: {input_key: text}\n"
    )
    run = cli(["run", "p.yaml", "--storage", str(tmp_path / "store")], site, tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    ref = json.loads((tmp_path / "store" / "refs" / "plug__upper.json").read_text())
    assert ref["tables"]["table"]["row_count"] == 2 and ref["tables"]["rejected"]["row_count"] == 1

    schema = cli(["schema"], site, tmp_path)
    assert "PluginUpperCaseFilter" in json.loads(schema.stdout)["$defs"]["step"]["properties"]["op"]["enum"]

    without = cli(["run", "p.yaml"], tmp_path / "empty", tmp_path)  # plugin not installed -> config error
    assert without.returncode == 2 and "unknown operator 'PluginUpperCaseFilter'" in without.stderr


def test_pyproject_setting_names_operator_modules(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    (site / "df_plugin_demo-0.1.0.dist-info" / "entry_points.txt").unlink()  # only the pyproject route now
    (tmp_path / "pyproject.toml").write_text('[tool.dataflow-dagster]\noperator-modules = ["df_plugin_demo"]\n')
    listed = cli(["ops", "search", "upper", "case", "--json"], site, tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)[0]["name"] == "PluginUpperCaseFilter"
