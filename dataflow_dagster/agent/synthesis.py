"""Synthesised steps: a ``Prompted*`` operator written from the request's own clause when no registered
operator fits it.

The clause becomes the instruction of a deterministic template (the embedded model cannot be trusted
to write prompts; a capable model's decomposition may name registered operators instead), with an
output schema the operator already enforces: free text for a generator, an integer score in [1, 5]
for an evaluator, a score plus a keep range for a filter, the rewritten text for a refiner. The
step is named ``synthesised_<kind>`` so the YAML, ``plan`` and the Dagster asset names all show it,
and the builder validates it like every other step (dry run, Dagster load).
"""

import json
import re
from typing import TYPE_CHECKING, Any

from dataflow_dagster.agent.decompose import Clause

if TYPE_CHECKING:
    from operators.core.llm import LLMClient

_LEAD = re.compile(
    r"^(?:please\s+)?(?:only\s+)?(?:keep|retain|remove|drop|discard|exclude|filter(?: out)?|delete|eliminate)\s+"
    r"(?:only\s+)?(?:the\s+)?(?:\w+\s+)?(?:that|which|who|whose|where|with)\s+",
    re.I,
)


def _column(word: str) -> str:
    return re.sub(r"\W+", "_", word.lower()).strip("_") or "output"


def synthesise(clause: Clause, unknown: list[str]) -> tuple[str, dict[str, Any], list[str]] | None:
    """(registered Prompted* class name, its config, ``unknown``) for ``clause``, or None when nothing calls for one.

    ``unknown`` are the clause's specific words that no registered operator's description contains:
    without one, the clause is generic ("filter the data") and the planner's defaults serve it.
    """
    if not unknown or clause.slot not in ("generate", "evaluate", "refine", "filter"):
        return None
    instruction = clause.text.strip().rstrip(".")
    name = _column(unknown[0])
    if clause.slot == "generate":
        return (
            "PromptedGenerator",
            {
                "user_prompt": f"{instruction[0].upper()}{instruction[1:]} for the text below. Reply with it only.\n\n",
                "output_key": name,
            },
            unknown,
        )
    if clause.slot == "evaluate":
        return (
            "PromptedEvaluator",
            {
                "user_prompt": f"Task: {instruction}. Rate the text below from 1 (not at all) to 5 (fully).\n\n",
                "output_key": f"{name}_score",
            },
            unknown,
        )
    if clause.slot == "refine":
        return (
            "PromptedRefiner",
            {"user_prompt": f"{instruction[0].upper()}{instruction[1:]}. Reply with the rewritten text only.\n\n"},
            unknown,
        )
    criterion = _LEAD.sub("", instruction)
    keep = {"min_score": 4, "max_score": 5} if clause.polarity == "keep" else {"min_score": 1, "max_score": 2}
    return (
        "PromptedFilter",
        {
            "user_prompt": f"Does the text below match: {criterion}? Rate from 1 (not at all) to 5 (fully).\n\n",
            "output_key": f"{name}_match",
            **keep,
        },
        unknown,
    )


_PROMPT_SCHEMA = {
    "type": "object",
    "required": ["instruction"],
    "properties": {"instruction": {"type": "string", "minLength": 12, "maxLength": 500}},
}
_WHAT = {
    "PromptedGenerator": "write what the task asks for, from the text",
    "PromptedEvaluator": "rate the text for the task from 1 (not at all) to 5 (fully)",
    "PromptedFilter": "rate from 1 (not at all) to 5 (fully) how well the text matches the criterion",
    "PromptedRefiner": "rewrite the text as the task asks, replying with the rewritten text only",
}


def model_prompt(llm: "LLMClient", op: str, clause: Clause, fallback: str) -> tuple[str, str]:
    """The instruction a capable model writes for a synthesised step, or ``fallback`` with the reason.

    The model writes the instruction only; the output schema stays the operator's (a 1-5 score for a
    judge or filter, text for a generator or refiner), because the keep range and any gate downstream
    were compiled against it. The instruction must not carry template braces, which the operator
    would read as row fields."""
    from operators.core.llm import LLMRequest, SamplingParams

    req = LLMRequest.chat(
        f"Task from a data-preparation request: {clause.text}\nWrite the instruction a language model "
        f"receives before each row's text, so that it will {_WHAT.get(op, 'do the task')}. One or two sentences.",
        "You write prompts for data-preparation steps. Reply in JSON.",
        SamplingParams(temperature=0.0, max_tokens=160, seed=0),
        _PROMPT_SCHEMA,
    )
    resp = llm.generate([req])[0]
    if not resp.ok:
        return fallback, f"model call failed ({resp.error}); the template prompt is used"
    try:
        text = str(json.loads(resp.text or "")["instruction"]).strip()
    except (json.JSONDecodeError, KeyError, TypeError):
        return fallback, "model answer is not the requested JSON; the template prompt is used"
    if len(text) < 12 or "{" in text or "}" in text:
        return fallback, "model instruction is too short or has template braces; the template prompt is used"
    return text + "\n\n", f"prompt written by model {llm.model_id}"
