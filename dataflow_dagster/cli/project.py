"""``init`` (scaffold a ``dg`` project), ``dev`` (open the Dagster UI), ``schema`` (JSON schema of pipelines)."""

import subprocess
import sys
from pathlib import Path

import click

from dataflow_dagster.cli.common import RunFailed, UserError
from dataflow_dagster.core.samples import identifier, write_sample_rows
from dataflow_dagster.core.schema import schema_text

PYPROJECT = """\
[project]
name = "{name}"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = ["dataflow-dagster"]

[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[tool.setuptools.packages.find]
include = ["{module}*"]

# A `dg` project: `dg list defs`, `dg check defs`, `dg launch --assets ...`, `dg dev`, and
# `dg scaffold defs dataflow_dagster.PipelineComponent NAME` for another pipeline.
[tool.dg]
directory_type = "project"

[tool.dg.project]
root_module = "{module}"
"""

WORKSPACE = """\
# `dagster dev -w workspace.yaml` (or `dataflow-dagster dev`) opens the UI on this project; `dg dev` does too.
load_from:
  - python_module:
      module_name: {module}.definitions
      working_directory: .
"""

DEFINITIONS = '''\
"""Dagster code location of this project: every component under ./defs (each pipeline is a
`dataflow_dagster.PipelineComponent` folder with a defs.yaml) becomes assets, checks and a job.

LLM steps use the embedded local model unless DATAFLOW_LLM_BASE_URL (+ DATAFLOW_LLM_MODEL, OPENAI_API_KEY)
points at an OpenAI-compatible server. Custom operators: set DATAFLOW_OPERATOR_MODULES=my_ops (or
[tool.dataflow-dagster] operator-modules in pyproject.toml).
"""

from pathlib import Path

import dagster as dg

from dataflow_dagster.defs.factory import pipelines_of

defs = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
PIPELINES = list(pipelines_of(defs).values())  # `dataflow-dagster plan/run NAME` find pipelines here
'''

# The sample pipeline as a component file, written by hand so it reads like a pipeline file (flow-style
# configs, a commented LLM step); tests check it equals ``core.samples.sample_pipeline("sample")``.
SAMPLE_COMPONENT = """\
# A pipeline as a Dagster component: `attributes` is the pipeline YAML format (docs/yaml.md).
# `dataflow-dagster plan sample` checks it on sample rows; `dg launch --assets 'key:sample/*'` runs it.
type: dataflow_dagster.PipelineComponent
attributes:
  pipeline: sample
  description: Drop empty, short and duplicated passages
  source:
    path: sample.jsonl
    required_columns: [text]
  steps:
    - name: not_empty
      op: ContentNullFilter
      config: {input_key: text}
    - name: long_enough
      op: WordNumberFilter
      config: {input_key: text, min_words: 8}
    - name: dedup
      op: ExactDedupFilter
      config: {input_key: text, normalize: true}
  # An LLM step (uses the embedded model; `dataflow-dagster ops show TopicClassifier`):
  #  - name: topic
  #    op: TopicClassifier
  #    config: {input_key: text}
"""

GITIGNORE = ".dataflow/\n.dagster_home/\n__pycache__/\n*.egg-info/\n"


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option("--force", is_flag=True, help="Write into a non-empty directory (existing files are overwritten).")
def init(directory: Path, force: bool) -> None:
    """Scaffold a `dg` project in DIRECTORY: pyproject.toml, workspace.yaml, PKG/definitions.py and a
    sample pipeline component in PKG/defs/sample/ (PKG = the directory's name as an identifier)."""
    if directory.exists() and any(directory.iterdir()) and not force:
        raise UserError(f"{directory} is not empty; choose a new directory or pass --force")
    name = directory.resolve().name
    module = identifier(name.replace("-", "_"), prefix="project")
    component = directory / module / "defs" / "sample"
    component.mkdir(parents=True, exist_ok=True)
    files = {
        directory / "pyproject.toml": PYPROJECT.format(name=name, module=module),
        directory / "workspace.yaml": WORKSPACE.format(module=module),
        directory / module / "__init__.py": "",
        directory / module / "definitions.py": DEFINITIONS,
        directory / module / "defs" / "__init__.py": "",
        directory / ".gitignore": GITIGNORE,
    }
    for path, text in files.items():
        path.write_text(text, encoding="utf-8")
    (component / "defs.yaml").write_text(SAMPLE_COMPONENT, encoding="utf-8")
    write_sample_rows(component / "sample.jsonl")
    click.echo(
        f"created dg project '{module}' in {directory.resolve()}\n"
        f"  cd {directory}\n  dataflow-dagster plan sample\n  dataflow-dagster run sample\n"
        f"  dg check defs && dg launch --assets 'key:sample/*'\n"
        f"  dg scaffold defs dataflow_dagster.PipelineComponent another_pipeline\n  dataflow-dagster dev"
    )


@click.command("dev", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("-w", "--workspace", default="workspace.yaml", show_default=True, type=click.Path(path_type=Path))
@click.option("--print-command", is_flag=True, help="Print the dagster command instead of running it.")
@click.pass_context
def dev(ctx: click.Context, workspace: Path, print_command: bool) -> None:
    """Open the Dagster UI: `dagster dev -w WORKSPACE` (extra arguments are passed on, e.g. -p 3001)."""
    if not workspace.is_file():
        raise UserError(f"{workspace} not found; run inside a project (see `dataflow-dagster init`) or pass -w")
    cmd = [sys.executable, "-m", "dagster", "dev", "-w", str(workspace), *ctx.args]
    if print_command:
        click.echo(" ".join(cmd))
        return
    try:
        code = subprocess.call(cmd)
    except KeyboardInterrupt:
        code = 0
    if code:
        raise RunFailed(f"dagster dev exited with code {code}")


@click.command("schema")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the schema to this file (default: print it).",
)
@click.option(
    "--check",
    "check_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Exit 1 when this file differs from the schema of the operators registered now.",
)
def schema(output: Path | None, check_file: Path | None) -> None:
    """JSON schema of YAML pipelines, generated from the operator registry (for editor validation)."""
    text = schema_text()
    if check_file is not None:
        current = check_file.read_text(encoding="utf-8") if check_file.is_file() else ""
        if current != text:
            raise RunFailed(f"{check_file} is stale; regenerate it with `dataflow-dagster schema -o {check_file}`")
        click.echo(f"{check_file} is up to date")
        return
    if output is None:
        click.echo(text, nl=False)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    click.echo(f"wrote {output}")


commands = [init, dev, schema]
