"""``init`` (scaffold a project), ``dev`` (open the Dagster UI) and ``schema`` (JSON schema of YAML pipelines)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import click

from dataflow_dagster.cli.common import RunFailed, UserError
from dataflow_dagster.core.schema import SCHEMA_FILE, schema_text

WORKSPACE = """\
# `dagster dev -w workspace.yaml` (or `dataflow-dagster dev`) opens the UI on this project.
load_from:
  - python_file:
      relative_path: definitions.py
      working_directory: .
"""

DEFINITIONS = '''\
"""Dagster code location of this project: every YAML pipeline in ./pipelines becomes assets + a job.

LLM steps use the embedded local model unless DATAFLOW_LLM_BASE_URL (+ DATAFLOW_LLM_MODEL, OPENAI_API_KEY)
points at an OpenAI-compatible server. Custom operators: set DATAFLOW_OPERATOR_MODULES=my_ops (or
[tool.dataflow-dagster] operator-modules in pyproject.toml).
"""

from pathlib import Path

from dataflow_dagster.defs.factory import build_definitions
from dataflow_dagster.defs.resources import llm_from_env
from dataflow_dagster.core.yaml_loader import load_pipeline_dir

BROKEN_FILES = []  # files that did not load: shown as failing assets, the other pipelines still load
PIPELINES = load_pipeline_dir(Path(__file__).parent / "pipelines", broken=BROKEN_FILES)
defs = build_definitions(PIPELINES, llm=llm_from_env(), broken_files=BROKEN_FILES)
'''

SAMPLE_PIPELINE = """\
# yaml-language-server: $schema={schema}
# A first pipeline: clean short and duplicated passages. `dataflow-dagster plan pipelines/sample.yaml`
# checks it on sample rows; `dataflow-dagster run pipelines/sample.yaml` materialises it.
pipeline: sample
description: Drop empty, short and duplicated passages
source:
  path: ../data/sample.jsonl
  required_columns: [text]
steps:
  - name: not_empty
    op: ContentNullFilter
    config: {{input_key: text}}
  - name: long_enough
    op: WordNumberFilter
    config: {{input_key: text, min_words: 8}}
  - name: dedup
    op: ExactDedupFilter
    config: {{input_key: text, normalize: true}}
# An LLM step (uses the embedded model; `dataflow-dagster ops show TopicClassifier`):
#  - name: topic
#    op: TopicClassifier
#    config: {{input_key: text}}
"""

SAMPLE_ROWS = [
    "The mitochondrion is the organelle in which cellular respiration produces most of the cell's ATP.",
    "Photosynthesis converts light energy into chemical energy stored in glucose inside the chloroplasts.",
    "The mitochondrion is the organelle in which cellular respiration produces most of the cell's ATP.",
    "Too short.",
    "",
    "Newton's second law states that the force on a body equals its mass times its acceleration.",
    "A binary search halves the remaining interval at every step, so it needs logarithmic time.",
    "the  mitochondrion is the organelle in which cellular respiration produces most of the cell's ATP.",
]

GITIGNORE = ".dataflow/\n.dagster_home/\n__pycache__/\n"


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option("--force", is_flag=True, help="Write into a non-empty directory (existing files are overwritten).")
def init(directory: Path, force: bool) -> None:
    """Scaffold a project in DIRECTORY: workspace.yaml, definitions.py, pipelines/sample.yaml, data/."""
    if directory.exists() and any(directory.iterdir()) and not force:
        raise UserError(f"{directory} is not empty; choose a new directory or pass --force")
    (directory / "pipelines").mkdir(parents=True, exist_ok=True)
    (directory / "data").mkdir(exist_ok=True)
    (directory / "workspace.yaml").write_text(WORKSPACE, encoding="utf-8")
    (directory / "definitions.py").write_text(DEFINITIONS, encoding="utf-8")
    schema = Path(os.path.relpath(SCHEMA_FILE, (directory / "pipelines").resolve())).as_posix()
    (directory / "pipelines" / "sample.yaml").write_text(SAMPLE_PIPELINE.format(schema=schema), encoding="utf-8")
    (directory / "data" / "sample.jsonl").write_text(
        "".join(json.dumps({"text": t}) + "\n" for t in SAMPLE_ROWS), encoding="utf-8"
    )
    (directory / ".gitignore").write_text(GITIGNORE, encoding="utf-8")
    click.echo(
        f"created project in {directory.resolve()}\n"
        f"  cd {directory}\n  dataflow-dagster plan pipelines/sample.yaml\n"
        f"  dataflow-dagster run pipelines/sample.yaml\n  dataflow-dagster dev"
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
