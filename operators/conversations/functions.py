"""FunctionGenerator: the functions (tools) a composed task needs, each with a JSON-schema signature.

After DataFlow's FunctionGenerator, which asks for free-text function definitions. Free text from a
small model is rarely a valid JSON schema, so here the model fills a bounded form (name, description,
up to ``max_params`` typed parameters) and the code turns it into the OpenAI tool format
(``{"name", "description", "parameters": {"type": "object", "properties", "required"}}``), with
names made into identifiers and duplicates renamed. The stored ``functions`` column is therefore a
valid JSON-schema signature list by construction, and the dialogue generator and the tool-call
checker can rely on it.
"""

import json
import re
from typing import Any, ClassVar

from operators.conversations.tasks import SubTasksConfig, SubTasksOperator
from operators.core.contract import Kind
from operators.core.llm import LLMResponse
from operators.core.prompt import PromptTemplate
from operators.core.registry import register

PARAM_TYPES = ("string", "integer", "number", "boolean")


def function_form_schema(max_functions: int, max_params: int) -> dict[str, Any]:
    param = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 30},
            "type": {"type": "string", "enum": list(PARAM_TYPES)},
            "description": {"type": "string", "maxLength": 40},
            "required": {"type": "boolean"},
        },
        "required": ["name", "type", "description", "required"],
    }
    function = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 3, "maxLength": 40},
            "description": {"type": "string", "minLength": 4, "maxLength": 80},
            "parameters": {"type": "array", "minItems": 1, "maxItems": max_params, "items": param},
        },
        "required": ["name", "description", "parameters"],
    }
    return {
        "type": "object",
        "properties": {"functions": {"type": "array", "minItems": 1, "maxItems": max_functions, "items": function}},
        "required": ["functions"],
    }


FUNCTIONS_PROMPT = PromptTemplate(
    name="func_call_functions",
    system="You design software functions (tools) an assistant can call. Reply in JSON.",
    template=(
        "Composed task: {task}\nSub-tasks:\n{sub_tasks}\n\nDefine one function per sub-task that an assistant "
        "could call to complete it: a snake_case name, what it does, and its typed parameters."
    ),
    output_schema=function_form_schema(3, 3),
)


def identifier(text: str, fallback: str) -> str:
    """snake_case identifier from free text (what tool-call APIs accept as a function/parameter name)."""
    name = re.sub(r"[^0-9a-zA-Z]+", "_", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)).strip("_").lower()
    if not name or name[0].isdigit():
        name = f"{fallback}_{name}".rstrip("_")
    return name[:64]


def _unique(name: str, seen: set[str]) -> str:
    out, i = name, 2
    while out in seen:
        out, i = f"{name}_{i}", i + 1
    seen.add(out)
    return out


def to_tool_specs(form: dict[str, Any]) -> list[dict[str, Any]]:
    """The model's filled form -> OpenAI-style function specs with JSON-schema ``parameters``."""
    specs, names = [], set()
    for i, fn in enumerate(form.get("functions", []), 1):
        props: dict[str, Any] = {}
        required: list[str] = []
        seen: set[str] = set()
        for j, p in enumerate(fn.get("parameters", []), 1):
            pname = _unique(identifier(p["name"], f"arg{j}"), seen)
            props[pname] = {"type": p["type"], "description": p.get("description", "")}
            if p.get("required"):
                required.append(pname)
        specs.append(
            {
                "name": _unique(identifier(fn["name"], f"function{i}"), names),
                "description": fn.get("description", ""),
                "parameters": {
                    "type": "object",
                    "properties": props,
                    "required": required,
                    "additionalProperties": False,
                },
            }
        )
    return specs


class FunctionConfig(SubTasksConfig):
    output_key: str = "functions"
    max_tokens: int = 480


@register
class FunctionGenerator(SubTasksOperator):
    """Defines the functions a composed task needs (one per sub-task) as OpenAI tool specs (JSON text).

    At most 3 functions of at most 3 parameters each (the prompt's schema; edit the prompt resource's
    schema for more): a bound is what keeps a small model from looping."""

    kind: ClassVar[Kind] = Kind.GENERATE
    Config = FunctionConfig
    default_prompt = FUNCTIONS_PROMPT
    domain = "conversations"
    tags = ("llm", "function_calling", "tools", "json_schema")

    def outputs(self) -> dict[str, str]:
        return {"functions": self.config.output_key}

    def parse(self, resp: LLMResponse, schema: dict[str, Any] | None) -> dict[str, Any]:
        values = super().parse(resp, schema)
        form = {"functions": values[self.config.output_key]}
        return {self.config.output_key: json.dumps(to_tool_specs(form), ensure_ascii=False)}
