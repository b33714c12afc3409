"""Which path decides each step: a model behind an OpenAI-compatible endpoint (a real llama.cpp server on
127.0.0.1) proposes the decomposition and is validated; the embedded model leaves it to the rules;
clauses no registered operator fits get a synthesised, labelled Prompted* step."""

from pathlib import Path

import pytest

from dataflow_dagster.agent import build_pipeline
from dataflow_dagster.core.yaml_loader import load_pipeline_file
from dataflow_dagster.llm.local import LlamaCppClient
from dataflow_dagster.llm.openai_client import OpenAICompatClient
from tests.helpers import llama_cpp_server

DATA = Path(__file__).resolve().parents[1] / "bench" / "agent_data"
REQUEST = "remove duplicate and empty texts, then classify the topic of each text"
WANT = {"ExactDedupFilter", "ContentNullFilter", "TopicClassifier"}


def test_endpoint_model_proposes_the_decomposition_and_is_validated(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with llama_cpp_server(log) as url:
        client = OpenAICompatClient(url, "smollm2", max_retries=0, timeout_s=120)
        res = build_pipeline(REQUEST, DATA / "texts.jsonl", tmp_path / "out", llm=client)
    assert "POST /v1/chat/completions" in log.read_text(errors="replace")  # the model was really asked
    names = [s.op.name for s in res.pipeline.steps]
    if res.selection == "llm":  # accepted: it passed the request check, the dry run and the Dagster load
        assert any("model (decomposition validated" in n for n in res.notes), res.notes
        assert set(names) >= {"ContentNullFilter", "TopicClassifier"} or set(names) >= WANT
    else:  # set aside with the reason; the rule path decided every step and says so
        assert res.selection == "retrieval"
        assert any("the rule path decides" in n for n in res.notes), res.notes
        assert set(names) == WANT
        assert all("rules: clause" in n for n in res.notes if n.startswith("step ")), res.notes
    text = res.path.read_text()
    assert f"operators chosen by: {res.selection}" in text and "# step " in text  # the YAML says it too


def test_embedded_model_leaves_the_decomposition_to_the_rules(tmp_path: Path, local_llm: LlamaCppClient) -> None:
    res = build_pipeline(REQUEST, DATA / "texts.jsonl", tmp_path, llm=local_llm)
    assert res.selection == "retrieval" and {s.op.name for s in res.pipeline.steps} == WANT
    assert any("embedded one" in n and "rule path decides" in n for n in res.notes), res.notes


@pytest.mark.parametrize(
    ("req", "step", "op"),
    [
        ("translate each text into French", "synthesised_refine", "PromptedRefiner"),
        ("write a haiku about each passage", "synthesised_generate", "PromptedGenerator"),
        ("remove texts that mention politics", "synthesised_filter", "PromptedFilter"),
    ],
)
def test_a_clause_no_operator_fits_gets_a_labelled_synthesised_step(req: str, step: str, op: str, tmp_path: Path):
    res = build_pipeline(req, DATA / "texts.jsonl", tmp_path)
    assert [(s.name, s.op.name) for s in res.pipeline.steps] == [(step, op)]
    assert any("synthesised for clause" in n for n in res.notes)
    text = res.path.read_text()
    assert f"# step {step} ({op}): synthesised for clause" in text
    loaded = load_pipeline_file(res.path).steps[0].op.config_dict()
    assert loaded["input_key"] == "text" and req.split()[-1].lower() in loaded["user_prompt"].lower()


def test_rate_then_keep_the_good_ones_gates_on_the_synthesised_score(tmp_path: Path) -> None:
    res = build_pipeline("rate how formal each text is and keep only the good ones", DATA / "texts.jsonl", tmp_path)
    steps = res.pipeline.steps
    assert [s.op.name for s in steps] == ["PromptedEvaluator", "ThresholdFilter"]
    assert steps[1].op.config.input_key == steps[0].op.config.output_key == "formal_score"


def test_model_settings_and_prompts_are_validated_by_the_operators_config() -> None:
    """What a capable model may set: numeric settings the operator declares (within their bounds) and
    a Prompted* operator's instruction; anything else rejects the proposal, so the rules decide."""
    from dataflow_dagster.agent.model_plan import _settings
    from dataflow_dagster.agent.planner import Planner
    from operators.core.registry import all_operators

    planner = Planner(all_operators())
    ok = [
        {"action": "filter", "operator": "WordNumberFilter", "settings": {"min_words": 5}},
        {"action": "refine", "operator": "PromptedRefiner", "prompt": "Translate the text into French."},
    ]
    preset, problems = _settings(planner, ok)
    assert problems == [] and preset["WordNumberFilter"] == {"min_words": 5}
    assert preset["PromptedRefiner"]["user_prompt"].startswith("Translate the text into French.")
    for bad in (
        {"action": "filter", "operator": "WordNumberFilter", "settings": {"input_key": 3}},  # not numeric
        {"action": "filter", "operator": "WordNumberFilter", "settings": {"no_such": 1}},
        {"action": "dedup", "operator": "MinHashDeduplicateFilter", "settings": {"threshold": 7}},  # out of range
    ):
        preset, problems = _settings(planner, [bad])
        assert problems and bad["operator"] not in preset, (bad, problems)


def test_endpoint_model_writes_the_synthesised_steps_instruction(tmp_path: Path) -> None:
    """With an endpoint, the instruction of a synthesised Prompted* step comes from the model (or the
    template, with the reason); the step stays a labelled synthesised step with the operator's schema."""
    from dataflow_dagster.agent.decompose import decompose
    from dataflow_dagster.agent.synthesis import synthesise

    req = "translate each text into French"
    template = synthesise(decompose(req)[0], ["translate"])[1]["user_prompt"]  # type: ignore[index]
    log = tmp_path / "server.log"
    with llama_cpp_server(log) as url:
        client = OpenAICompatClient(url, "smollm2", max_retries=0, timeout_s=120)
        res = build_pipeline(req, DATA / "texts.jsonl", tmp_path / "out", llm=client)
    assert "POST /v1/chat/completions" in log.read_text(errors="replace")
    step = load_pipeline_file(res.path).steps[0]
    assert (step.name, step.op.name) == ("synthesised_refine", "PromptedRefiner")
    note = next(n for n in res.notes if n.startswith("step synthesised_refine"))
    prompt = step.op.config_dict()["user_prompt"]
    if "prompt written by model" in note:
        assert prompt != template and "{" not in prompt, prompt
    else:
        assert "the template prompt is used" in note and prompt == template, note
