"""DataFlow's CodeInstructionGenerator: new programming tasks written after a few sampled examples."""

from typing import Any, ClassVar

from pydantic import Field

from operators.core.contract import Kind, OperatorContext, OperatorError, quote_ident, quote_literal
from operators.core.llm_ops import LLMConfig
from operators.core.prompt import PromptTemplate
from operators.core.registry import register
from operators.core.request_table import RequestTableOperator
from operators.core.rowids import ID, PARENTS, derived_id_sql

FEW_SHOT_PROMPT = PromptTemplate(
    name="code_instruction_from_examples",
    system="You write programming tasks. Reply in JSON.",
    template=(
        "Here are example programming tasks:\n\n{examples}\n\n"
        "Write new task number {number}: ONE task of similar difficulty and style, a self-contained Python "
        "function to implement, with its name, inputs, output and one example call. Do not copy or lightly "
        "edit an example."
    ),
    output_schema={
        "type": "object",
        "properties": {"instruction": {"type": "string", "minLength": 20, "maxLength": 600}},
        "required": ["instruction"],
    },
)


class PoolConfig(LLMConfig):
    input_key: str = "prompt"
    output_key: str = "generated_instruction"
    num_few_shot: int = Field(default=3, ge=1, le=20)
    num_generate: int = Field(default=10, ge=1, le=100_000)
    temperature: float = 0.7  # the examples differ per request; sampling adds variety on top
    max_tokens: int = 420


@register
class CodeInstructionGenerator(RequestTableOperator):
    """Writes ``num_generate`` new instructions, each after ``num_few_shot`` examples sampled from the
    input pool; the new rows' ``_parent_ids`` are the examples they were shown."""

    kind: ClassVar[Kind] = Kind.GENERATE
    Config = PoolConfig
    default_prompt = FEW_SHOT_PROMPT
    domain = "code"
    tags = ("llm", "code", "instruction", "few-shot", "synthesis")
    output_property = "instruction"
    dataflow_fidelity = "approximated"
    dataflow_note = (
        "examples are drawn per request by a seeded hash (reproducible, like DataFlow's random.seed(42)) and the "
        "request is numbered, so two requests with the same examples still differ; the "
        "answer is asked as JSON {instruction}; the output rows hold only the new instruction, as DataFlow's"
    )

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        pool, need = ctx.count(), self.config.num_few_shot
        if pool < need:
            raise OperatorError(
                f"{self.name}: the input has {pool} rows but num_few_shot={need}; "
                "give it a larger pool or lower num_few_shot"
            )
        return super().run(ctx)

    def requests_sql(self, src: str) -> str:
        c = self.config
        col, salt = quote_ident(c.input_key), quote_literal(f"{self.fingerprint()}:{c.seed}")
        order = f"hash(s.{ID} || ':' || g.i::VARCHAR || ':' || {salt})"
        k = int(c.num_few_shot)  # min_by(.., k): the k lowest hashes per request, streamed, no window sort
        return f"""
            SELECT {derived_id_sql("'pool'", self.fingerprint(), "i")} AS {ID}, i AS __i, i + 1 AS number, {PARENTS},
                   array_to_string(list_transform(range(1, len(ex) + 1),
                       lambda k: 'Example ' || k::VARCHAR || ':' || chr(10) || ex[k]), chr(10) || chr(10)) AS examples
            FROM (SELECT g.i, min_by(s.{col}, {order}, {k}) AS ex, min_by(s.{ID}, {order}, {k}) AS {PARENTS}
                  FROM range({int(c.num_generate)}) g(i) CROSS JOIN {src} s
                  WHERE s.{col} IS NOT NULL GROUP BY g.i)
        """

    def prompt_values(self, row: dict[str, Any], prompt: PromptTemplate) -> dict[str, Any]:
        return {"examples": row.get("examples"), "number": row.get("number")}

    def assemble_from(self, ctx: OperatorContext, requests: str, source: str, cols: list[str]) -> None:
        self.new_rows(ctx, requests, ", ".join([f"r.{PARENTS}", *(f"o.{quote_ident(c)}" for c in cols)]))
