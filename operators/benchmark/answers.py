"""BenchAnswerGenerator: the model under evaluation answers a benchmark's questions.

After DataFlow's BenchAnswerGenerator: by ``eval_type`` (DataFlow's names) it builds a question
prompt (with optional context, and lettered choices for multiple choice) and writes the model's
answer to ``output_key`` (``generated_ans``) on the same rows. Types that need no generation
(``key1_text_score``, ``key3_q_a_rejected``: scored from log-probabilities) pass rows through.
Answers are bounded JSON: free text up to 300 characters for QA, a letter for single choice, a
list of letters (stored "A,C") for multi-select.
"""

from typing import Any, ClassVar, Literal

from operators.core.contract import Kind, OperatorContext, quote_ident
from operators.core.llm import LLMResponse
from operators.core.llm_ops import LLMConfig, LLMOperator
from operators.core.prompt import PromptTemplate
from operators.core.registry import register

EvalType = Literal[
    "key1_text_score", "key2_qa", "key2_q_ma", "key3_q_choices_a", "key3_q_choices_as", "key3_q_a_rejected"
]
LETTERS = "ABCDEFGHIJ"
_SYSTEM = "Answer the benchmark question. Reply in JSON."
QA_PROMPT = PromptTemplate(
    name="bench_answer_qa",
    system=_SYSTEM,
    template="{context}Question:\n{question}\n\nGive the final answer only.",
    output_schema={
        "type": "object",
        "properties": {"answer": {"type": "string", "minLength": 1, "maxLength": 300}},
        "required": ["answer"],
    },
)
CHOICE_PROMPT = PromptTemplate(
    name="bench_answer_choice",
    system=_SYSTEM,
    template="{context}Question:\n{question}\n\nChoices:\n{choices}\n\nChoose exactly one option letter.",
    output_schema={
        "type": "object",
        "properties": {"answer": {"type": "string", "enum": list(LETTERS)}},
        "required": ["answer"],
    },
)
MULTI_PROMPT = PromptTemplate(
    name="bench_answer_multi",
    system=_SYSTEM,
    template="{context}Question:\n{question}\n\nChoices:\n{choices}\n\nSelect every correct option letter.",
    output_schema={
        "type": "object",
        "properties": {
            "answer": {
                "type": "array",
                "minItems": 1,
                "maxItems": 10,
                "items": {"type": "string", "enum": list(LETTERS)},
            }
        },
        "required": ["answer"],
    },
)


def choices_text(choices: Any) -> str:
    items = list(choices) if isinstance(choices, list | tuple) else [choices] if choices else []
    return "\n".join(f"{LETTERS[i] if i < len(LETTERS) else i}. {c}" for i, c in enumerate(items))


class BenchAnswerConfig(LLMConfig):
    eval_type: EvalType = "key2_qa"
    input_question_key: str = "question"
    input_context_key: str | None = None
    input_choices_key: str | None = None  # a list column, for the key3_q_choices_* types
    output_key: str = "generated_ans"
    max_tokens: int = 160


@register
class BenchAnswerGenerator(LLMOperator):
    """Answers benchmark questions (QA, single or multi choice) into ``generated_ans`` on the same rows."""

    kind: ClassVar[Kind] = Kind.REFINE
    Config = BenchAnswerConfig
    default_prompt = QA_PROMPT
    domain = "core_text"
    tags = ("llm", "benchmark", "evaluation", "answer")

    def __init__(self, config: Any = None, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        t = self.config.eval_type
        self.default_prompt = {"key3_q_choices_a": CHOICE_PROMPT, "key3_q_choices_as": MULTI_PROMPT}.get(t, QA_PROMPT)

    @property
    def generates(self) -> bool:
        return self.config.eval_type not in ("key1_text_score", "key3_q_a_rejected")

    def input_columns(self) -> list[str]:
        c = self.config
        return [k for k in (c.input_question_key, c.input_context_key, c.input_choices_key) if k]

    def outputs(self) -> dict[str, str]:
        return {"answer": self.config.output_key}

    def output_columns(self) -> list[str]:
        return [self.config.output_key] if self.generates else []

    def prompt_values(self, row: dict[str, Any], prompt: PromptTemplate) -> dict[str, Any]:
        c = self.config
        context = row.get(c.input_context_key) if c.input_context_key else None
        return {
            "question": row.get(c.input_question_key) or "",
            "context": f"Context:\n{context}\n\n" if context else "",
            "choices": choices_text(row.get(c.input_choices_key)) if c.input_choices_key else "",
        }

    def parse(self, resp: LLMResponse, schema: dict[str, Any] | None) -> dict[str, Any]:
        values = super().parse(resp, schema)
        key = self.config.output_key
        if isinstance(values.get(key), list):
            values[key] = ",".join(sorted(set(values[key])))
        return values

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        if not self.generates:
            ctx.con.execute(f"CREATE VIEW {quote_ident(ctx.target)} AS SELECT * FROM {quote_ident(ctx.source or '')}")
            ctx.con.execute(f"CREATE TABLE {quote_ident(ctx.errors)} (_id VARCHAR, _error VARCHAR, _raw VARCHAR)")
            return {"llm_rows": 0, "llm_failed_rows": 0}
        return super().run(ctx)
