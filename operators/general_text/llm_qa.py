"""Prompted operators that turn passages into QA pairs and judge them.

Output schemas bound every string and number: a small model otherwise loops until max_tokens.
"""

from typing import ClassVar

from operators.core.contract import Kind
from operators.core.llm_ops import LLMConfig, LLMOperator
from operators.core.prompt import PromptTemplate
from operators.core.registry import register

QA_PROMPT = PromptTemplate(
    name="passage_to_qa",
    system="You write one factual question and its short answer about a passage. Reply in JSON.",
    template=(
        "Passage:\n{passage}\n\nWrite one question that the passage answers, and the answer taken from the passage."
    ),
    output_schema={
        "type": "object",
        "properties": {
            "question": {"type": "string", "minLength": 5, "maxLength": 200},
            "answer": {"type": "string", "minLength": 1, "maxLength": 200},
        },
        "required": ["question", "answer"],
    },
)

JUDGE_PROMPT = PromptTemplate(
    name="qa_judge",
    system="You grade question-answer pairs for training data. Reply in JSON.",
    template=(
        "Question: {question}\nAnswer: {answer}\n\n"
        "Rate from 1 (useless) to 5 (excellent) how clear the question is and how well the answer fits."
    ),
    output_schema={
        "type": "object",
        "properties": {"score": {"type": "integer", "enum": [1, 2, 3, 4, 5]}},
        "required": ["score"],
    },
)

TOPIC_PROMPT = PromptTemplate(
    name="passage_topic",
    system="You label passages with their subject area. Reply in JSON.",
    template="Passage:\n{passage}\n\nWhich subject area does this passage belong to?",
    output_schema={
        "type": "object",
        "properties": {
            "topic": {
                "type": "string",
                "enum": ["physics", "chemistry", "biology", "mathematics", "computing", "history", "other"],
            }
        },
        "required": ["topic"],
    },
)


class QAGeneratorConfig(LLMConfig):
    input_key: str = "text"
    question_key: str = "question"
    answer_key: str = "answer"
    max_tokens: int = 160


@register
class PassageQAGenerator(LLMOperator):
    """Generates one question/answer pair per passage (a new row linked to its passage)."""

    kind: ClassVar[Kind] = Kind.GENERATE
    Config = QAGeneratorConfig
    default_prompt = QA_PROMPT
    tags = ("llm", "qa", "sft", "pretrain")

    def outputs(self) -> dict[str, str]:
        return {"question": self.config.question_key, "answer": self.config.answer_key}


class QAJudgeConfig(LLMConfig):
    question_key: str = "question"
    answer_key: str = "answer"
    output_key: str = "qa_score"
    max_tokens: int = 24


@register
class QAJudgeEvaluator(LLMOperator):
    """LLM judge: scores each question/answer pair 1-5 into ``output_key``; never drops rows."""

    kind: ClassVar[Kind] = Kind.EVALUATE
    Config = QAJudgeConfig
    default_prompt = JUDGE_PROMPT
    tags = ("llm", "judge", "qa", "score")

    def input_columns(self) -> list[str]:
        return [self.config.question_key, self.config.answer_key]

    def prompt_values(self, row: dict, prompt: PromptTemplate) -> dict:
        return {"question": row.get(self.config.question_key), "answer": row.get(self.config.answer_key)}

    output_property = "score"


class TopicConfig(LLMConfig):
    output_key: str = "topic"
    max_tokens: int = 24


@register
class TopicClassifier(LLMOperator):
    """LLM evaluator: labels each passage with a subject area from a fixed list."""

    kind: ClassVar[Kind] = Kind.EVALUATE
    Config = TopicConfig
    default_prompt = TOPIC_PROMPT
    tags = ("llm", "classify", "topic")

    output_property = "topic"
