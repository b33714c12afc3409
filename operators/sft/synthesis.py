"""Text SFT operators after DataFlow's SFT generator and judge: synthesise instruction/response pairs
from passages, score them with an LLM judge, and convert pretraining text into SFT pairs by rule."""

from typing import Any, ClassVar

from operators.core.contract import Kind, OpConfig, Operator, OperatorContext, OperatorError, quote_ident, quote_literal
from operators.core.llm_ops import LLMConfig, LLMOperator
from operators.core.prompt import PromptTemplate
from operators.core.registry import register
from operators.core.rowids import ID, PARENTS, derived_id_sql

SFT_FROM_PASSAGE = PromptTemplate(
    name="sft_from_passage",
    system="You create instruction-tuning data from reference passages. Reply in JSON.",
    template=(
        "Passage:\n{passage}\n\n"
        "Write one instruction a user might give that this passage helps answer (a question, a request "
        "to explain or summarise), and a helpful response of two to four sentences grounded in the passage."
    ),
    output_schema={
        "type": "object",
        "properties": {
            "instruction": {"type": "string", "minLength": 8, "maxLength": 240},
            "response": {"type": "string", "minLength": 8, "maxLength": 600},
        },
        "required": ["instruction", "response"],
    },
)

SFT_JUDGE = PromptTemplate(
    name="sft_quality_judge",
    system="You grade instruction-tuning examples. Reply in JSON.",
    template=(
        "Instruction: {instruction}\nResponse: {response}\n\n"
        "Grade 1 (unusable) to 5 (excellent): is the instruction clear, does the response follow it, "
        "is it correct, complete and well written?"
    ),
    output_schema={
        "type": "object",
        "properties": {"score": {"type": "integer", "enum": [1, 2, 3, 4, 5]}},
        "required": ["score"],
    },
)


class SFTGenConfig(LLMConfig):
    input_key: str = "text"
    instruction_key: str = "instruction"
    response_key: str = "output"
    max_tokens: int = 256


@register
class InstructionResponseGenerator(LLMOperator):
    """Synthesises one instruction/response pair per passage (a new row linked to the passage)."""

    kind: ClassVar[Kind] = Kind.GENERATE
    Config = SFTGenConfig
    default_prompt = SFT_FROM_PASSAGE
    domain = "sft"
    tags = ("llm", "sft", "synthesis")

    def outputs(self) -> dict[str, str]:
        return {"instruction": self.config.instruction_key, "response": self.config.response_key}


class SFTJudgeConfig(LLMConfig):
    instruction_key: str = "instruction"
    response_key: str = "output"
    output_key: str = "sft_quality"
    max_tokens: int = 16


@register
class SFTQualityJudge(LLMOperator):
    """LLM judge: scores each instruction/response pair 1-5 into ``output_key``; the blocking check
    requires ``min_parsed_share`` of rows to have a score. Filter with ThresholdFilter afterwards."""

    kind: ClassVar[Kind] = Kind.EVALUATE
    Config = SFTJudgeConfig
    default_prompt = SFT_JUDGE
    domain = "sft"
    tags = ("llm", "sft", "judge", "score")

    def input_columns(self) -> list[str]:
        return [self.config.instruction_key, self.config.response_key]

    output_property = "score"

    def prompt_values(self, row: dict[str, Any], prompt: PromptTemplate) -> dict[str, Any]:
        return {"instruction": row.get(self.config.instruction_key), "response": row.get(self.config.response_key)}


_SENT = r"[^.!?\x{3002}\x{ff01}\x{ff1f}]+(?:[.!?\x{3002}\x{ff01}\x{ff1f}]+[\"'\x{201d}\x{2019})\]]*|$)"
_WS = r"[\t\n\x0b\x0c\r\x1c-\x1f \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]+"


class PretrainToSFTConfig(OpConfig):
    input_key: str = "text"
    instruction: str = "Continue the following text."
    prefix_share: float = 0.5  # share of the sentences that goes into the input
    min_sentences: int = 2  # texts with fewer sentences cannot be split and are skipped


@register
class PretrainToSFTConverter(Operator):
    """Turns a pretraining passage into a continuation pair by rule (SQL, no model): the first
    ``prefix_share`` of its sentences (at least one) become ``input``, the rest ``output``, under a fixed
    ``instruction``. Passages with fewer than ``min_sentences`` sentences yield no row."""

    kind: ClassVar[Kind] = Kind.GENERATE
    Config = PretrainToSFTConfig
    domain = "sft"
    tags = ("sft", "pretrain", "format", "rule")

    def __init__(self, config: OpConfig | None = None, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        if not 0 < self.config.prefix_share < 1 or self.config.min_sentences < 2:
            raise OperatorError(f"{self.name}: need 0 < prefix_share < 1 and min_sentences >= 2")

    def input_columns(self) -> list[str]:
        return [self.config.input_key]

    def output_columns(self) -> list[str]:
        return ["instruction", "input", "output"]

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        c = self.config
        col = quote_ident(c.input_key)
        sent = _SENT.replace("'", "''")
        sents = (
            f"list_filter(list_transform(regexp_extract_all(s.{col}, '{sent}'), "
            f"lambda x: trim(regexp_replace(x, '{_WS}', ' ', 'g'))), lambda x: x <> '')"
        )
        cols = ctx.columns()
        drop = ", ".join(quote_ident(x) for x in (ID, PARENTS, "instruction", "input", "output") if x in cols)
        cut = f"least(greatest(round(len(__s) * {float(c.prefix_share)!r})::INTEGER, 1), len(__s) - 1)"
        ctx.con.execute(
            f"CREATE VIEW {quote_ident(ctx.target)} AS SELECT {derived_id_sql(ID, self.fingerprint())} AS {ID}, "
            f"[{ID}] AS {PARENTS}, * EXCLUDE ({drop}, __s), {quote_literal(c.instruction)} AS instruction, "
            f"array_to_string(__s[1:{cut}], ' ') AS input, array_to_string(__s[{cut} + 1:], ' ') AS output "
            f"FROM (SELECT s.*, {sents} AS __s FROM {quote_ident(ctx.source or '')} s WHERE s.{col} IS NOT NULL) "
            f"WHERE len(__s) >= {int(c.min_sentences)} ORDER BY __pos"
        )
        return {}
