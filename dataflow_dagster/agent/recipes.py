"""Domain recipes: ordered, key-bound operator chains for requests whose shape retrieval cannot infer.

A request such as "generate unit tests and keep only code that passes" names two actions, but the
operator contract needs four steps (tests -> execution -> status filter, with the code column bound
as the code to run). Retrieval picks one operator per action and cannot know that; a recipe encodes
the chain once, binds its keys to the request's data, and says which steps the contract added. The
builder validates a recipe's pipeline exactly like any other (dry run with surviving rows, Dagster
load) and falls back to retrieval when it does not hold.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from dataflow_dagster.agent.intent import Intent
from dataflow_dagster.agent.planner import DataProfile
from dataflow_dagster.core.pipeline import Step
from operators.code.execution import CodeExecutionEvaluator, ExecutionStatusFilter
from operators.code.generators import CodeInstructionSynthesizer, CodeTestCaseGenerator
from operators.reasoning.answers import AnswerExtractor
from operators.reasoning.generators import CoTAnswerGenerator
from operators.reasoning.verify import AnswerVerifier, PseudoAnswerGenerator, VerifiedAnswerFilter


@dataclass
class RecipePlan:
    recipe: str
    steps: list[Step]
    source_columns: list[str]
    notes: list[str] = field(default_factory=list)


_KEEP_PASSING = re.compile(r"\b(pass|passes|passing|execut\w*|run[s]?\b|succeed\w*|work[s]?)\b", re.I)
_AGREE = re.compile(r"\b(agree\w*|consisten\w*|majority|vote)\b", re.I)
_VERIFIED = re.compile(r"\b(verif\w*|correct\w*|match\w*|right)\b", re.I)
_COT = re.compile(r"\b(cot|chain[- ]of[- ]thought|step[- ]by[- ]step|reason\w*|solve|solution\w*)\b", re.I)
_INSTRUCTION = re.compile(r"\binstruction", re.I)


def _column(data: DataProfile, names: tuple[str, ...]) -> str:
    return next((c for c in names if c in data.columns), data.text_column)


def code_tests(intent: Intent, data: DataProfile) -> RecipePlan | None:
    """Code + tests (+ instruction): tests -> execution -> keep passing, the code column executed."""
    text = intent.request
    if "code" not in intent.domains or not re.search(r"\btests?\b|test cases?", text, re.I):
        return None
    code = _column(data, ("code", "raw_code", "generated_code", "function", "solution"))
    steps: list[Step] = []
    notes = []
    instruction = "instruction" if "instruction" in data.columns else None
    if _INSTRUCTION.search(text) and instruction is None:
        steps.append(Step("instruction", CodeInstructionSynthesizer(input_key=code)))
        instruction = "instruction"
    if instruction is None:
        return None  # the test generator needs a task statement; nothing to bind it to
    steps.append(Step("tests", CodeTestCaseGenerator(input_key=instruction, code_key=code)))
    if _KEEP_PASSING.search(text):
        steps.append(Step("execute", CodeExecutionEvaluator(input_key=code)))
        steps.append(Step("keep_passing", ExecutionStatusFilter()))
        notes.append("contract: CodeExecutionEvaluator added because ExecutionStatusFilter reads exec_status")
    return RecipePlan("code_tests", steps, [code], notes)


def math_cot(intent: Intent, data: DataProfile) -> RecipePlan | None:
    """Math CoT: sampled solutions -> extracted answers -> majority vote -> keep agreeing/verified."""
    text = intent.request
    if "math" not in intent.domains or not _COT.search(text):
        return None
    question = _column(data, ("question", "problem", "instruction", "prompt"))
    steps = [Step("cot", CoTAnswerGenerator(input_key=question))]
    notes = []
    gold = next((c for c in ("golden_answer", "answer", "reference") if c in data.columns), None)
    # "answers agree" is self-consistency (samples against their majority vote); "verified/correct"
    # with a reference column checks against that column instead.
    reference = gold if gold and _VERIFIED.search(text) and not _AGREE.search(text) else "pseudo_answer"
    if _AGREE.search(text) or _VERIFIED.search(text):
        steps += [
            Step("extract", AnswerExtractor()),
            Step("pseudo_answer", PseudoAnswerGenerator()),
            Step("verify", AnswerVerifier(reference_key=reference, fallback_reference_key=None)),
            Step("keep_verified", VerifiedAnswerFilter()),
        ]
        notes.append(
            "contract: AnswerExtractor, PseudoAnswerGenerator and AnswerVerifier added because "
            f"VerifiedAnswerFilter reads the verdict of extracted answers against '{reference}'"
        )
    return RecipePlan("math_cot", steps, [question] + ([reference] if reference != "pseudo_answer" else []), notes)


RECIPES: tuple[Callable[[Intent, DataProfile], RecipePlan | None], ...] = (code_tests, math_cot)


def match_recipe(intent: Intent, data: DataProfile) -> RecipePlan | None:
    for recipe in RECIPES:
        plan = recipe(intent, data)
        if plan is not None:
            return plan
    return None
