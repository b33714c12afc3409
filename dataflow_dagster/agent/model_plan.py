"""The model proposes the decomposition: ordered steps (action + registered operator) under a JSON schema.

Only a capable model is asked: an OpenAI-compatible endpoint. The embedded 135M model answers
schema-valid JSON but picks operators no better than chance (it was observed to take the first
candidate every time), so with it the rule path (``decompose`` + retrieval) decides and the output
says so. A model's proposal is never trusted as such: every operator must exist and be of the kind
its action names, the proposal must cover every action the request's clauses name (the plan check),
and the builder then compiles it, dry-runs it and loads it in Dagster like any other plan. A
proposal that fails any of these is set aside with the reason and the rule path decides.
"""

import json
from dataclasses import dataclass

from dataflow_dagster.agent.intent import Intent
from dataflow_dagster.agent.planner import Planner, Selection, _slot_of
from operators.core.contract import OperatorError
from operators.core.llm import LLMClient, LLMRequest, SamplingParams

SLOTS = ["generate", "evaluate", "filter", "dedup", "refine", "threshold"]


def is_capable(llm: LLMClient | None) -> bool:
    """An OpenAI-compatible endpoint (any size: the validation below decides); not the embedded model."""
    from dataflow_dagster.llm.openai_client import OpenAICompatClient

    return isinstance(llm, OpenAICompatClient)


def _kind_fits(slot: str, action: str) -> bool:
    """Deduplication and score gates are filters too: a model may call them so."""
    return slot == action or (action == "filter" and slot in ("dedup", "threshold"))


@dataclass
class ModelProposal:
    selection: Selection | None  # None: set aside, reason in ``note``
    note: str
    raw: str = ""


def _schema(names: list[str]) -> dict:
    step = {
        "type": "object",
        "required": ["action", "operator"],
        "properties": {
            "clause": {"type": "string", "maxLength": 160},
            "action": {"type": "string", "enum": SLOTS},
            "operator": {"type": "string", "enum": names},
            # numeric limits the clause states (min_words: 5); only the operator's own numeric settings
            "settings": {"type": "object", "maxProperties": 4, "additionalProperties": {"type": "number"}},
            # for a Prompted* step: the instruction put before each row's text
            "prompt": {"type": "string", "maxLength": 400},
        },
    }
    return {
        "type": "object",
        "required": ["steps"],
        "properties": {"steps": {"type": "array", "minItems": 1, "maxItems": 8, "items": step}},
    }


def propose(
    planner: Planner, llm: LLMClient, intent: Intent, cands: dict[str, list[tuple[str, float]]]
) -> ModelProposal:
    """Ask the model for the ordered steps; validate them against the registry and the request."""
    pool: list[str] = []
    for ranked in cands.values():  # the operators retrieval found for the request's actions, best first
        pool += [n for n, _ in ranked[:8] if n not in pool]
    pool += [n for n, c in planner.ops.items() if _slot_of(c) == "threshold" and n not in pool]
    lines = [
        f"- {n} [{_slot_of(planner.ops[n])}]: {(planner.ops[n].__doc__ or n).strip().splitlines()[0]}" for n in pool
    ]
    req = LLMRequest.chat(
        f"Request: {intent.request}\n\nOperators:\n"
        + "\n".join(lines)
        + "\n\nSplit the request into the data transformations it asks for, in order. For each, give the "
        "clause of the request, its action, the operator that performs it, any numeric settings the "
        "request states (e.g. min_words) and, for a Prompted* operator, the instruction to give the model.",
        "You plan data-preparation pipelines. Reply in JSON.",
        SamplingParams(temperature=0.0, max_tokens=400, seed=0),
        _schema(pool),
    )
    resp = llm.generate([req])[0]
    if not resp.ok:
        return ModelProposal(None, f"model call failed ({resp.error})")
    try:
        steps = json.loads(resp.text or "")["steps"]
        pairs = [(str(s["action"]), str(s["operator"])) for s in steps]
    except (json.JSONDecodeError, KeyError, TypeError):
        return ModelProposal(None, "model answer is not the requested JSON", resp.text or "")
    preset, problems = _settings(planner, steps)
    if problems:
        return ModelProposal(None, f"model proposal rejected: {'; '.join(problems)}", resp.text or "")
    wrong = [
        f"{op} is not a {action} operator"
        for action, op in pairs
        if op not in planner.ops or not _kind_fits(_slot_of(planner.ops[op]), action)
    ]
    if wrong:
        return ModelProposal(None, f"model proposal rejected: {'; '.join(wrong)}", resp.text or "")
    names = list(dict.fromkeys(op for _, op in pairs))
    proposed = {_slot_of(planner.ops[op]) for _, op in pairs}  # the operator's own kind counts
    missing = [a for a in intent.actions if a not in proposed]
    extra = sorted(proposed - set(intent.actions) - {"threshold"})
    if missing or extra:
        return ModelProposal(
            None, f"model proposal rejected: misses action(s) {missing}, adds unrequested {extra}", resp.text or ""
        )
    if "threshold" in proposed and not intent.keep_good:
        return ModelProposal(None, "model proposal rejected: a score gate the request does not ask for", resp.text)
    sel = Selection(names, "llm", "model decomposition, validated against the request", settings=preset)
    for op, cfg in preset.items():
        sel.decided[op] = f"model: operator and settings {sorted(cfg)} (validated by the operator's config)"
    return ModelProposal(sel, "", resp.text)


def _settings(planner: Planner, steps: list[dict]) -> tuple[dict[str, dict], list[str]]:
    """The model's settings and prompts per operator, validated by the operator's own config: only
    numeric settings it declares, a prompt only for a Prompted* operator; a value its config
    refuses rejects the proposal (the rules then decide)."""
    preset: dict[str, dict] = {}
    problems: list[str] = []
    for step in steps:
        name = str(step["operator"])
        cls = planner.ops.get(name)
        if cls is None:
            continue
        cfg: dict = {}
        fields = cls.Config.model_fields
        for key, value in dict(step.get("settings") or {}).items():
            ann = fields[key].annotation if key in fields else None
            if ann not in (int, float, int | None, float | None):
                problems.append(f"{name} has no numeric setting '{key}'")
                continue
            cfg[key] = int(value) if ann in (int, int | None) else float(value)
        prompt = str(step.get("prompt") or "").strip()
        if prompt and name.startswith("Prompted") and "user_prompt" in fields:
            cfg["user_prompt"] = prompt + "\n\n"
        if cfg:
            try:
                cls(**cfg)
            except (OperatorError, ValueError, TypeError) as exc:  # pydantic's ValidationError is a ValueError
                problems.append(f"{name} settings {cfg}: {str(exc).splitlines()[0]}")
                continue
            preset[name] = cfg
    return preset, problems
