"""Dry-run plans count calls, cache hits, tokens and cost without calling a model."""

import json

import pytest
from fault_server import fault_server

from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from dataflow_dagster.core.plan import plan
from dataflow_dagster.core.runner import run_source, run_step
from dataflow_dagster.llm.openai_client import OpenAICompatClient
from operators.general_text.llm_qa import PassageQAGenerator, QAJudgeEvaluator, TopicClassifier


def _write(path, texts):
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))


def test_plan_counts_cache_hits_and_costs(tmp_path, storage):
    src = tmp_path / "in.jsonl"
    texts = [f"Passage {i} on the chemistry of salts." for i in range(12)] + ["Passage 0 on the chemistry of salts."]
    _write(src, texts)
    pipe = Pipeline(
        "planned",
        Source(str(src)),
        [
            Step("topic", TopicClassifier()),
            Step("qa", PassageQAGenerator(), after="load"),
            Step("judge", QAJudgeEvaluator(), after="qa"),
        ],
    )
    prices = {"fault": [1.0, 4.0]}
    before = plan(pipe, storage, "openai/fault", prices)  # nothing materialised: reads the source file
    topic, qa, judge = before.steps
    assert (topic.rows, topic.calls, topic.cache_hits, topic.exact) == (13, 12, 1, True)  # one duplicate prompt
    assert topic.prompt_tokens > 12 * 10 and topic.completion_tokens_max == 12 * 24
    assert topic.cost_usd == pytest.approx((topic.prompt_tokens * 1.0 + topic.completion_tokens_max * 4.0) / 1e6)
    assert not judge.exact and judge.rows == 13 and "not materialised" in judge.note
    assert before.totals["calls"] == topic.calls + qa.calls + judge.calls

    with fault_server(fault_rate=0.0, latency=0.0) as fs:
        run_source(storage, pipe)
        client = OpenAICompatClient(fs.base_url, "fault")
        run_step(storage, pipe, "topic", llm=client)
        client.close()
        assert len(fs.stats()["prompts"]) == 12  # the plan's call count was the real one

    after = plan(pipe, storage, client.model_id, prices)
    assert (after.steps[0].calls, after.steps[0].cache_hits, after.steps[0].cost_usd) == (0, 13, 0.0)
    assert after.steps[1].calls == 12  # the generator's prompts are not cached yet

    _write(src, [*texts, "A new passage about volcanoes."])  # new raw data arrives
    run_source(storage, pipe)
    grown = plan(pipe, storage, client.model_id, prices)
    assert (grown.steps[0].calls, grown.steps[0].cache_hits) == (1, 13)
    assert "total" in grown.format_table() and grown.as_dict()["totals"]["calls"] == 1 + 13 + 14

    unpriced = plan(pipe, storage, client.model_id)
    assert unpriced.steps[0].cost_usd is None and unpriced.totals["cost_usd"] is None
