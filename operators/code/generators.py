"""Prompted code operators: instruction synthesis, instruction enhancement, code generation,
a code-quality judge and test-case generation (after DataFlow's CodePipeline operators
CodeCodeToInstructionGenerator, CodeEnhancementInstructionGenerator, CodeInstructionToCodeGenerator,
CodeQualitySampleEvaluator and the sandbox evaluator's test inputs).

Schemas bound every string (a small model otherwise writes until max_tokens), and each
``max_tokens`` leaves room for the longest allowed answer, so the JSON can always close.
"""

from typing import ClassVar

from operators.core.contract import Kind
from operators.core.llm_ops import LLMConfig, LLMOperator
from operators.core.prompt import PromptTemplate
from operators.core.registry import register

INSTRUCTION_PROMPT = PromptTemplate(
    name="code_to_instruction",
    system="You write programming tasks. Reply in JSON.",
    template=(
        "Code:\n```python\n{code}\n```\n\n"
        "Write the instruction a user would give to get exactly this code written: what the function "
        "is called, what it takes and what it returns. One or two sentences."
    ),
    output_schema={
        "type": "object",
        "properties": {"instruction": {"type": "string", "minLength": 10, "maxLength": 200}},
        "required": ["instruction"],
    },
)

ENHANCE_PROMPT = PromptTemplate(
    name="code_instruction_enhancement",
    system="You make programming tasks precise. Reply in JSON.",
    template=(
        "Task:\n{instruction}\n\n"
        "Rewrite the task so it is unambiguous: name the Python function, its parameters and return "
        "value, and the edge cases to handle. Keep it under 80 words."
    ),
    output_schema={
        "type": "object",
        "properties": {"instruction": {"type": "string", "minLength": 10, "maxLength": 300}},
        "required": ["instruction"],
    },
)

CODE_PROMPT = PromptTemplate(
    name="instruction_to_code",
    system="You are an expert Python programmer. Reply in JSON.",
    template="Task:\n{instruction}\n\nWrite a complete Python solution (standard library only, no input()).",
    output_schema={
        "type": "object",
        "properties": {"code": {"type": "string", "minLength": 1, "maxLength": 1500}},
        "required": ["code"],
    },
)

QUALITY_PROMPT = PromptTemplate(
    name="code_quality_judge",
    system="You review Python code. Reply in JSON.",
    template=(
        "Task:\n{instruction}\n\nCode:\n```python\n{code}\n```\n\n"
        "Score from 1 (wrong or unusable) to 10 (correct, clear, idiomatic) how well the code solves the task, "
        "with one sentence of feedback."
    ),
    output_schema={
        "type": "object",
        "properties": {
            "score": {"type": "integer", "enum": list(range(1, 11))},
            "feedback": {"type": "string", "maxLength": 120},
        },
        "required": ["score", "feedback"],
    },
)

TESTS_PROMPT = PromptTemplate(
    name="code_test_cases",
    system="You write unit tests as plain Python assert statements. Reply in JSON.",
    template=(
        "Task:\n{instruction}\n\nCode:\n```python\n{code}\n```\n\n"
        "Write 3 to 5 `assert` statements that call the code and check the expected results. "
        "No imports of test frameworks, no prints."
    ),
    output_schema={
        "type": "object",
        "properties": {"tests": {"type": "string", "minLength": 6, "maxLength": 300}},
        "required": ["tests"],
    },
)


class InstructionConfig(LLMConfig):
    input_key: str = "raw_code"
    output_key: str = "instruction"
    max_tokens: int = 240


@register
class CodeInstructionSynthesizer(LLMOperator):
    """Writes the instruction that would produce a given piece of code (a new row per code)."""

    kind: ClassVar[Kind] = Kind.GENERATE
    Config = InstructionConfig
    default_prompt = INSTRUCTION_PROMPT
    domain = "code"
    tags = ("llm", "code", "instruction", "synthesis")

    output_property = "instruction"


class EnhanceConfig(LLMConfig):
    input_key: str = "instruction"
    output_key: str = "instruction"
    max_tokens: int = 340


@register
class CodeInstructionEnhancer(LLMOperator):
    """Rewrites an instruction into a precise, self-contained task (same row; replaces the text)."""

    kind: ClassVar[Kind] = Kind.REFINE
    Config = EnhanceConfig
    default_prompt = ENHANCE_PROMPT
    domain = "code"
    tags = ("llm", "code", "instruction", "enhance")

    output_property = "instruction"


class CodeGenConfig(LLMConfig):
    input_key: str = "instruction"
    output_key: str = "generated_code"
    max_tokens: int = 1540


@register
class CodeGenerator(LLMOperator):
    """Writes code for an instruction into ``output_key`` (same row, new column)."""

    kind: ClassVar[Kind] = Kind.REFINE
    Config = CodeGenConfig
    default_prompt = CODE_PROMPT
    domain = "code"
    tags = ("llm", "code", "generation")

    output_property = "code"


class PairConfig(LLMConfig):
    input_key: str = "instruction"
    code_key: str = "generated_code"


class QualityConfig(PairConfig):
    output_key: str = "code_quality_score"
    feedback_key: str = "code_quality_feedback"
    max_tokens: int = 170


@register
class CodeQualityEvaluator(LLMOperator):
    """LLM judge: scores code against its instruction 1-10 with a line of feedback; never drops rows."""

    kind: ClassVar[Kind] = Kind.EVALUATE
    Config = QualityConfig
    default_prompt = QUALITY_PROMPT
    domain = "code"
    tags = ("llm", "code", "judge", "quality", "score")

    def input_columns(self) -> list[str]:
        return [self.config.input_key, self.config.code_key]

    def outputs(self) -> dict[str, str]:
        return {"score": self.config.output_key, "feedback": self.config.feedback_key}

    def prompt_values(self, row: dict, prompt: PromptTemplate) -> dict:
        return {"instruction": row.get(self.config.input_key), "code": row.get(self.config.code_key)}


class TestsConfig(PairConfig):
    output_key: str = "test_code"
    max_tokens: int = 340


@register
class CodeTestCaseGenerator(LLMOperator):
    """Writes assert-style test cases for each (instruction, code) pair into ``output_key``."""

    kind: ClassVar[Kind] = Kind.REFINE
    Config = TestsConfig
    default_prompt = TESTS_PROMPT
    domain = "code"
    tags = ("llm", "code", "tests", "generation")

    def input_columns(self) -> list[str]:
        return [self.config.input_key, self.config.code_key]

    output_property = "tests"

    def prompt_values(self, row: dict, prompt: PromptTemplate) -> dict:
        return {"instruction": row.get(self.config.input_key), "code": row.get(self.config.code_key)}


def code_prompt(max_code_chars: int = 1500) -> PromptTemplate:
    """The code-generation prompt with a different bound on the code's length (quick runs on small
    models); give the step ``max_tokens`` of ``max_code_chars + 40`` so the JSON can always close."""
    schema = {**CODE_PROMPT.output_schema}  # type: ignore[dict-item]
    props = {"code": {"type": "string", "minLength": 1, "maxLength": int(max_code_chars)}}
    return PromptTemplate(CODE_PROMPT.name, CODE_PROMPT.template, CODE_PROMPT.system, {**schema, "properties": props})
