"""MultiTurnConversationGenerator: tool-use dialogues played by three roles of one model.

After DataFlow's operator of that name: a user agent states the composed task, an assistant agent
either calls one of the row's functions or answers, a tool agent plays the function and returns a
result, for up to ``max_turns`` assistant turns; dialogues that never reach a final answer are dropped
(here: recorded in ``__errors``). DataFlow's assistant writes ``<func_call>...</func_call>`` text that
nothing validates. Here each assistant turn is constrained by a JSON schema built from that row's own
functions (``anyOf`` one branch per function, whose ``arguments`` are the function's ``parameters``
schema, plus a ``final`` branch), so a model with structured output can only produce calls that name
a real function with arguments of the right shape; the first turn must call a function and the last
must answer. The result is stored in the OpenAI chat format (``tool_calls`` / ``tool`` messages), which
``ToolCallCheckFilter`` then verifies independently of how it was made.
"""

import json
from typing import Any, ClassVar

from pydantic import Field

from operators.conversations.base import Answer, MultiRoundOperator, ask_json
from operators.conversations.checker import check_functions
from operators.conversations.tasks import sub_task_text
from operators.core.contract import Kind
from operators.core.llm import LLMClient, LLMRequest
from operators.core.llm_ops import LLMConfig, LLMOperator
from operators.core.prompt import PromptTemplate
from operators.core.registry import register

USER_PROMPT = PromptTemplate(
    name="func_call_user_turn",
    system="You play a user talking to an assistant. Reply in JSON.",
    template="Your goal: {task}\n\nWrite the first message you send to the assistant to get this done.",
    output_schema={
        "type": "object",
        "properties": {"message": {"type": "string", "minLength": 4, "maxLength": 160}},
        "required": ["message"],
    },
)
ASSISTANT_PROMPT = PromptTemplate(
    name="func_call_assistant_turn",
    system="You are an assistant that completes tasks by calling functions. Reply in JSON.",
    template=(
        "Functions you can call:\n{functions}\n\nSub-tasks to complete:\n{sub_tasks}\n\nDialogue so far:\n"
        "{dialogue}\n\nEither call the next function needed (action 'call', its name and arguments) or, "
        "when the results are enough, give the final answer to the user (action 'final')."
    ),
)
TOOL_PROMPT = PromptTemplate(
    name="func_call_tool_turn",
    system="You simulate a software function and return its result. Reply in JSON.",
    template=(
        "Function: {name}: {description}\nCalled with arguments: {arguments}\n\n"
        "Return a short, realistic result of this call."
    ),
    output_schema={
        "type": "object",
        "properties": {"result": {"type": "string", "minLength": 1, "maxLength": 100}},
        "required": ["result"],
    },
)
_STR_MAX = 40  # generation-time bound for string arguments: the stored schema stays as defined


def _bounded(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of a parameters schema with maxLength on its string properties (a small model loops without)."""
    props = {
        k: ({**v, "maxLength": min(int(v.get("maxLength", _STR_MAX)), _STR_MAX)} if v.get("type") == "string" else v)
        for k, v in schema.get("properties", {}).items()
    }
    return {**schema, "properties": props, "additionalProperties": False}


def turn_schema(funcs: dict[str, dict[str, Any]], allow_call: bool, allow_final: bool) -> dict[str, Any]:
    branches = []
    if allow_call:
        for name, params in funcs.items():
            branches.append(
                {
                    "type": "object",
                    "properties": {"action": {"const": "call"}, "name": {"const": name}, "arguments": _bounded(params)},
                    "required": ["action", "name", "arguments"],
                }
            )
    if allow_final:
        branches.append(
            {
                "type": "object",
                "properties": {
                    "action": {"const": "final"},
                    "answer": {"type": "string", "minLength": 4, "maxLength": 200},
                },
                "required": ["action", "answer"],
            }
        )
    return branches[0] if len(branches) == 1 else {"anyOf": branches}


def transcript(messages: list[dict[str, Any]]) -> str:
    lines = []
    for m in messages:
        if m["role"] == "assistant" and m.get("tool_calls"):
            f = m["tool_calls"][0]["function"]
            lines.append(f"assistant called {f['name']}({f['arguments']})")
        elif m["role"] == "tool":
            lines.append(f"{m['name']} returned: {m['content']}")
        else:
            lines.append(f"{m['role']}: {m['content']}")
    return "\n".join(lines)


class MultiTurnConfig(LLMConfig):
    input_task_key: str = "composition_task"
    input_sub_tasks_keys: list[str] = Field(default_factory=lambda: ["atom_task", "subsequent_task"], min_length=1)
    input_functions_key: str = "functions"
    output_conversations_key: str = "conversations"
    max_turns: int = Field(3, ge=2, le=10)  # assistant turns; DataFlow stops after 5 rounds
    max_tokens: int = 200


@register
class MultiTurnConversationGenerator(MultiRoundOperator):
    """Simulates user / assistant / tool dialogues in which the assistant calls the row's functions
    (schema-constrained calls) and ends with an answer; stored as OpenAI chat messages (JSON text)."""

    kind: ClassVar[Kind] = Kind.GENERATE
    Config = MultiTurnConfig
    default_prompt = ASSISTANT_PROMPT
    domain = "conversations"
    tags = ("llm", "function_calling", "dialogue", "multi_turn", "tools")

    def input_columns(self) -> list[str]:
        c = self.config
        return [c.input_task_key, *c.input_sub_tasks_keys, c.input_functions_key]

    def output_columns(self) -> list[str]:
        return [self.config.output_conversations_key]

    def answer_batch(self, rows: list[dict[str, Any]], llm: LLMClient) -> list[Answer]:
        c = self.config
        results: list[Answer | None] = [None] * len(rows)
        state: dict[int, dict[str, Any]] = {}
        for i, row in enumerate(rows):
            funcs, problems = check_functions(row.get(c.input_functions_key))
            if problems or not funcs:
                results[i] = Answer(None, "functions unusable: " + "; ".join(problems or ["none defined"]))
            else:
                state[i] = {"funcs": funcs, "specs": json.loads(row[c.input_functions_key]), "messages": []}
        users = ask_json(llm, [self.request(USER_PROMPT, {"task": rows[i][c.input_task_key]}) for i in state])
        for i, ans in zip(list(state), users, strict=True):
            if ans.value is None:
                results[i] = Answer(None, f"user turn: {ans.error}", ans.raw)
                del state[i]
            else:
                state[i]["messages"].append({"role": "user", "content": ans.value["message"]})
        for turn in range(c.max_turns):
            active = list(state)
            if not active:
                break
            reqs = [self._assistant_request(rows[i], state[i], turn) for i in active]
            calls: list[tuple[int, dict[str, Any]]] = []
            for i, ans in zip(active, ask_json(llm, reqs), strict=True):
                if ans.value is None:
                    results[i] = Answer(None, f"assistant turn {turn + 1}: {ans.error}", ans.raw)
                    del state[i]
                elif ans.value["action"] == "final":
                    state[i]["messages"].append({"role": "assistant", "content": ans.value["answer"]})
                    conv = state.pop(i)["messages"]
                    results[i] = Answer({c.output_conversations_key: conv})
                else:
                    call = {
                        "id": f"call_{turn + 1}",
                        "type": "function",
                        "function": {"name": ans.value["name"], "arguments": json.dumps(ans.value["arguments"])},
                    }
                    state[i]["messages"].append({"role": "assistant", "content": None, "tool_calls": [call]})
                    calls.append((i, call))
            tool_reqs = [self._tool_request(state[i], call) for i, call in calls]
            for (i, call), ans in zip(calls, ask_json(llm, tool_reqs), strict=True):
                if ans.value is None:
                    results[i] = Answer(None, f"tool turn {turn + 1}: {ans.error}", ans.raw)
                    del state[i]
                    continue
                msg = {"role": "tool", "tool_call_id": call["id"], "name": call["function"]["name"]}
                state[i]["messages"].append({**msg, "content": ans.value["result"]})
        for i in state:  # unreachable while the last turn only allows 'final', kept as a guard
            results[i] = Answer(None, f"no final answer within {c.max_turns} assistant turns")
        return [r if r is not None else Answer(None, "not processed") for r in results]

    def _assistant_request(self, row: dict[str, Any], st: dict[str, Any], turn: int) -> LLMRequest:
        c = self.config
        first, last = turn == 0, turn == c.max_turns - 1
        schema = turn_schema(st["funcs"], allow_call=not last, allow_final=not first)
        values = {
            "functions": json.dumps(st["specs"], ensure_ascii=False),
            "sub_tasks": sub_task_text(row, c.input_sub_tasks_keys),
            "dialogue": transcript(st["messages"]),
        }
        return self.request(self.prompt, values, schema)

    def _tool_request(self, st: dict[str, Any], call: dict[str, Any]) -> LLMRequest:
        spec = next(s for s in st["specs"] if s["name"] == call["function"]["name"])
        values = {
            "name": spec["name"],
            "description": spec.get("description", ""),
            "arguments": call["function"]["arguments"],
        }
        return self.request(TOOL_PROMPT, values)


EVAL_PROMPT = PromptTemplate(
    name="func_call_conversation_eval",
    system="You strictly evaluate function-calling dialogues. Reply in JSON.",
    template=(
        "Conversation:\n{conversation}\n\nScore the correctness and logical flow of the tool use from 1 to 5: "
        "5 correct calls in a logical order with reasonable arguments, 3 noticeable problems, 1 incoherent."
    ),
    output_schema={
        "type": "object",
        "properties": {
            "score": {"type": "integer", "enum": [1, 2, 3, 4, 5]},
            "explanation": {"type": "string", "maxLength": 60},
        },
        "required": ["score", "explanation"],
    },
)


class ConversationEvalConfig(LLMConfig):
    input_conversation_key: str = "conversations"
    output_score_key: str = "score"
    max_tokens: int = 80


@register
class FuncCallConversationSampleEvaluator(LLMOperator):
    """LLM judge: scores each function-calling dialogue 1-5 for correct, logical tool use (DataFlow's
    semantics; a failed judgement is NULL plus an ``__errors`` row, not DataFlow's 0). For a hard,
    rule-based verdict on schemas and turn order use ToolCallCheckFilter."""

    kind: ClassVar[Kind] = Kind.EVALUATE
    Config = ConversationEvalConfig
    default_prompt = EVAL_PROMPT
    domain = "conversations"
    tags = ("llm", "function_calling", "judge", "score")

    def input_columns(self) -> list[str]:
        return [self.config.input_conversation_key]

    def outputs(self) -> dict[str, str]:
        return {"score": self.config.output_score_key}

    def prompt_values(self, row: dict[str, Any], prompt: PromptTemplate) -> dict[str, Any]:
        return {f: row.get(self.config.input_conversation_key) for f in prompt.fields()}
