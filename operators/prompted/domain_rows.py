"""DataFlow's RandomDomainKnowledgeRowGenerator: SFT samples written from scratch, one domain each."""

from typing import Any, ClassVar

from pydantic import Field

from operators.core.contract import Kind, OperatorContext, quote_ident, quote_literal
from operators.core.llm_ops import LLMConfig
from operators.core.prompt import PromptTemplate
from operators.core.registry import register
from operators.core.request_table import RequestTableOperator
from operators.core.rowids import ID, derived_id_sql


def _text(max_len: int, min_len: int = 0) -> dict[str, Any]:
    return {"type": "string", "minLength": min_len, "maxLength": max_len}


SFT_FROM_SCRATCH = PromptTemplate(
    name="sft_sample_from_scratch",
    system="You create diverse, realistic supervised fine-tuning samples. Reply in JSON.",
    template=(
        "Write sample {number} of {total} of a training set in the domain: {domain}.\n"
        "- instruction: a realistic user request (vary style and difficulty from sample to sample)\n"
        "- input: extra context the request needs, or an empty string\n"
        "- output: an accurate, helpful expert answer\n"
        "- domain: the domain of the sample\n"
        'Example from another domain: {{"instruction": "Why do onions make people cry?", "input": "", '
        '"output": "Cutting an onion releases a gas, syn-propanethial-S-oxide, that irritates the eyes.", '
        '"domain": "chemistry"}}'
    ),
    output_schema={
        "type": "object",
        "properties": {
            "instruction": _text(300, 10),
            "input": _text(300),
            "output": _text(700, 10),
            "domain": _text(40, 2),
        },
        "required": ["instruction", "input", "output", "domain"],
    },
)


class DomainRowsConfig(LLMConfig):
    input_key: str = "text"  # unused: the input's rows are not read (DataFlow runs it on an empty table)
    output_key: str = "generated_content"
    generation_num: int = Field(default=1, ge=1, le=100_000)
    domain_keys: str = ""  # comma-separated domains; empty: the model picks
    temperature: float = 0.8
    max_tokens: int = 560


@register
class RandomDomainKnowledgeRowGenerator(RequestTableOperator):
    """Writes ``generation_num`` new SFT samples, each in a domain drawn from ``domain_keys``; the
    sample's JSON goes to ``output_key`` and its fields to instruction/input/output/domain columns."""

    kind: ClassVar[Kind] = Kind.GENERATE
    Config = DomainRowsConfig
    default_prompt = SFT_FROM_SCRATCH
    domain = "general"
    tags = ("llm", "sft", "synthesis", "from-scratch")
    dataflow_fidelity = "approximated"
    dataflow_note = (
        "each request names one domain drawn (seeded) from domain_keys and its sample number, so the N requests "
        "differ (DataFlow sends N identical prompts listing all domains); the sample is asked as JSON and also "
        "split into instruction/input/output/domain columns; input rows are not read"
    )

    def input_columns(self) -> list[str]:
        return []

    def requests_sql(self, src: str) -> str:
        c = self.config
        domains = [d.strip() for d in c.domain_keys.split(",") if d.strip()] or ["any domain you choose"]
        listed = "[" + ", ".join(quote_literal(d) for d in domains) + "]"
        pick = f"(hash(i::VARCHAR || ':' || {quote_literal(str(c.seed))}) % {len(domains)})::BIGINT + 1"
        return (
            f"SELECT {derived_id_sql(quote_literal('scratch'), self.fingerprint(), 'i')} AS {ID}, i AS __i, "
            f"i + 1 AS number, {int(c.generation_num)} AS total, {listed}[{pick}] AS domain "
            f"FROM range({int(c.generation_num)}) g(i)"
        )

    def request_columns(self, ctx: OperatorContext) -> list[str]:
        return ["number", "total", "domain"]

    def prompt_values(self, row: dict[str, Any], prompt: PromptTemplate) -> dict[str, Any]:
        return {k: row.get(k) for k in ("number", "total", "domain")}

    def assemble_from(self, ctx: OperatorContext, requests: str, source: str, cols: list[str]) -> None:
        fields = ", ".join(f"{quote_ident(c)} := o.{quote_ident(c)}" for c in cols)
        sample = f"to_json(struct_pack({fields}))::VARCHAR AS {quote_ident(self.config.output_key)}"
        self.new_rows(ctx, requests, ", ".join([*(f"o.{quote_ident(c)}" for c in cols), sample]))

    def output_columns(self) -> list[str]:
        return [*self.outputs().values(), self.config.output_key]
