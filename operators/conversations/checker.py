"""The tool-call checker: is a function-calling dialogue usable as training data?

A dialogue (OpenAI chat format: ``user`` / ``assistant`` with ``tool_calls`` / ``tool`` messages) and
its functions (``{"name", "description", "parameters": JSON schema}``) pass when
  * every function's ``parameters`` is a valid JSON schema of an object, and names are unique;
  * the dialogue opens with the user (after optional system messages) and ends with an assistant
    answer in text, with no tool call left unanswered;
  * every tool call names a defined function, has a unique id, and its ``arguments`` (a JSON object,
    or a string holding one) validate against that function's ``parameters`` schema (``jsonschema``,
    the schema's own draft);
  * every tool message answers a call made earlier in the same assistant turn (matching
    ``tool_call_id``, and ``name`` if given), once;
  * and, unless disabled, the dialogue makes at least one tool call.

``ToolCallCheckFilter`` applies this to every row. Validation is per dialogue in Python (``jsonschema``
has no columnar form); rows stream in Arrow batches, verdicts go to a DuckDB table and the split into
kept/rejected is SQL. Its blocking check fails the step when more than ``max_invalid_share`` of the
dialogues are invalid, so a generator that starts producing broken calls stops the pipeline.
"""

import json
from typing import Any, ClassVar

import jsonschema
from jsonschema.validators import validator_for
from pydantic import Field

from operators.core.batches import insert_rows
from operators.core.contract import CheckSpec, Kind, OpConfig, Operator, OperatorContext, quote_ident
from operators.core.judge_filter import assemble_keep
from operators.core.registry import register
from operators.core.rowids import ID


def _load(value: Any, what: str) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{what} is not valid JSON ({exc.msg} at char {exc.pos})") from None
    return value


def check_functions(functions: Any) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Function name -> parameters schema, and problems with the definitions themselves."""
    problems: list[str] = []
    try:
        funcs = _load(functions, "functions")
    except ValueError as exc:
        return {}, [str(exc)]
    if not isinstance(funcs, list) or not funcs:
        return {}, ["functions must be a non-empty JSON list"]
    table: dict[str, dict[str, Any]] = {}
    for i, fn in enumerate(funcs):
        fn = fn.get("function", fn) if isinstance(fn, dict) and fn.get("type") == "function" else fn
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
            problems.append(f"function {i}: needs a non-empty string 'name'")
            continue
        name, params = fn["name"], fn.get("parameters", {"type": "object", "properties": {}})
        if name in table:
            problems.append(f"function '{name}' is defined twice")
        try:
            validator_for(params).check_schema(params)
        except jsonschema.SchemaError as exc:
            problems.append(f"function '{name}': parameters are not a valid JSON schema ({exc.message})")
            continue
        if not isinstance(params, dict) or params.get("type") != "object":
            problems.append(f"function '{name}': parameters must be a JSON schema of type 'object'")
            continue
        table[name] = params
    return table, problems


def _check_call(call: Any, where: str, funcs: dict[str, dict[str, Any]], ids: set[str]) -> tuple[str | None, list[str]]:
    """Problems with one tool call; returns its id (None when it has none) too."""
    if not isinstance(call, dict) or not isinstance(call.get("function"), dict):
        return None, [f"{where}: a tool call must be an object with a 'function' object"]
    problems: list[str] = []
    cid = call.get("id")
    if not isinstance(cid, str) or not cid:
        problems.append(f"{where}: tool call without an 'id'")
        cid = None
    elif cid in ids:
        problems.append(f"{where}: tool call id '{cid}' is used twice")
    if call.get("type", "function") != "function":
        problems.append(f"{where}: tool call type must be 'function'")
    name = call["function"].get("name")
    if name not in funcs:
        return cid, [*problems, f"{where}: calls '{name}', which is not one of the functions {sorted(funcs)}"]
    try:
        args = _load(call["function"].get("arguments", {}), f"arguments of '{name}'")
    except ValueError as exc:
        return cid, [*problems, f"{where}: {exc}"]
    if not isinstance(args, dict):
        return cid, [*problems, f"{where}: arguments of '{name}' must be a JSON object"]
    schema = funcs[name]
    errors = sorted(validator_for(schema)(schema).iter_errors(args), key=lambda e: list(e.path))
    problems += [f"{where}: arguments of '{name}' fail its schema: {e.message}" for e in errors[:3]]
    return cid, problems


def check_dialogue(messages: Any, functions: Any, require_tool_call: bool = True) -> list[str]:
    """Every problem found (empty list: the dialogue passes)."""
    funcs, problems = check_functions(functions)
    try:
        msgs = _load(messages, "conversation")
    except ValueError as exc:
        return [*problems, str(exc)]
    if not isinstance(msgs, list) or not msgs or not all(isinstance(m, dict) for m in msgs):
        return [*problems, "conversation must be a non-empty JSON list of message objects"]
    ids: set[str] = set()
    pending: dict[str, str] = {}  # call id -> function name, calls not answered yet
    calls = 0
    body = [(i, m) for i, m in enumerate(msgs) if not (m.get("role") == "system" and i == 0)]
    if not body or body[0][1].get("role") != "user":
        problems.append("the dialogue must open with a user message")
    for i, m in body:
        role, where = m.get("role"), f"message {i}"
        if role not in ("user", "assistant", "tool"):
            problems.append(f"{where}: unknown role {role!r}")
            continue
        if role != "tool" and pending:
            problems.append(f"{where}: tool calls {sorted(pending)} were never answered by a tool message")
            pending.clear()
        if role == "user" and not (isinstance(m.get("content"), str) and m["content"].strip()):
            problems.append(f"{where}: empty user message")
        elif role == "assistant":
            tool_calls = m.get("tool_calls") or []
            if not isinstance(tool_calls, list):
                problems.append(f"{where}: tool_calls must be a list")
                continue
            if not tool_calls and not (isinstance(m.get("content"), str) and m["content"].strip()):
                problems.append(f"{where}: assistant message with neither text nor tool calls")
            for j, call in enumerate(tool_calls):
                cid, found = _check_call(call, f"{where} call {j}", funcs, ids)
                problems += found
                calls += 1
                if cid is not None:
                    ids.add(cid)
                    pending[cid] = (call.get("function") or {}).get("name", "")
        elif role == "tool":
            cid = m.get("tool_call_id")
            if cid not in pending:
                problems.append(f"{where}: tool message answers call id {cid!r}, which is not an open tool call")
                continue
            name = pending.pop(cid)
            if m.get("name") not in (None, name):
                problems.append(f"{where}: tool message names '{m.get('name')}' but call {cid!r} was to '{name}'")
    if pending:
        problems.append(f"tool calls {sorted(pending)} were never answered by a tool message")
    last = msgs[-1]
    if not (last.get("role") == "assistant" and isinstance(last.get("content"), str) and last["content"].strip()):
        problems.append("the dialogue must end with an assistant answer in text")
    if require_tool_call and calls == 0:
        problems.append("the dialogue makes no tool call")
    return problems


class ToolCallCheckConfig(OpConfig):
    input_conversation_key: str = "conversations"
    input_functions_key: str = "functions"
    require_tool_call: bool = True
    max_invalid_share: float = Field(0.0, ge=0, le=1)  # blocking check: rejected / all rows


@register
class ToolCallCheckFilter(Operator):
    """Keeps function-calling dialogues whose every tool call validates against its function's JSON
    schema and whose turns are consistent; rejected rows say every problem found."""

    kind: ClassVar[Kind] = Kind.FILTER
    Config = ToolCallCheckConfig
    domain = "conversations"
    tags = ("function_calling", "tools", "json_schema", "check", "rule")
    row_local: ClassVar[bool] = True

    def input_columns(self) -> list[str]:
        return [self.config.input_conversation_key, self.config.input_functions_key]

    def output_columns(self) -> list[str]:
        return []

    def checks(self) -> list[CheckSpec]:
        return [
            CheckSpec(
                name="invalid_dialogue_share",
                metric_sql="coalesce((SELECT count(*) FROM rejected)::DOUBLE / "
                "nullif(count(*) + (SELECT count(*) FROM rejected), 0), 0.0)",
                op="<=",
                threshold=self.config.max_invalid_share,
                description="share of dialogues the tool-call checker rejected (see the step's __rejected table)",
                parts=("rejected",),
            )
        ]

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        c = self.config
        verdicts = f"{ctx.target}__verdicts"
        ctx.con.execute(f"CREATE TABLE {quote_ident(verdicts)} ({ID} VARCHAR, problems VARCHAR)")
        conv, funcs = quote_ident(c.input_conversation_key), quote_ident(c.input_functions_key)
        reader = ctx.con.cursor().sql(f"SELECT {ID}, {conv}, {funcs} FROM {quote_ident(ctx.source or '')}")
        for batch in reader.to_arrow_reader(ctx.batch_size * 16):
            ids = batch.column(0).to_pylist()
            found = [
                check_dialogue(m, f, c.require_tool_call)
                for m, f in zip(batch.column(1).to_pylist(), batch.column(2).to_pylist(), strict=True)
            ]
            insert_rows(ctx, verdicts, {ID: ids, "problems": ["; ".join(p) if p else None for p in found]})
        assemble_keep(ctx, self.name, "o.problems IS NULL", {}, "o.problems", answers=verdicts)
        rejected = ctx.count(ctx.rejected)
        return {"invalid_dialogues": rejected}
