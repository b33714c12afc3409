"""DataFlow's Text2MultiHopQAGenerator: multi-hop questions from windows of consecutive sentences.

Like DataFlow, a text qualifies when it is 100..200,000 characters long, has at least two sentence
ends and at most 30% characters that are neither letters, digits nor spaces; each window of three
consecutive sentences whose first two are over 10 characters is one request ("premise.
intermediate. conclusion"), and the row gets the list of QA pairs (question, reasoning_steps,
answer, supporting_facts, type) plus metadata; rows with no pair are dropped. Sentences, windows and
the quality rules are SQL; the per-window requests go through the shared prompted-step loop.
"""

from typing import Any, ClassVar, Literal

from pydantic import Field

from operators.core.contract import CheckSpec, Kind, OperatorContext, quote_ident, quote_literal
from operators.core.llm_ops import LLMConfig
from operators.core.prompt import PromptTemplate
from operators.core.registry import register
from operators.core.request_table import RequestTableOperator
from operators.core.rowids import ID, derived_id_sql

_SHORT = {"type": "string", "minLength": 1, "maxLength": 160}
PAIR_FIELDS = ("question", "reasoning_steps", "answer", "supporting_facts", "type")

MULTIHOP_FROM_TEXT = PromptTemplate(
    name="text_to_multihop_qa",
    system="You write multi-hop reading-comprehension questions. Reply in JSON.",
    template=(
        "Context:\n{context}\n\n"
        "Write one question whose answer needs at least two of these sentences together. Give the "
        "reasoning steps, the short answer, the sentences used as supporting facts, and the question type "
        "(e.g. bridge, comparison)."
    ),
    output_schema={
        "type": "object",
        "properties": {
            "question": {"type": "string", "minLength": 8, "maxLength": 200},
            "reasoning_steps": {"type": "array", "minItems": 1, "maxItems": 3, "items": _SHORT},
            "answer": {"type": "string", "minLength": 1, "maxLength": 120},
            "supporting_facts": {"type": "array", "minItems": 1, "maxItems": 3, "items": _SHORT},
            "type": {"type": "string", "minLength": 3, "maxLength": 20},
        },
        "required": list(PAIR_FIELDS),
    },
)


class Text2MultiHopConfig(LLMConfig):
    input_key: str = "cleaned_chunk"
    output_key: str = "QA_pairs"
    output_meta_key: str = "QA_metadata"
    num_q: int = Field(default=5, ge=1, le=100)
    lang: Literal["en", "zh"] = "en"
    min_text_length: int = 100
    max_text_length: int = 200_000
    max_tokens: int = 560


@register
class Text2MultiHopQAGenerator(RequestTableOperator):
    """Adds ``output_key`` (up to ``num_q`` multi-hop QA pairs) and ``output_meta_key`` to each
    qualifying text; texts that yield no pair are dropped, as in DataFlow."""

    kind: ClassVar[Kind] = Kind.REFINE
    Config = Text2MultiHopConfig
    default_prompt = MULTIHOP_FROM_TEXT
    domain = "rag"
    tags = ("llm", "qa", "multihop", "synthesis")
    dataflow_fidelity = "approximated"
    dataflow_note = (
        "only the first num_q sentence windows are sent (DataFlow asks for every window and keeps the first "
        "num_q answers that parse); metadata is {source, windows, pairs} instead of {source, timestamp, complexity}"
    )

    def checks(self) -> list[CheckSpec]:
        """The parsed-share check reads the pairs column this step writes; the base check would read the
        per-request ``question`` field, which only the request table has (the check failed to bind)."""
        c = self.config
        return [
            self.error_share_check(),
            CheckSpec(
                name="parsed_share",
                metric_sql=f"avg(CASE WHEN len(t.{quote_ident(c.output_key)}) > 0 THEN 1.0 ELSE 0.0 END)",
                op=">=",
                threshold=c.min_parsed_share,
                description=f"share of rows with at least one parsed QA pair in `{c.output_key}`",
            ),
        ]

    def output_columns(self) -> list[str]:
        return [self.config.output_key, self.config.output_meta_key]

    def _column_types(self, schema: dict[str, Any] | None) -> dict[str, str]:
        return {f: "VARCHAR[]" if f in ("reasoning_steps", "supporting_facts") else "VARCHAR" for f in PAIR_FIELDS}

    def outputs(self) -> dict[str, str]:
        return {f: f for f in PAIR_FIELDS}

    def requests_sql(self, src: str) -> str:
        c = self.config
        sep = quote_literal("." if c.lang == "en" else "。")
        t = quote_ident(c.input_key)
        special = f"length(regexp_replace(trim({t}), '[\\p{{L}}\\p{{N}}\\s\\p{{Z}}]', '', 'g'))"

        def ends(mark: str) -> str:
            return f"length({t}) - length(replace({t}, {quote_literal(mark)}, ''))"

        qualifies = (
            f"length(trim({t})) BETWEEN {int(c.min_text_length)} AND {int(c.max_text_length)} "
            f"AND greatest({ends('.')}, {ends('。')}) >= 2 "
            f"AND {special} <= 0.3 * length(trim({t}))"
        )
        sentences = f"list_filter(list_transform(string_split(trim({t}), {sep}), lambda x: trim(x)), lambda x: x <> '')"
        return f"""
            SELECT {derived_id_sql(f"{ID}", self.fingerprint(), "k")} AS {ID}, {ID} AS __parent, k AS __k,
                   s[k] || '. ' || s[k + 1] || '. ' || s[k + 2] AS context
            FROM (SELECT {ID}, s, unnest(list_filter(range(1, greatest(len(s) - 1, 1)),
                         lambda k: length(s[k]) > 10 AND length(s[k + 1]) > 10)) AS k
                  FROM (SELECT {ID}, {sentences} AS s FROM {src} WHERE {qualifies}))
            QUALIFY row_number() OVER (PARTITION BY __parent ORDER BY k) <= {int(c.num_q)}
        """

    def request_columns(self, ctx: OperatorContext) -> list[str]:
        return ["context"]

    def prompt_values(self, row: dict[str, Any], prompt: PromptTemplate) -> dict[str, Any]:
        return {"context": row.get("context")}

    def assemble_from(self, ctx: OperatorContext, requests: str, source: str, cols: list[str]) -> None:
        c = self.config
        out = quote_ident(f"{ctx.target}__out")
        pair = ", ".join(f"{quote_ident(f)} := o.{quote_ident(f)}" for f in PAIR_FIELDS)
        qa, meta = quote_ident(c.output_key), quote_ident(c.output_meta_key)
        clash = [x for x in (c.output_key, c.output_meta_key) if x in set(ctx.columns(source))]
        excl = f" EXCLUDE ({', '.join(quote_ident(x) for x in clash)})" if clash else ""
        ctx.con.execute(f"""
            CREATE VIEW {quote_ident(ctx.target)} AS
            SELECT s.*{excl}, a.pairs AS {qa},
                   struct_pack(source := {quote_literal(c.input_key)}, windows := w.n, pairs := len(a.pairs)) AS {meta}
            FROM {quote_ident(source)} s
            JOIN (SELECT r.__parent AS {ID}, list(struct_pack({pair}) ORDER BY r.__k) AS pairs
                  FROM {quote_ident(requests)} r JOIN {out} o USING ({ID}) GROUP BY r.__parent) a USING ({ID})
            JOIN (SELECT __parent AS {ID}, count(*) AS n FROM {quote_ident(requests)} GROUP BY __parent) w USING ({ID})
        """)
