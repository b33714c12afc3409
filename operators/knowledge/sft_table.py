"""QA extraction per chunk and assembly of an SFT table (instruction / input / output)."""

from typing import Any, ClassVar

from operators.core.contract import Kind, OpConfig, Operator, OperatorContext, quote_ident, quote_literal
from operators.core.llm_ops import LLMConfig, LLMOperator
from operators.core.prompt import PromptTemplate
from operators.core.registry import register
from operators.core.rowids import ID, PARENTS, derived_id_sql

CHUNK_QA_PROMPT = PromptTemplate(
    name="knowledge_chunk_qa",
    system="You write exam questions from reference material. Reply in JSON.",
    template=(
        "Reference text:\n{chunk}\n\n"
        "Write one question that this text answers on its own, and the answer in one or two sentences "
        "using only facts from the text."
    ),
    output_schema={
        "type": "object",
        "properties": {
            "question": {"type": "string", "minLength": 8, "maxLength": 200},
            "answer": {"type": "string", "minLength": 2, "maxLength": 300},
        },
        "required": ["question", "answer"],
    },
)


class ChunkQAConfig(LLMConfig):
    input_key: str = "chunk"
    max_tokens: int = 288  # the schema allows 500 characters; 192 tokens truncated long answers (bad JSON)


@register
class ChunkQAExtractor(LLMOperator):
    """One question/answer pair per knowledge chunk (a new row linked to its chunk)."""

    kind: ClassVar[Kind] = Kind.GENERATE
    Config = ChunkQAConfig
    default_prompt = CHUNK_QA_PROMPT
    domain = "knowledge"
    tags = ("llm", "qa", "knowledge", "sft")


class AssembleConfig(OpConfig):
    instruction_key: str = "question"
    output_key: str = "answer"
    input_key: str | None = None  # column to use as the SFT "input" (e.g. the chunk); None -> ''
    instruction_prefix: str = ""
    keep_columns: list[str] = []  # provenance columns to carry along (e.g. source_path)


@register
class SFTTableAssembler(Operator):
    """Builds the instruction/input/output table fine-tuning tools expect, dropping rows without an
    instruction or output (SQL; every output row links to the row it came from)."""

    kind: ClassVar[Kind] = Kind.GENERATE
    Config = AssembleConfig
    domain = "knowledge"
    tags = ("sft", "format", "knowledge")

    def input_columns(self) -> list[str]:
        c = self.config
        return [c.instruction_key, c.output_key, *([c.input_key] if c.input_key else []), *c.keep_columns]

    def output_columns(self) -> list[str]:
        return ["instruction", "input", "output", *self.config.keep_columns]

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        c = self.config
        q = quote_ident
        inp = f"coalesce(s.{q(c.input_key)}::VARCHAR, '')" if c.input_key else "''"
        instr = f"{quote_literal(c.instruction_prefix)} || trim(s.{q(c.instruction_key)}::VARCHAR)"
        keep = "".join(f", s.{q(k)}" for k in c.keep_columns)
        ctx.con.execute(
            f"CREATE VIEW {q(ctx.target)} AS SELECT {derived_id_sql(f's.{ID}', self.fingerprint())} AS {ID}, "
            f"[s.{ID}] AS {PARENTS}, {instr} AS instruction, {inp} AS input, "
            f"trim(s.{q(c.output_key)}::VARCHAR) AS output{keep} FROM {q(ctx.source or '')} s "
            f"WHERE nullif(trim(s.{q(c.instruction_key)}::VARCHAR), '') IS NOT NULL "
            f"AND nullif(trim(s.{q(c.output_key)}::VARCHAR), '') IS NOT NULL ORDER BY s.__pos"
        )
        return {}
