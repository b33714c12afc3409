"""The tool-call checker on hand-made dialogues: a good one passes, each kind of defect is named.

Then ToolCallCheckFilter as a pipeline step on a real DuckDB snapshot: good rows kept, bad rows in
``__rejected`` with every problem, and its blocking check fails when any dialogue is invalid.
"""

import copy
import json
from pathlib import Path

import pytest

from dataflow_dagster.core.runner import check_metric
from operators.conversations.checker import ToolCallCheckFilter, check_dialogue
from operators.conversations.functions import to_tool_specs
from tests.helpers import run_steps

FUNCTIONS = [
    {
        "name": "get_weather",
        "description": "Forecast for a city and day",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days_ahead": {"type": "integer", "minimum": 0}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
    {
        "name": "move_reservation",
        "description": "Move a reservation to another day",
        "parameters": {
            "type": "object",
            "properties": {"reservation_id": {"type": "string"}, "day": {"type": "string"}},
            "required": ["reservation_id", "day"],
        },
    },
]


def call(cid: str, name: str, args: object) -> dict:
    arguments = args if isinstance(args, str) else json.dumps(args)
    return {"id": cid, "type": "function", "function": {"name": name, "arguments": arguments}}


GOOD = [
    {"role": "system", "content": "You can call functions."},
    {"role": "user", "content": "Will it rain in Osaka tomorrow? If so move picnic R7 to Sunday."},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [call("c1", "get_weather", {"city": "Osaka", "days_ahead": 1})],
    },
    {"role": "tool", "tool_call_id": "c1", "name": "get_weather", "content": '{"rain": true}'},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [call("c2", "move_reservation", {"reservation_id": "R7", "day": "Sunday"})],
    },
    {"role": "tool", "tool_call_id": "c2", "content": "moved"},
    {"role": "assistant", "content": "It will rain, so I moved your picnic to Sunday."},
]


def broken(edit) -> list[dict]:
    msgs = copy.deepcopy(GOOD)
    edit(msgs)
    return msgs


def _set_call(i: int, c: dict):
    def edit(m: list[dict]) -> None:
        m[i]["tool_calls"] = [c]

    return edit


BAD = {
    "unknown function": (_set_call(2, call("c1", "get_forecast", {"city": "Osaka"})), "not one of the functions"),
    "missing required argument": (_set_call(2, call("c1", "get_weather", {"days_ahead": 1})), "'city' is a required"),
    "wrong argument type": (
        _set_call(2, call("c1", "get_weather", {"city": "Osaka", "days_ahead": "one"})),
        "not of type",
    ),
    "extra argument": (
        _set_call(2, call("c1", "get_weather", {"city": "Osaka", "units": "C"})),
        "Additional properties are not allowed",
    ),
    "minimum violated": (_set_call(2, call("c1", "get_weather", {"city": "Osaka", "days_ahead": -1})), "less than"),
    "arguments not JSON": (_set_call(2, call("c1", "get_weather", "{city: Osaka")), "not valid JSON"),
    "arguments not an object": (_set_call(2, call("c1", "get_weather", "[1]")), "must be a JSON object"),
    "tool answers unknown id": (lambda m: m[3].update(tool_call_id="c9"), "not an open tool call"),
    "tool names other function": (lambda m: m[3].update(name="move_reservation"), "was to 'get_weather'"),
    "unanswered call": (lambda m: m.pop(3), "never answered"),
    "duplicate call id": (
        _set_call(4, call("c1", "move_reservation", {"reservation_id": "R7", "day": "Sun"})),
        "used twice",
    ),
    "ends on a tool message": (lambda m: m.pop(), "must end with an assistant answer"),
    "opens with the assistant": (lambda m: m.pop(1), "must open with a user message"),
    "empty assistant turn": (lambda m: m[-1].update(content=""), "neither text nor tool calls"),
    "unknown role": (lambda m: m.insert(2, {"role": "robot", "content": "hi"}), "unknown role"),
}


def test_good_dialogue_passes_also_as_json_text_and_in_tools_wrapper():
    assert check_dialogue(GOOD, FUNCTIONS) == []
    wrapped = [{"type": "function", "function": f} for f in FUNCTIONS]
    assert check_dialogue(json.dumps(GOOD), json.dumps(wrapped)) == []


@pytest.mark.parametrize("case", sorted(BAD))
def test_each_defect_is_found_and_named(case: str):
    edit, expected = BAD[case]
    problems = check_dialogue(broken(edit), FUNCTIONS)
    assert any(expected in p for p in problems), problems


def test_dialogue_without_tool_calls_and_broken_function_definitions():
    plain = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    assert check_dialogue(plain, FUNCTIONS) == ["the dialogue makes no tool call"]
    assert check_dialogue(plain, FUNCTIONS, require_tool_call=False) == []
    bad_schema = [{"name": "f", "parameters": {"type": "object", "properties": {"x": {"type": "strin"}}}}]
    assert any("not a valid JSON schema" in p for p in check_dialogue(plain, bad_schema))
    assert any("defined twice" in p for p in check_dialogue(GOOD, [*FUNCTIONS, FUNCTIONS[0]]))
    assert check_dialogue("not json", FUNCTIONS)[0].startswith("conversation is not valid JSON")


def test_function_form_becomes_valid_tool_specs():
    form = {
        "functions": [
            {
                "name": "Get Weather!",
                "description": "d",
                "parameters": [
                    {"name": "City Name", "type": "string", "description": "", "required": True},
                    {"name": "city name", "type": "integer", "description": "", "required": False},
                ],
            },
            {
                "name": "get weather",
                "description": "d",
                "parameters": [{"name": "9", "type": "boolean", "description": "", "required": False}],
            },
        ]
    }
    specs = to_tool_specs(form)
    assert [s["name"] for s in specs] == ["get_weather", "get_weather_2"]
    assert list(specs[0]["parameters"]["properties"]) == ["city_name", "city_name_2"]
    assert specs[0]["parameters"]["required"] == ["city_name"]
    assert list(specs[1]["parameters"]["properties"]) == ["arg1_9"]
    msgs = [
        {"role": "user", "content": "x"},
        {"role": "assistant", "tool_calls": [call("a", "get_weather", {"city_name": "Paris"})]},
        {"role": "tool", "tool_call_id": "a", "content": "sunny"},
        {"role": "assistant", "content": "Sunny."},
    ]
    assert check_dialogue(msgs, specs) == []


def test_filter_step_keeps_good_rejects_bad_and_its_blocking_check_fails(tmp_path: Path):
    bad_cases = ["unknown function", "missing required argument", "unanswered call"]
    rows = [{"conversations": json.dumps(GOOD), "functions": json.dumps(FUNCTIONS), "n": 0}]
    rows += [
        {"conversations": json.dumps(broken(BAD[c][0])), "functions": json.dumps(FUNCTIONS), "n": i}
        for i, c in enumerate(bad_cases, 1)
    ]
    op = ToolCallCheckFilter()
    out = run_steps(tmp_path, rows, [op])["s0"]
    assert [r["n"] for r in out["table"]] == [0]
    reasons = {r["n"]: r["_reason"] for r in out["rejected"]}
    assert sorted(reasons) == [1, 2, 3]
    for n, case in enumerate(bad_cases, 1):
        assert reasons[n].startswith("ToolCallCheckFilter: ") and BAD[case][1] in reasons[n]
    spec = op.checks()[0]
    assert spec.blocking and spec.threshold == 0.0


def test_blocking_check_metric_over_published_parts(tmp_path: Path):
    from dataflow_dagster.core.pipeline import Pipeline, Source, Step
    from dataflow_dagster.core.runner import run_source, run_step
    from dataflow_dagster.core.storage import Storage

    rows = [
        {"conversations": json.dumps(GOOD), "functions": json.dumps(FUNCTIONS)},
        {"conversations": json.dumps(broken(BAD["unknown function"][0])), "functions": json.dumps(FUNCTIONS)},
    ]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    op = ToolCallCheckFilter()
    pipe = Pipeline("t", Source(str(src)), [Step("check", op)])
    storage = Storage(tmp_path / ".df")
    run_source(storage, pipe)
    res = run_step(storage, pipe, "check")
    spec = op.checks()[0]
    value = check_metric(spec, res.refs)
    assert value == pytest.approx(0.5) and not spec.passes(value)
    lenient = ToolCallCheckFilter(max_invalid_share=0.5).checks()[0]
    assert lenient.passes(value)


def test_conversation_steps_accept_dataflow_keywords():
    from operators.conversations.tasks import AtomTaskGenerator, ScenarioExtractGenerator, SequentialTaskGenerator
    from operators.core.contract import OperatorError

    assert ScenarioExtractGenerator(input_chat_key="chat").input_columns() == ["chat"]
    assert AtomTaskGenerator(input_scenario_key="s").input_columns() == ["s"]
    assert SequentialTaskGenerator(input_task_key="t").config.input_key == "t"
    with pytest.raises(OperatorError, match="input_chatt_key"):
        ScenarioExtractGenerator(input_chatt_key="chat")
