"""AgenticRAGDepthQAGenerator: questions made deeper by backward search, round after round.

After DataFlow's operator of that name: from a question's answer-bearing entity (the "identifier"),
each round finds a broader entity related to it (the new identifier and the relation) and rewrites
the question so that answering it needs that extra hop; round ``i`` writes ``new_identifier_i``,
``relation_i`` and ``<output_key>_i``. DataFlow spends four calls per round (backward step, superset
check, new question, and a recall check that drops questions the model already answers); here one
request per row returns all ``n_rounds`` rounds in one JSON object, each built on the one before,
and there is no superset or recall check. Rows whose answer does not parse make no row, as rows that
fail a stage leave DataFlow's table.
"""

from typing import Any, ClassVar

from pydantic import Field

from operators.core.contract import Kind
from operators.core.llm import LLMResponse
from operators.core.llm_ops import LLMConfig, LLMOperator
from operators.core.prompt import PromptTemplate
from operators.core.registry import register

_ROUND = {
    "type": "object",
    "properties": {
        "identifier": {"type": "string", "minLength": 1, "maxLength": 80},
        "relation": {"type": "string", "minLength": 1, "maxLength": 120},
        "question": {"type": "string", "minLength": 10, "maxLength": 300},
    },
    "required": ["identifier", "relation", "question"],
}
_FIELDS = {"identifier": "new_identifier_{i}", "relation": "relation_{i}", "question": "{out}_{i}"}


class DepthConfig(LLMConfig):
    input_key: str = "question"
    output_key: str = "depth_question"
    n_rounds: int = Field(default=2, ge=1, le=5)
    max_tokens: int = 400


@register
class AgenticRAGDepthQAGenerator(LLMOperator):
    """``n_rounds`` successively deeper versions of each question, with the entity and relation of each hop."""

    kind: ClassVar[Kind] = Kind.GENERATE
    Config = DepthConfig
    domain = "agentic_rag"
    tags = ("llm", "rag", "multi-hop", "question", "synthesis")
    dataflow_fidelity = "approximated"
    dataflow_note = "one request returns every round; no separate superset check or recall-based drop"

    default_prompt = PromptTemplate(
        name="agentic_rag_depth",
        system="You write multi-hop questions for retrieval training. Reply in JSON.",
        template=(
            "Question:\n{question}\n\n"
            "Make this question deeper in {n_rounds} rounds. In each round, take the entity the current question "
            "is about (`identifier`), name a broader or related entity that identifies it indirectly and "
            "the `relation` between them, and rewrite the question so it refers to the entity only through "
            "that relation (`question`). Each round starts from the previous round's question."
        ),
        output_schema={
            "type": "object",
            "properties": {"rounds": {"type": "array", "minItems": 1, "maxItems": 5, "items": _ROUND}},
            "required": ["rounds"],
        },
    )

    def _column(self, prop: str, i: int) -> str:
        return _FIELDS[prop].format(i=i, out=self.config.output_key)

    def output_columns(self) -> list[str]:
        return [self._column(p, i) for i in range(1, self.config.n_rounds + 1) for p in _FIELDS]

    def _column_types(self, schema: dict[str, Any] | None) -> dict[str, str]:
        return dict.fromkeys(self.output_columns(), "VARCHAR")

    def prompt_values(self, row: dict[str, Any], prompt: PromptTemplate) -> dict[str, Any]:
        return {"question": row.get(self.config.input_key), "n_rounds": self.config.n_rounds}

    def outputs(self) -> dict[str, str]:
        return {"rounds": "__rounds"}

    def request_schema(self, schema: dict[str, Any] | None) -> dict[str, Any] | None:
        if not schema or "rounds" not in schema.get("properties", {}):  # a user's own template
            return schema
        n = self.config.n_rounds
        rounds = {**schema["properties"]["rounds"], "minItems": n, "maxItems": n}
        return {**schema, "properties": {**schema["properties"], "rounds": rounds}}

    def parse(self, resp: LLMResponse, schema: dict[str, Any] | None) -> dict[str, Any]:
        rounds = super().parse(resp, schema)["__rounds"]
        if len(rounds) != self.config.n_rounds:
            raise ValueError(f"{len(rounds)} rounds instead of n_rounds={self.config.n_rounds}")
        return {self._column(p, i): r[p] for i, r in enumerate(rounds, start=1) for p in _FIELDS}
