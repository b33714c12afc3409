"""LLM judges for questions: validity (a filter), difficulty and category (evaluators).

After DataFlow's ReasoningQuestionFilter (keeps questions an LLM finds well-posed and solvable),
ReasoningQuestionDifficultySampleEvaluator (a 1-10 difficulty) and
ReasoningQuestionCategorySampleEvaluator (a subject label). Labels are enums and scores are integer
enums: a bounded schema is what keeps a small model from rambling until max_tokens.
"""

from typing import Any, ClassVar

from operators.core.contract import CheckSpec, Kind, OperatorContext, quote_ident
from operators.core.llm_ops import LLMConfig, LLMOperator, create_filter_views
from operators.core.prompt import PromptTemplate
from operators.core.registry import register
from operators.core.rowids import ID

MATH_CATEGORIES = (
    "arithmetic",
    "algebra",
    "number_theory",
    "geometry",
    "combinatorics",
    "probability_statistics",
    "calculus_analysis",
    "linear_algebra",
    "logic",
    "other",
)

VALIDITY_PROMPT = PromptTemplate(
    name="math_question_validity",
    system="You review math problems for a training set. Reply in JSON.",
    template=(
        "Problem:\n{question}\n\n"
        "Is this a well-posed math problem: complete, self-consistent, free of contradictions and "
        "solvable with a single definite answer? Answer yes or no, with a short reason."
    ),
    output_schema={
        "type": "object",
        "properties": {
            "valid": {"type": "string", "enum": ["yes", "no"]},
            "reason": {"type": "string", "maxLength": 80},
        },
        "required": ["valid", "reason"],
    },
)

DIFFICULTY_PROMPT = PromptTemplate(
    name="math_question_difficulty",
    system="You rate the difficulty of math problems. Reply in JSON.",
    template=("Problem:\n{question}\n\nRate its difficulty from 1 (grade-school arithmetic) to 10 (olympiad level)."),
    output_schema={
        "type": "object",
        "properties": {"difficulty": {"type": "integer", "enum": list(range(1, 11))}},
        "required": ["difficulty"],
    },
)

CATEGORY_PROMPT = PromptTemplate(
    name="math_question_category",
    system="You classify math problems by subject. Reply in JSON.",
    template="Problem:\n{question}\n\nWhich branch of mathematics does it belong to?",
    output_schema={
        "type": "object",
        "properties": {"category": {"type": "string", "enum": list(MATH_CATEGORIES)}},
        "required": ["category"],
    },
)


class ValidityConfig(LLMConfig):
    input_key: str = "instruction"
    keep_unjudged: bool = False  # rows whose judgement failed (see the errors table): keep or reject
    max_tokens: int = 120


@register
class QuestionValidityFilter(LLMOperator):
    """Keeps questions an LLM judges well-posed; rejected rows carry the judge's reason."""

    kind: ClassVar[Kind] = Kind.FILTER
    Config = ValidityConfig
    default_prompt = VALIDITY_PROMPT
    domain = "reasoning"
    tags = ("llm", "judge", "math", "question", "filter")

    def outputs(self) -> dict[str, str]:
        return {"valid": "__valid", "reason": "__valid_reason"}

    def output_columns(self) -> list[str]:
        return []

    def checks(self) -> list[CheckSpec]:
        return []

    def assemble(self, ctx: OperatorContext, cols: list[str]) -> None:
        src, out = quote_ident(ctx.source or ""), quote_ident(f"{ctx.target}__out")
        joined = f"SELECT s.*, o.__valid, o.__valid_reason FROM {src} s LEFT JOIN {out} o USING ({ID})"
        unjudged = "true" if self.config.keep_unjudged else "false"
        keep = f"coalesce(__valid = 'yes', {unjudged})"
        reason = (
            "'QuestionValidityFilter: ' || CASE WHEN __valid IS NULL THEN 'no parsable judgement (see errors)' "
            "ELSE 'judged invalid: ' || coalesce(__valid_reason, '') END"
        )
        create_filter_views(ctx, joined, keep, reason, ["__valid", "__valid_reason"])

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        stats = super().run(ctx)
        stats["kept"] = ctx.count(ctx.target)
        return stats


class DifficultyConfig(LLMConfig):
    input_key: str = "instruction"
    output_key: str = "question_difficulty"
    max_tokens: int = 16


@register
class QuestionDifficultyEvaluator(LLMOperator):
    """Scores each question's difficulty 1-10 into ``output_key``; never drops rows."""

    kind: ClassVar[Kind] = Kind.EVALUATE
    Config = DifficultyConfig
    default_prompt = DIFFICULTY_PROMPT
    domain = "reasoning"
    tags = ("llm", "judge", "math", "difficulty", "score")

    output_property = "difficulty"


class CategoryConfig(LLMConfig):
    input_key: str = "instruction"
    output_key: str = "question_category"
    max_tokens: int = 24


@register
class QuestionCategoryEvaluator(LLMOperator):
    """Labels each question with a branch of mathematics from a fixed list; never drops rows."""

    kind: ClassVar[Kind] = Kind.EVALUATE
    Config = CategoryConfig
    default_prompt = CATEGORY_PROMPT
    domain = "reasoning"
    tags = ("llm", "classify", "math", "category")

    output_property = "category"
