"""A model per step: the generator on one server, its judge on another (two real llama.cpp servers on
127.0.0.1), chosen by ``Step(..., llm="judge")`` / YAML ``llm: judge``; each step's lineage and
metadata name the model that served it, and each server really received that step's requests."""

import json
from pathlib import Path

import pytest
from dagster import DagsterInstance

from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from dataflow_dagster.core.storage import Storage
from dataflow_dagster.core.yaml_loader import load_pipeline_file, parse_yaml, pipeline_from_doc, pipeline_to_dict
from dataflow_dagster.defs.factory import build_definitions
from dataflow_dagster.defs.resources import OpenAIResource, StorageResource
from operators.core.contract import OperatorError
from operators.general_text.llm_qa import PassageQAGenerator, QAJudgeEvaluator
from tests.helpers import llama_cpp_server, materialized, run_job

PASSAGES = [
    "Photosynthesis converts light energy into chemical energy stored in glucose inside plant cells.",
    "The Pacific Ocean is the largest and deepest of the oceanic divisions on planet Earth.",
]


def _completions(log: Path) -> int:
    return log.read_text(errors="replace").count("POST /v1/chat/completions")


def test_generator_and_judge_served_by_different_models(tmp_path: Path):
    src = tmp_path / "passages.jsonl"
    src.write_text("".join(json.dumps({"text": t}) + "\n" for t in PASSAGES))
    pipe = Pipeline(
        "two_models",
        Source(str(src), required_columns=["text"]),
        [Step("qa", PassageQAGenerator()), Step("judge", QAJudgeEvaluator(min_parsed_share=0.0), llm="judge")],
    )
    gen_log, judge_log = tmp_path / "gen.log", tmp_path / "judge.log"
    with llama_cpp_server(gen_log, "smol-gen") as gen_url, llama_cpp_server(judge_log, "smol-judge") as judge_url:
        judge_llm = OpenAIResource(base_url=judge_url, model="smol-judge", structured_output="json_object")
        defs = build_definitions(
            [pipe],
            llm=OpenAIResource(base_url=gen_url, model="smol-gen", structured_output="json_object"),
            resources={"judge": judge_llm},
            storage=StorageResource(root=str(tmp_path / ".dataflow")),
        )
        result = run_job(defs, "two_models_job", instance=DagsterInstance.ephemeral())
        assert result.success
    gen_calls, judge_calls = _completions(gen_log), _completions(judge_log)  # servers stopped: logs complete

    storage = Storage(tmp_path / ".dataflow")
    qa = storage.current("two_models__qa")["lineage"]["model"]
    judge = storage.current("two_models__judge")["lineage"]["model"]
    assert qa["id"] == "openai/smol-gen" and qa["resource"] == "llm" and qa["base_urls"] == [gen_url]
    assert judge["id"] == "openai/smol-judge" and judge["resource"] == "judge" and judge["base_urls"] == [judge_url]
    # Each server answered its own step's rows, and only those.
    assert gen_calls >= len(PASSAGES) and judge_calls >= 1
    md = materialized(result)
    assert md["two_models/qa"]["model_id"] == "openai/smol-gen"
    assert md["two_models/judge"]["model_id"] == "openai/smol-judge"
    assert md["two_models/judge"]["llm_resource"] == "judge"
    for key in ("two_models/qa", "two_models/judge"):  # dagster-openai's metadata names
        m = md[key]
        assert m["openai.calls"] >= 1
        assert m["openai.total_tokens"] == m["openai.prompt_tokens"] + m["openai.completion_tokens"] > 0
    # HTTP calls each step's client made (retries and re-asks included) are exactly what its server saw.
    assert md["two_models/qa"]["llm_attempts"] == gen_calls
    assert md["two_models/judge"]["llm_attempts"] == judge_calls


def test_yaml_llm_key_round_trips_and_is_checked(tmp_path: Path):
    (tmp_path / "in.jsonl").write_text(json.dumps({"text": PASSAGES[0]}) + "\n")
    f = tmp_path / "p.yaml"
    f.write_text(
        "pipeline: yl\nsource: {path: in.jsonl}\nsteps:\n"
        "  - {name: qa, op: PassageQAGenerator}\n"
        "  - {name: judge, op: QAJudgeEvaluator, llm: judge}\n"
    )
    pipe = load_pipeline_file(f)
    assert [s.llm for s in pipe.steps] == [None, "judge"]
    assert pipeline_to_dict(pipe)["steps"][1]["llm"] == "judge"
    with pytest.raises(ValueError, match="uses LLM resource 'judge', which is not defined"):
        build_definitions([pipe], storage=StorageResource(root=str(tmp_path / ".dataflow")))
    bad = "pipeline: yl\nsource: {path: in.jsonl}\nsteps:\n  - {name: qa, op: PassageQAGenerator, llm: 'a-b'}\n"
    with pytest.raises(OperatorError, match=r"p\.yaml:4: steps\[0\]\.llm|llm"):
        pipeline_from_doc(parse_yaml(bad, f))
