"""Keeps JSON schemas the embedded llama.cpp cannot compile away from it.

llama-cpp-python turns a schema into a GBNF grammar in which a string of ``minLength`` m and
``maxLength`` M becomes m required characters followed by M - m *nested* optional groups
(``(char (char (...)?)?)?``). llama.cpp's grammar parser refuses a rule nested deeper than it allows
("number of rules that are going to be repeated multiplied by the new repetition exceeds sane
defaults"), and llama-cpp-python 0.3.36 then dereferences the missing grammar: the process dies with
SIGSEGV, taking every row of the step (and the Dagster step process) with it.

Measured in subprocesses on llama-cpp-python 0.3.36 (SmolLM2 GGUF, tests/test_grammar_limits.py
keeps the boundary checked): 1000 nested groups compile, 1001 crash, for any ``minLength``; each
property is its own rule, so the limit holds per string, not per schema. So before a schema reaches
the model it is measured on the grammar llama-cpp-python itself generates, and a schema that is too
deep is degraded with a warning: every string bound is shortened to ``minLength + 1000`` (array
``maxItems`` likewise), and if the grammar is still too deep, the bounds are dropped (``max_tokens``
then bounds the answer). Answers are validated against the original schema by the operators either
way, so degrading never lets a wrong answer through; it only makes a too-long answer a row error
instead of a crash.
"""

import copy
import functools
import json
import logging
from typing import Any

MAX_NESTED_GROUPS = 1000  # measured: 1000 compiles, 1001 segfaults (llama-cpp-python 0.3.36)

_log = logging.getLogger("dataflow.llm")


def grammar_depth(gbnf: str) -> int:
    """Deepest parenthesis nesting of any rule in a GBNF grammar (quoted literals and classes skipped)."""
    depth = deepest = 0
    i, n = 0, len(gbnf)
    while i < n:
        ch = gbnf[i]
        if ch in '"[':
            close = '"' if ch == '"' else "]"
            i += 1
            while i < n and gbnf[i] != close:
                i += 2 if gbnf[i] == "\\" else 1
        elif ch == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif ch == ")":
            depth -= 1
        elif ch == "\n":
            depth = 0
        i += 1
    return deepest


def _gbnf(schema: dict[str, Any]) -> str:
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    return json_schema_to_gbnf(json.dumps(schema))


def _rebound(node: Any, cap: int | None) -> Any:
    """``node`` with every string length / array item range at most ``cap`` wide (None: unbounded)."""
    if isinstance(node, list):
        return [_rebound(x, cap) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _rebound(v, cap) for k, v in node.items()}
    for lo_key, hi_key in (("minLength", "maxLength"), ("minItems", "maxItems")):
        if hi_key not in out:
            continue
        if cap is None:
            del out[hi_key]
        else:
            out[hi_key] = min(int(out[hi_key]), int(out.get(lo_key, 0)) + cap)
    return out


@functools.lru_cache(maxsize=256)
def _fit(schema_text: str) -> tuple[str, str | None]:
    schema = json.loads(schema_text)
    try:
        depth = grammar_depth(_gbnf(schema))
    except Exception:  # the converter refuses it: llama.cpp would too; leave it to the caller's error path
        return schema_text, None
    if depth <= MAX_NESTED_GROUPS:
        return schema_text, None
    shorter = _rebound(copy.deepcopy(schema), MAX_NESTED_GROUPS)
    if grammar_depth(_gbnf(shorter)) <= MAX_NESTED_GROUPS:
        how = f"maxLength/maxItems shortened to at most minLength/minItems + {MAX_NESTED_GROUPS}"
        fitted = shorter
    else:
        how = "length bounds dropped (max_tokens bounds the answer)"
        fitted = _rebound(copy.deepcopy(schema), None)
    note = (
        f"the JSON schema's grammar nests {depth} levels deep, more than llama.cpp compiles "
        f"({MAX_NESTED_GROUPS}; deeper crashes the process): {how}; answers are still validated against "
        "the original schema"
    )
    return json.dumps(fitted, sort_keys=True), note


def fit_schema(schema: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The schema to give llama.cpp and, when it had to be degraded, a warning saying how."""
    text, note = _fit(json.dumps(schema, sort_keys=True))
    if note is None:
        return schema, None
    return json.loads(text), note


def warn_once(note: str) -> None:
    _warned(note)


@functools.lru_cache(maxsize=64)
def _warned(note: str) -> None:
    _log.warning(note)
