"""Question synthesis from seed questions and chain-of-thought answers with n samples per question.

After DataFlow's ReasoningQuestionGenerator (new questions from existing ones, each seed question
kept and the rows flagged ``input``/``synth``) and ReasoningAnswerGenerator (a step-by-step
solution ending in a final answer). Both are fan-out generators: see ``fanout``.
"""

from typing import ClassVar

from pydantic import Field

from operators.core.contract import DataflowKey, quote_ident, quote_literal
from operators.core.prompt import PromptTemplate
from operators.core.registry import register
from operators.reasoning.fanout import FanOutConfig, FanOutLLMOperator

# Kinds of change asked of the model per variant, so variants differ even at temperature 0
# (DataFlow picks among similar "diversity modes").
VARIATIONS = (
    "the numbers in it",
    "the real-world setting of the story",
    "what quantity is asked for",
    "adds one more reasoning step",
    "the kind of mathematical object involved",
)

QUESTION_SYNTH_PROMPT = PromptTemplate(
    name="math_question_synthesis",
    system="You write new math problems for a training set. Reply in JSON.",
    template=(
        "Seed problem:\n{question}\n\n"
        "Write one new, self-contained math problem of similar difficulty that changes {variation}. "
        "It must have exactly one correct final answer. Do not solve it."
    ),
    output_schema={
        "type": "object",
        "properties": {"question": {"type": "string", "minLength": 10, "maxLength": 250}},
        "required": ["question"],
    },
)

COT_PROMPT = PromptTemplate(
    name="math_cot_answer",
    system="You are a careful mathematician. Solve problems step by step. Reply in JSON.",
    template=(
        "Problem:\n{question}\n\n"
        "Reason step by step in `solution`, then put only the final result in `final_answer` "
        "(a number, expression or interval, without words)."
    ),
    output_schema={
        "type": "object",
        "properties": {
            "solution": {"type": "string", "minLength": 1, "maxLength": 600},
            "final_answer": {"type": "string", "minLength": 1, "maxLength": 60},
        },
        "required": ["solution", "final_answer"],
    },
)


class QuestionGeneratorConfig(FanOutConfig):
    input_key: str = "instruction"
    dataflow_keys: ClassVar[dict[str, DataflowKey]] = {
        "num_prompts": DataflowKey("num_samples"),
        "output_synth_or_input_flag": DataflowKey("flag_key"),
    }
    num_samples: int = Field(default=1, ge=1, le=5)  # new questions per seed question (DataFlow: 1-5)
    keep_inputs: bool = True
    flag_key: str = "synth_or_input"
    clear_keys: list[str] = ["golden_answer", "output"]  # answers of the seed do not answer the variant
    temperature: float = 0.7
    max_tokens: int = 290


@register
class ReasoningQuestionGenerator(FanOutLLMOperator):
    """Writes ``num_samples`` new questions per seed question; keeps the seeds (flag ``input``)."""

    Config = QuestionGeneratorConfig
    default_prompt = QUESTION_SYNTH_PROMPT
    domain = "reasoning"
    tags = ("llm", "math", "synthesis", "question")

    def outputs(self) -> dict[str, str]:
        return {"question": self.config.input_key}

    def output_columns(self) -> list[str]:
        return [*super().output_columns(), self.config.flag_key]

    def prompt_values(self, row: dict, prompt: PromptTemplate) -> dict:
        return {"question": row.get(self.config.input_key), "variation": row.get("variation")}

    def fan_columns(self, k_expr: str) -> dict[str, str]:
        options = ", ".join(quote_literal(v) for v in VARIATIONS)
        return {"variation": f"[{options}][({k_expr}) % {len(VARIATIONS)} + 1]"}

    def extra_output_sql(self, types: dict[str, str]) -> dict[str, str]:
        return {k: f"CAST(NULL AS {types[k]})" for k in self.config.clear_keys if k in types}

    def combine(self, ctx, generated_sql: str) -> str:
        flag = quote_ident(self.config.flag_key)
        synth = (
            f"SELECT * REPLACE ('synth' AS {flag}) FROM ({generated_sql})"
            if self._has_flag(ctx)
            else (f"SELECT *, 'synth' AS {flag} FROM ({generated_sql})")
        )
        if not self.config.keep_inputs:
            return synth
        src = quote_ident(ctx.source or "")
        seeds = (
            f"SELECT * REPLACE ('input' AS {flag}) FROM {src}"
            if self._has_flag(ctx)
            else f"SELECT *, 'input' AS {flag} FROM {src}"
        )
        return f"{seeds} UNION ALL BY NAME {synth}"

    def _has_flag(self, ctx) -> bool:
        return self.config.flag_key in ctx.columns()


class CoTConfig(FanOutConfig):
    input_key: str = "instruction"
    output_key: str = "generated_cot"
    answer_key: str = "model_answer"
    group_key: str | None = "question_id"
    num_samples: int = 3
    temperature: float = 0.7
    max_tokens: int = 760


@register
class CoTAnswerGenerator(FanOutLLMOperator):
    """Generates ``num_samples`` step-by-step solutions per question (one row each, distinct seeds);
    ``question_id`` ties samples to their question for the majority vote."""

    Config = CoTConfig
    default_prompt = COT_PROMPT
    domain = "reasoning"
    tags: ClassVar[tuple[str, ...]] = ("llm", "math", "cot", "answer", "self-consistency")

    def outputs(self) -> dict[str, str]:
        return {"solution": self.config.output_key, "final_answer": self.config.answer_key}


def cot_prompt(solution_chars: int = 600) -> PromptTemplate:
    """The CoT prompt with a different bound on the solution's length (small models, quick runs);
    give the step ``max_tokens`` of ``solution_chars + 100`` (at most a token per character) so
    the JSON can always close."""
    schema = {**COT_PROMPT.output_schema}  # type: ignore[dict-item]
    props = {**schema["properties"], "solution": {"type": "string", "minLength": 1, "maxLength": int(solution_chars)}}
    return PromptTemplate(COT_PROMPT.name, COT_PROMPT.template, COT_PROMPT.system, {**schema, "properties": props})


def question_prompt(question_chars: int = 250) -> PromptTemplate:
    """The question-synthesis prompt with a different bound on the new question's length."""
    schema = {**QUESTION_SYNTH_PROMPT.output_schema}  # type: ignore[dict-item]
    props = {"question": {"type": "string", "minLength": 10, "maxLength": int(question_chars)}}
    t = QUESTION_SYNTH_PROMPT
    return PromptTemplate(t.name, t.template, t.system, {**schema, "properties": props})
