"""The conversation operators the shipped function-calling pipeline does not use, on a real DuckDB
through the runner with the embedded model (two rows): scenario expansion, parallel/sequential tasks,
the composition-task filter, consistent multi-turn chat."""

import json
from pathlib import Path

from operators.conversations.chat import ConsistentChatGenerator
from operators.conversations.tasks import CompositionTaskFilter, ParaSeqTaskGenerator, ScenarioExpandGenerator
from tests.helpers import run_steps

SCENARIOS = [
    {"scenario": "A traveller whose flight was cancelled needs a new flight and must tell the hotel."},
    {"scenario": "A shop owner wants to check stock levels and reorder items that are running low."},
]


def test_task_chain_and_composition_filter(tmp_path: Path, local_llm):
    ops = [
        ScenarioExpandGenerator(),
        ParaSeqTaskGenerator(input_key="scenario"),
        CompositionTaskFilter(input_sub_tasks_keys=["parallel_task", "subsequent_task"]),
    ]
    out = run_steps(tmp_path, SCENARIOS, ops, llm=local_llm)
    expanded, tasks = out["s0"], out["s1"]
    assert len(expanded["table"]) + len(expanded["errors"]) == 2
    assert all(r["modified_scenario"] and r["_parent_ids"] for r in expanded["table"])
    for r in tasks["table"]:
        assert r["parallel_task"] and r["subsequent_task"] and r["composition_task"]
    judged = out["s2"]
    assert len(judged["table"]) + len(judged["rejected"]) == len(tasks["table"])
    assert all(r["runable_label"] == 1 for r in judged["table"])
    assert all(r["_reason"].startswith("CompositionTaskFilter: ") for r in judged["rejected"])


def test_consistent_chat(tmp_path: Path, local_llm):
    topics = [
        {"topic": "Fixing a laptop that overheats", "category": "Problem Solving Interaction"},
        {"topic": "How vaccines train the immune system", "intent": "from basic concepts to connections"},
    ]
    out = run_steps(tmp_path, topics, [ConsistentChatGenerator(num_turns_per_dialog=2)], llm=local_llm)["s0"]
    assert len(out["table"]) + len(out["errors"]) == 2 and out["table"]
    for r in out["table"]:
        conv = json.loads(r["conversation"])
        assert [m["role"] for m in conv] == ["user", "assistant", "user", "assistant"]
        assert all(isinstance(m["value"], str) and m["value"] for m in conv)
        assert r["category"] in ("Problem Solving Interaction", "How vaccines train the immune system")
