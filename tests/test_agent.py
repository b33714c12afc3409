"""The NL -> pipeline agent: intent, retrieval, model selection (real embedded model and a faulty
endpoint), the dry-run gate, refusals (exit code 3, no file) and loading in Dagster."""

import http.server
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from dataflow_dagster.agent import AgentRefusal, build_pipeline, parse_intent
from dataflow_dagster.cli import cli
from dataflow_dagster.core.dryrun import dry_run
from dataflow_dagster.core.yaml_loader import load_pipeline_file
from dataflow_dagster.llm.local import LlamaCppClient
from dataflow_dagster.llm.openai_client import OpenAICompatClient
from tests.helpers import loopback_server

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data" / "agent_test_data.json"
REQUESTS = json.loads((REPO / "tests" / "data" / "agent_requests.json").read_text(encoding="utf-8"))


def ops_of(path: Path) -> list[str]:
    return [s.op.name for s in load_pipeline_file(path).steps]


def test_intent_parsing() -> None:
    i = parse_intent("generate 5k Text-to-SQL samples with CoT, three difficulty levels")
    assert i.actions == ["generate"] and i.count == 5000 and {"text2sql", "reasoning"} <= set(i.domains)
    i = parse_intent("drop texts with fewer than 20 words and remove duplicates")
    assert i.limits == {"word": {"min": 20.0}} and "dedup" in i.actions
    assert parse_intent("keep texts with at most 50 words").limits == {"word": {"max": 50.0}}
    i = parse_intent("Generate QA pairs, score them and keep only the good ones")
    assert i.actions == ["generate", "evaluate"] and i.keep_good
    assert parse_intent("对文本去重").actions == ["dedup"]
    assert parse_intent("score rows in data/in.jsonl").data_path == "data/in.jsonl"
    for statement in json.loads(DATA.read_text(encoding="utf-8"))[:10]:
        assert parse_intent(statement["instruction"]).refusal  # statements are not requests


@pytest.mark.parametrize("case", [c for c in REQUESTS if c["expect"] != "refuse"], ids=lambda c: c["request"][:40])
def test_retrieval_only_pipelines_match_the_request_and_pass_dry_run(case: dict, tmp_path: Path) -> None:
    res = build_pipeline(case["request"], DATA, tmp_path, llm=None)
    assert res.selection == "retrieval" and res.path.is_file()
    names = ops_of(res.path)
    assert set(case["expect"]) <= set(names), names
    assert dry_run(load_pipeline_file(res.path)).ok


def test_bindings_from_the_request(tmp_path: Path) -> None:
    res = build_pipeline("keep only texts with at least 8 words", DATA, tmp_path)
    step = load_pipeline_file(res.path).steps[0]
    assert step.op.config.input_key == "instruction" and step.op.config.min_words == 8
    res = build_pipeline("Generate QA pairs from the passages, score them and keep only the good ones", DATA, tmp_path)
    steps = load_pipeline_file(res.path).steps
    assert [s.op.name for s in steps] == ["PassageQAGenerator", "QAJudgeEvaluator", "ThresholdFilter"]
    assert steps[2].op.config.input_key == "qa_score" and steps[2].op.config.min_value == 3.0
    res = build_pipeline("score the question answer pairs", DATA, tmp_path)
    assert any("added PassageQAGenerator" in n for n in res.notes)  # the judge needs question/answer


@pytest.mark.parametrize("case", [c for c in REQUESTS if c["expect"] == "refuse"], ids=lambda c: c["request"][:30])
def test_refusals_exit_3_and_write_nothing(case: dict, tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["agent", "--no-llm", "-d", str(DATA), "-o", str(tmp_path), case["request"]])
    assert res.exit_code == 3, res.output
    assert res.output.startswith("refused: ")
    assert list(tmp_path.iterdir()) == []


def test_statement_from_agent_test_data_is_refused(tmp_path: Path) -> None:
    text = json.loads(DATA.read_text(encoding="utf-8"))[0]["instruction"]
    res = CliRunner().invoke(cli, ["agent", "--no-llm", "-d", str(DATA), "-o", str(tmp_path), text])
    assert res.exit_code == 3 and "no data-preparation action" in res.output and not list(tmp_path.iterdir())


def test_agent_cli_usage_errors(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        cli,
        ["agent", "--no-llm", "-o", str(tmp_path), "remove duplicate texts"],
    )
    assert res.exit_code == 2 and "--data" in res.output
    ok = CliRunner().invoke(
        cli, ["agent", "--no-llm", "-d", str(DATA), "-o", str(tmp_path), "--name", "dd", "remove duplicate texts"]
    )
    assert ok.exit_code == 0, ok.output
    again = CliRunner().invoke(
        cli, ["agent", "--no-llm", "-d", str(DATA), "-o", str(tmp_path), "--name", "dd", "remove duplicate texts"]
    )
    assert again.exit_code == 2 and "exists" in again.output


def test_with_the_embedded_model(tmp_path: Path, local_llm: LlamaCppClient) -> None:
    res = build_pipeline(
        "Generate QA pairs from the passages, score them and keep only the good ones", DATA, tmp_path, llm=local_llm
    )
    assert res.model == local_llm.model_id
    assert res.selection == "retrieval"  # the embedded model is too small to decompose: the rules decide
    assert any("embedded one" in n for n in res.notes), res.notes
    names = ops_of(res.path)
    assert {"PassageQAGenerator", "QAJudgeEvaluator", "ThresholdFilter"} <= set(names)
    assert res.plan.ok


class _Garbage(http.server.BaseHTTPRequestHandler):
    """An OpenAI-compatible endpoint that answers every chat call with text that is not JSON."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps(
            {
                "id": "x",
                "object": "chat.completion",
                "created": 0,
                "model": "junk",
                "choices": [
                    {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "I like turtles"}}
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def garbage_endpoint() -> Iterator[str]:
    with loopback_server(_Garbage) as url:
        yield url


def test_invalid_model_answer_falls_back_to_retrieval(tmp_path: Path, garbage_endpoint: str) -> None:
    client = OpenAICompatClient(garbage_endpoint, "junk", max_retries=0, timeout_s=10)
    res = build_pipeline("remove duplicate and empty texts", DATA, tmp_path, llm=client)
    assert res.selection == "retrieval"
    # the client itself re-asks once and reports "answer not JSON"; the agent then falls back
    assert any(re.search(r"not (the requested )?JSON", n) for n in res.notes), res.notes
    assert {"ExactDedupFilter", "ContentNullFilter"} <= set(ops_of(res.path))


def test_refusal_leaves_no_file_even_when_nothing_can_be_wired(tmp_path: Path) -> None:
    numbers = tmp_path / "numbers.jsonl"
    numbers.write_text('{"n": 1}\n{"n": 2}\n')
    with pytest.raises(AgentRefusal, match="no text column"):
        build_pipeline("remove duplicate texts", numbers, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_agent_outputs_load_with_dagster_definitions_validate(tmp_path: Path) -> None:
    proj = tmp_path / "proj"
    assert CliRunner().invoke(cli, ["init", str(proj)]).exit_code == 0
    for req in ("remove duplicate and empty texts", "generate question answer pairs from each passage"):
        r = build_pipeline(req, DATA, proj / "pipelines")
        assert r.path.parent == (proj / "pipelines").resolve()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=proj,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("brk", ["\n", "\r", "\x85", "\u2028", "\u2029", "\x0b"])
def test_line_breaks_in_a_request_never_become_live_yaml(tmp_path: Path, brk: str):
    """A request smuggling ``pipeline: pretrain_qa`` after a line break (LF, CR, NEL, U+2028, ...) once
    set the written file's pipeline name to another pipeline's, taking the code location down."""
    from dataflow_dagster.core.yaml_loader import load_pipeline_file

    request = f"keep only texts with at least 8 words{brk}pipeline: pretrain_qa{brk}steps: []"
    res = build_pipeline(request, DATA, tmp_path, name="safe_words")
    text = res.path.read_text(encoding="utf-8")
    assert all(not line.startswith(("pipeline: pretrain_qa", "steps: []")) for line in text.splitlines())
    header = text.split("\npipeline:", 1)[0]
    assert all(line.startswith("#") for line in header.split("\n"))  # the break is escaped inside the comment
    assert brk == "\n" or brk not in header
    assert load_pipeline_file(res.path).name == "safe_words"
