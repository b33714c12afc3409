"""QAExtractor: question/answer lists (DataFlow's ``QA_pairs``) flattened into an SFT table.

After DataFlow's knowledge-cleaning QAExtractor: each row's ``QA_pairs`` value (a list of
``{question, answer}`` objects, or an object holding that list under ``qa_pairs``) becomes one row
per pair with a fixed ``instruction`` and the question and answer as ``input``/``output``; pairs
missing either side are skipped. JSON unnesting in DuckDB, one query; each row links to its parent.
DataFlow reads chunk files when the column is absent; here the column must be there (FileIngestor and
the chunking steps put documents into tables first).
"""

from typing import Any, ClassVar

from operators.core.contract import DataflowKey, Kind, OpConfig, Operator, OperatorContext, quote_ident, quote_literal
from operators.core.registry import register
from operators.core.rowids import ID, PARENTS, derived_id_sql
from operators.core.sql_ops import POS


class QAExtractConfig(OpConfig):
    dataflow_keys: ClassVar[dict[str, DataflowKey]] = {
        "input_qa_key": DataflowKey("input_key"),
        "input_instruction": DataflowKey("instruction"),
        "output_json_file": DataflowKey(refuse="the table is the output; export it with `dataflow-dagster export`"),
    }
    input_key: str = "QA_pairs"
    instruction: str = "Please answer the following question based on the provided information."
    output_instruction_key: str = "instruction"
    output_question_key: str = "input"
    output_answer_key: str = "output"


@register
class QAExtractor(Operator):
    """One instruction/input/output row per question-answer pair in ``input_key``."""

    kind: ClassVar[Kind] = Kind.GENERATE
    Config = QAExtractConfig
    domain = "knowledge"
    tags = ("qa", "sft", "knowledge", "format")
    dataflow_note = "the QA_pairs column must exist (DataFlow falls back to reading chunk files)"

    def input_columns(self) -> list[str]:
        return [self.config.input_key]

    def output_columns(self) -> list[str]:
        c = self.config
        return [c.output_instruction_key, c.output_question_key, c.output_answer_key]

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        c, q = self.config, quote_ident
        j = f"to_json(s.{q(c.input_key)})"
        pairs = (
            f"CASE json_type({j}) WHEN 'ARRAY' THEN {j} "
            f"WHEN 'OBJECT' THEN CASE json_type({j}->'qa_pairs') WHEN 'ARRAY' THEN {j}->'qa_pairs' "
            f"WHEN 'OBJECT' THEN to_json([{j}->'qa_pairs']) END END"
        )
        flat = (
            f"SELECT s.{ID} AS __parent, s.{POS} AS __p, unnest(range(json_array_length(__l)::BIGINT)) AS __k, __l "
            f"FROM (SELECT *, {pairs} AS __l FROM {q(ctx.source or '')} s) s WHERE __l IS NOT NULL"
        )
        item = "json_extract(__l, '$[' || __k || ']')"
        side = "nullif(trim(json_extract_string({item}, '$.{key}')), '')"
        question, answer = side.format(item=item, key="question"), side.format(item=item, key="answer")
        ctx.con.execute(
            f"CREATE VIEW {q(ctx.target)} AS SELECT {derived_id_sql('__parent', self.fingerprint(), '__k')} AS {ID}, "
            f"[__parent] AS {PARENTS}, {quote_literal(c.instruction)} AS {q(c.output_instruction_key)}, "
            f"__q AS {q(c.output_question_key)}, __a AS {q(c.output_answer_key)} "
            f"FROM (SELECT *, {question} AS __q, {answer} AS __a FROM ({flat})) "
            f"WHERE __q IS NOT NULL AND __a IS NOT NULL ORDER BY __p, __k"
        )
        return {"pairs": ctx.count(ctx.target)}
