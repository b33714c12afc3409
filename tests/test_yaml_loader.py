"""YAML pipelines: loading, line-numbered errors, the JSON schema and loading in Dagster."""

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from assets.reference import reference_pipeline
from dataflow_dagster.core.schema import SCHEMA_FILE, pipeline_schema
from dataflow_dagster.core.yaml_loader import (
    PipelineFileError,
    dump_pipeline,
    load_pipeline_dir,
    load_pipeline_file,
    pipeline_files,
)

REPO = Path(__file__).resolve().parents[1]
PIPELINES = REPO / "assets" / "pipelines"
GOOD = """\
pipeline: demo
source:
  path: data.jsonl
  required_columns: [text]
steps:
  - name: not_empty
    op: ContentNullFilter
    config: {input_key: text}
  - name: long_enough
    op: WordNumberFilter
    config:
      input_key: text
      min_words: 3
"""


def write(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    (tmp_path / "data.jsonl").write_text('{"text": "one two three four"}\n{"text": ""}\n', encoding="utf-8")
    f = tmp_path / name
    f.write_text(text, encoding="utf-8")
    return f


def test_reference_yaml_matches_python_reference() -> None:
    from_yaml = load_pipeline_file(PIPELINES / "pretrain_qa_yaml.yaml")
    from_py = reference_pipeline()
    assert from_yaml.name == "pretrain_qa_yaml" != from_py.name
    strip = [{k: v for k, v in s.items()} for s in from_py.describe()["steps"]]
    assert from_yaml.describe()["steps"] == strip
    assert from_yaml.source_path().resolve() == Path(from_py.source.path).resolve()
    topic = from_yaml.step("topic")
    assert topic.prompt is not None and "Answer with one area" in topic.prompt.template
    assert topic.prompt.output_schema == topic.op.default_prompt.output_schema


def test_good_file_loads_and_resolves_source_relative_to_file(tmp_path: Path) -> None:
    p = load_pipeline_file(write(tmp_path, GOOD))
    assert [s.name for s in p.steps] == ["not_empty", "long_enough"]
    assert p.steps[1].op.config.min_words == 3
    assert p.source_path() == tmp_path / "data.jsonl"


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        (GOOD.replace("min_words: 3", "min_wrds: 3"), 13, "has no setting `min_wrds`"),
        (GOOD.replace("min_words: 3", "min_words: lots"), 13, "min_words"),
        (GOOD.replace("op: WordNumberFilter", "op: WordCountFilter"), 10, "unknown operator 'WordCountFilter'"),
        (GOOD.replace("  required_columns", "  colums"), 4, "unknown key"),
        (GOOD.replace("steps:\n", "steps: 3\n").split("  - name")[0], 5, "non-empty list"),
        (GOOD + "  - name: not_empty\n    op: ContentNullFilter\n    config: {input_key: text}\n", 14, "used twice"),
        (
            GOOD.replace("    config: {input_key: text}\n", "    config: {input_key: text}\n    after: nowhere\n", 1),
            9,
            "not an earlier step",
        ),
        ("pipeline: demo\nsource: {path: x\n", 3, "not valid YAML"),
        ("pipeline: a\npipeline: b\nsource: {path: x}\nsteps: []\n", 2, "appears twice"),
        ("", 1, "empty"),
        (
            GOOD.replace("    config: {input_key: text}\n", "    config: {input_key: text}\n    prompt: hi\n", 1),
            9,
            "does not use a prompt",
        ),
    ],
)
def test_errors_name_file_line_and_key(tmp_path: Path, text: str, line: int, needle: str) -> None:
    f = write(tmp_path, text)
    with pytest.raises(PipelineFileError) as err:
        load_pipeline_file(f)
    msg = str(err.value)
    assert msg.startswith(f"{f}:{line}:"), msg
    assert needle in msg


def test_prompt_override_with_bad_braces_is_refused(tmp_path: Path) -> None:
    text = GOOD + "  - name: topic\n    op: TopicClassifier\n    config: {input_key: text}\n    prompt: 'bad {x'\n"
    with pytest.raises(PipelineFileError, match=r"p.yaml:17: steps\[2\].prompt: template is not a valid format"):
        load_pipeline_file(write(tmp_path, text))


def test_duplicate_pipeline_names_in_a_dir_are_refused(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "a.yaml")
    write(tmp_path, GOOD, "b.yml")
    with pytest.raises(Exception, match="already used by"):
        load_pipeline_dir(tmp_path)


def test_dump_round_trips(tmp_path: Path) -> None:
    original = load_pipeline_file(PIPELINES / "pretrain_qa_yaml.yaml")
    out = tmp_path / "sub"
    out.mkdir()
    f = out / "again.yaml"
    f.write_text(dump_pipeline(original, out), encoding="utf-8")
    again = load_pipeline_file(f)
    assert again.describe()["steps"] == original.describe()["steps"]
    assert again.source_path().resolve() == original.source_path().resolve()
    assert again.step("topic").prompt.template == original.step("topic").prompt.template
    first_line = f.read_text(encoding="utf-8").splitlines()[0]
    schema_ref = first_line.split("$schema=")[1]
    assert (out / schema_ref).resolve() == SCHEMA_FILE.resolve()


def test_every_pipeline_yaml_validates_against_the_published_schema() -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    files = pipeline_files(PIPELINES)
    assert files, "assets/pipelines has no YAML pipelines"
    for f in files:
        jsonschema.validate(yaml.safe_load(f.read_text(encoding="utf-8")), schema)


def test_schema_rejects_what_the_loader_rejects() -> None:
    schema = pipeline_schema()
    doc = yaml.safe_load((PIPELINES / "pretrain_qa_yaml.yaml").read_text(encoding="utf-8"))
    doc["steps"][1]["config"]["min_wrds"] = 3
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)
    doc = yaml.safe_load((PIPELINES / "pretrain_qa_yaml.yaml").read_text(encoding="utf-8"))
    doc["steps"][0]["op"] = "NoSuchOperator"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)
    doc = yaml.safe_load((PIPELINES / "pretrain_qa_yaml.yaml").read_text(encoding="utf-8"))
    doc["steps"][1]["config"]["min_words"] = "many"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)


def test_published_schema_is_up_to_date() -> None:
    # a fresh interpreter: other tests register throwaway operators in this process's registry
    fresh = subprocess.run(
        [sys.executable, "-c", "from dataflow_dagster.core.schema import schema_text; print(schema_text(), end='')"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert SCHEMA_FILE.read_text(encoding="utf-8") == fresh, (
        "dataflow_dagster/schema/pipeline.schema.json is stale: run "
        "`dataflow-dagster schema -o dataflow_dagster/schema/pipeline.schema.json`"
    )


def test_yaml_pipelines_are_in_the_code_location() -> None:
    from assets.definitions import PIPELINES as LOCATION_PIPELINES
    from assets.definitions import defs

    names = {p.name for p in LOCATION_PIPELINES}
    for f in pipeline_files(PIPELINES):
        assert load_pipeline_file(f).name in names
    assert defs.resolve_job_def("pretrain_qa_yaml_job") is not None
    assert defs.resolve_job_def("pretrain_qa_job") is not None


def test_dagster_definitions_validate_loads_the_workspace() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Validation successful" in proc.stdout + proc.stderr
