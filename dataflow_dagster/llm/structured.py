"""Structured output: ask the server for JSON, check what comes back, ask again (boundedly) if wrong.

``json_schema`` (OpenAI, vLLM) constrains decoding to the schema. Servers that refuse it (llama.cpp's
server, older gateways) get ``json_object`` with the schema attached, which constrains to JSON but
not always to the schema, so every answer is validated here and an invalid one is sent back once or
twice with the validator's complaint. The caller caps the re-asks: each one is a paid call.
"""

import functools
import json
from typing import Any, Literal

import jsonschema

StructuredMode = Literal["auto", "json_schema", "json_object", "none"]

# What servers say when they do not take ``json_schema``: vLLM/OpenAI answer 400/422 naming
# response_format; llama-cpp-python's server (0.3.x) answers 500 with a pydantic error "Input should
# be 'text' or 'json_object'".
_SCHEMA_REFUSAL_HINTS = ("response_format", "json_schema", "json_object", "not supported", "unsupported")


def response_format(mode: str, schema: dict[str, Any] | None) -> dict[str, Any] | None:
    if schema is None or mode == "none":
        return None
    if mode == "json_object":
        return {"type": "json_object", "schema": schema}
    return {"type": "json_schema", "json_schema": {"name": "output", "schema": schema, "strict": True}}


def looks_like_schema_refusal(status: int | None, message: str) -> bool:
    """A 400/422/500 complaining about response_format: the endpoint does not do json_schema."""
    text = message.lower()
    return status in (400, 422, 500) and any(h in text for h in _SCHEMA_REFUSAL_HINTS)


@functools.lru_cache(maxsize=64)
def _validator(schema_text: str) -> Any:
    """Compiled once per schema: ``jsonschema.validate`` re-checks the schema on every call (~ms)."""
    schema = json.loads(schema_text)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def schema_problem(text: str | None, schema_text: str) -> str | None:
    """Why ``text`` is not a valid answer for the schema (canonical JSON text); None when it is."""
    try:
        obj = json.loads(text or "")
    except json.JSONDecodeError as exc:
        return f"not JSON ({exc.msg} at char {exc.pos})"
    error = jsonschema.exceptions.best_match(_validator(schema_text).iter_errors(obj))
    if error is not None:
        return f"fails the schema: {error.message[:200]}"
    return None


def reask_messages(
    messages: list[dict[str, str]], answer: str | None, problem: str, schema: dict[str, Any]
) -> list[dict[str, str]]:
    """The conversation extended with the bad answer and the validator's complaint."""
    return [
        *messages,
        {"role": "assistant", "content": answer or ""},
        {
            "role": "user",
            "content": (
                f"That answer is {problem}. Reply again with only a JSON object that matches this schema, "
                f"nothing else:\n{json.dumps(schema, sort_keys=True)}"
            ),
        },
    ]
