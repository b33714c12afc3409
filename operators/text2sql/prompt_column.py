"""Text2SQLPromptGenerator: the Text-to-SQL training prompt (schema + evidence + question) as a column.

After DataFlow's operator of that name, which writes the prompt a text-to-SQL model is fine-tuned on.
The schema is ``Database.schema_text`` (CREATE statements and a sample row per table), read once per
distinct ``db_id`` into a small table; the prompt is assembled by one DuckDB join, so a million
questions over twenty databases open twenty databases. The wording is ours, not DataFlow's template.
"""

from typing import Any, ClassVar

from operators.core.batches import insert_rows
from operators.core.contract import DataflowKey, Kind, OpConfig, Operator, OperatorContext, quote_ident, quote_literal
from operators.core.registry import register
from operators.text2sql.database import open_databases

PROMPT_HEAD = "Database engine: "
PROMPT_INSTRUCTIONS = (
    "Write one read-only SQL query that answers the question, using only the tables and columns above. "
    "Think step by step, then give the final query in a ```sql code block."
)


class PromptColumnConfig(OpConfig):
    dataflow_keys: ClassVar[dict[str, DataflowKey]] = {
        "input_question_key": DataflowKey("question_key"),
        "input_db_id_key": DataflowKey("db_id_key"),
        "input_evidence_key": DataflowKey("evidence_key"),
        "output_prompt_key": DataflowKey("output_key"),
        "database_manager": DataflowKey(refuse="set db_root to the folder holding <db_id>.sqlite / .duckdb"),
    }
    db_root: str
    db_id_key: str = "db_id"
    question_key: str = "question"
    evidence_key: str | None = "evidence"  # a missing column or NULL value leaves the evidence line out
    output_key: str = "prompt"
    schema_sample_rows: int = 1


@register
class Text2SQLPromptGenerator(Operator):
    """Adds ``output_key``: the dialect, the row's database schema, its evidence and question, and the
    instruction to answer with one SQL query; rows whose ``db_id`` has no database fail the step naming it."""

    kind: ClassVar[Kind] = Kind.EVALUATE
    Config = PromptColumnConfig
    domain = "text2sql"
    tags = ("sql", "prompt", "schema", "sft")
    dataflow_fidelity = "approximated"
    dataflow_note = "same fields (dialect, schema, evidence, question); the prompt wording is ours"

    def input_columns(self) -> list[str]:
        return [self.config.db_id_key, self.config.question_key]

    def output_columns(self) -> list[str]:
        return [self.config.output_key]

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        c, q, con = self.config, quote_ident, ctx.con
        src = q(ctx.source or "")
        db_ids = [r[0] for r in con.execute(f"SELECT DISTINCT CAST({q(c.db_id_key)} AS VARCHAR) FROM {src}").fetchall()]
        con.execute("CREATE TABLE __schemas (__db VARCHAR, __dialect VARCHAR, __schema VARCHAR)")
        with open_databases(c.db_root) as dbs:
            found = [dbs.get(str(d)) for d in db_ids]  # raises with the db_id and the layouts looked for
            schemas = [db.schema_text(c.schema_sample_rows) for db in found]
            dialects = [str(db.dialect) for db in found]
        insert_rows(ctx, "__schemas", {"__db": db_ids, "__dialect": dialects, "__schema": schemas})
        has_evidence = c.evidence_key is not None and c.evidence_key in ctx.columns()
        evidence = (
            f"coalesce('Evidence: ' || nullif(trim(CAST(s.{q(c.evidence_key or '')} AS VARCHAR)), '') || chr(10), '')"
            if has_evidence
            else "''"
        )
        prompt = (
            f"{quote_literal(PROMPT_HEAD)} || d.__dialect || chr(10) || chr(10) || 'Database schema:' || chr(10) || "
            f"d.__schema || chr(10) || chr(10) || {evidence} || 'Question: ' || "
            f"coalesce(CAST(s.{q(c.question_key)} AS VARCHAR), '') || chr(10) || chr(10) || "
            f"{quote_literal(PROMPT_INSTRUCTIONS)}"
        )
        excl = f" EXCLUDE ({q(c.output_key)})" if c.output_key in ctx.columns() else ""
        con.execute(
            f"CREATE VIEW {q(ctx.target)} AS SELECT s.*{excl}, {prompt} AS {q(c.output_key)} FROM {src} s "
            f"LEFT JOIN __schemas d ON CAST(s.{q(c.db_id_key)} AS VARCHAR) = d.__db ORDER BY s.__pos"
        )
        return {"databases": len(db_ids)}
