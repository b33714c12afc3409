"""SFT data from documents and answers rewritten after a critique: DataFlow's SFTGeneratorSeed,
CondorRefiner and (text_pt) Phi4QAGenerator.

SFTGeneratorSeed: the user's ``custom_prompt`` plus each row's document asks for one
instruction/output pair (JSON); rows whose answer does not parse make no row, as in DataFlow.
CondorRefiner: DataFlow asks for a critique of the answer, then for an answer improved by it (two
calls); here one request returns the critique first and the improved answer after it in one JSON
object, so the rewrite is still conditioned on the critique. Phi4QAGenerator: the document rewritten
as "Question: ... Answer: ..." turns (free text, as DataFlow's), an answer without both markers is
asked again and else is an ``__errors`` row.
"""

from typing import Any, ClassVar

from operators.core.contract import DataflowKey, Kind
from operators.core.llm_ops import LLMConfig, LLMOperator
from operators.core.prompt import PromptTemplate
from operators.core.registry import register


def _object(**props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": list(props)}


def _text(max_len: int) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": max_len}


class SeedConfig(LLMConfig):
    input_key: str = "raw_content"
    custom_prompt: str = "Write one instruction a user might give about this content, and the ideal response."
    max_tokens: int = 400


@register
class SFTGeneratorSeed(LLMOperator):
    """One ``instruction``/``output`` pair per document from ``custom_prompt``; the document stays in the row."""

    kind: ClassVar[Kind] = Kind.GENERATE
    Config = SeedConfig
    default_prompt = PromptTemplate(
        name="sft_from_seed",
        system="You write supervised fine-tuning data. Reply in JSON.",
        template="{custom_prompt}\n\nContent:\n{content}",
        output_schema=_object(instruction=_text(300), output=_text(800)),
    )
    domain = "text_sft"
    tags = ("llm", "sft", "synthesis", "seed")
    dataflow_note = "JSON under a schema (DataFlow extracts a JSON object from free text)"

    def prompt_values(self, row: dict[str, Any], prompt: PromptTemplate) -> dict[str, Any]:
        return {"custom_prompt": self.config.custom_prompt, "content": row.get(self.config.input_key)}


class CondorRefineConfig(LLMConfig):
    dataflow_keys: ClassVar[dict[str, DataflowKey]] = {
        "input_instruction_key": DataflowKey("input_key"),
        "input_output_key": DataflowKey("output_key"),
    }
    input_key: str = "instruction"
    output_key: str = "output"
    max_tokens: int = 500


@register
class CondorRefiner(LLMOperator):
    """Rewrites ``output_key`` after a critique of it (critique, then the improved answer, in one request)."""

    kind: ClassVar[Kind] = Kind.REFINE
    Config = CondorRefineConfig
    default_prompt = PromptTemplate(
        name="condor_critique_refine",
        system="You review and improve answers. Reply in JSON.",
        template=(
            "Question:\n{question}\n\nAnswer:\n{answer}\n\nFirst write a short critique of the answer (errors, gaps, "
            "unclear parts) in `critique`, then in `improved_answer` write the answer improved by that critique."
        ),
        output_schema=_object(critique=_text(400), improved_answer=_text(1200)),
    )
    domain = "text_sft"
    tags = ("llm", "sft", "refine", "critique")
    dataflow_fidelity = "approximated"
    dataflow_note = "critique and rewrite in one request (JSON: critique first) instead of two calls"

    def input_columns(self) -> list[str]:
        return [self.config.input_key, self.config.output_key]

    def outputs(self) -> dict[str, str]:
        return {"improved_answer": self.config.output_key}  # the critique is discarded, as in DataFlow

    def prompt_values(self, row: dict[str, Any], prompt: PromptTemplate) -> dict[str, Any]:
        return {"question": row.get(self.config.input_key), "answer": row.get(self.config.output_key)}


class Phi4Config(LLMConfig):
    input_key: str = "raw_content"
    output_key: str = "generated_content"
    max_tokens: int = 600


@register
class Phi4QAGenerator(LLMOperator):
    """Adds ``output_key``: the document as "Question: ... Answer: ..." turns (Phi-4-style pretraining QA)."""

    kind: ClassVar[Kind] = Kind.REFINE
    Config = Phi4Config
    default_prompt = PromptTemplate(
        name="phi4_qa",
        system="A curious user talks with a helpful, detailed and polite assistant.",
        template=(
            "Convert the following paragraph into a conversation of several turns, each written as\n"
            "Question: ...\nAnswer: ...\nOutput only the turns.\n\n{content}"
        ),
    )
    domain = "text_pt"
    tags = ("llm", "pretrain", "qa", "synthesis")
    dataflow_note = "an answer without Question:/Answer: markers is asked again, then an __errors row"

    def outputs(self) -> dict[str, str]:
        return {"text": self.config.output_key}

    def answer_problem(self, row: dict[str, Any], values: dict[str, Any], prompt: PromptTemplate) -> str | None:
        text = str(values.get(self.config.output_key) or "")
        return None if "Question:" in text and "Answer:" in text else "no 'Question: ... Answer: ...' turn"
