"""Prompted Text-to-SQL generators and the question/SQL consistency filter (DataFlow's SQLGenerator,
Text2SQLQuestionGenerator, SQLConsistencyFilter, Text2SQLCoTGenerator and SQLVariationGenerator)."""

from dataclasses import replace
from typing import Any, ClassVar

from operators.core.contract import Kind, OperatorContext, quote_ident
from operators.core.registry import register
from operators.text2sql import prompts
from operators.text2sql.base import DBLLMConfig, DBLLMOperator, FanOutMixin, LLMFilterMixin


class SQLGeneratorConfig(DBLLMConfig):
    complexities: list[str] = ["simple single-table", "two-table JOIN", "GROUP BY aggregate"]
    one_per_database: bool = True  # input rows repeating a db_id do not multiply the prompts
    output_key: str = "sql"
    max_tokens: int = 160


@register
class SQLGenerator(FanOutMixin, DBLLMOperator):
    """Writes one SELECT query per (database, complexity) pair from the database's schema.

    Input rows name databases (``db_id``); output rows carry ``db_id``, ``complexity`` and the SQL.
    Follow it with SQLExecutionFilter: nothing here guarantees the query runs.
    """

    kind: ClassVar[Kind] = Kind.GENERATE
    Config = SQLGeneratorConfig
    default_prompt = prompts.SQL_GENERATION
    tags = ("llm", "sql", "synthesis")
    uses = ()
    fan_column = "complexity"

    def fan_values(self) -> list[str]:
        return list(self.config.complexities)

    output_property = "sql"

    def output_columns(self) -> list[str]:
        return [self.fan_column, self.config.output_key]

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        if self.config.one_per_database:
            view, db = f"{ctx.target}__dbs", quote_ident(self.config.db_id_key)
            ctx.con.execute(
                f"CREATE VIEW {quote_ident(view)} AS SELECT * FROM {quote_ident(ctx.source or '')} "
                f"QUALIFY row_number() OVER (PARTITION BY {db} ORDER BY __pos) = 1"
            )
            ctx = replace(ctx, source=view)
        return super().run(self.fan_out(ctx))


class QuestionConfig(DBLLMConfig):
    output_key: str = "question"
    max_tokens: int = 96


@register
class SQLQuestionGenerator(DBLLMOperator):
    """Writes the natural-language question a SQL query answers (reverse of Text-to-SQL)."""

    kind: ClassVar[Kind] = Kind.GENERATE
    Config = QuestionConfig
    default_prompt = prompts.QUESTION_FROM_SQL
    tags = ("llm", "sql", "question")
    uses = ("sql",)

    output_property = "question"


class ConsistencyConfig(DBLLMConfig):
    max_tokens: int = 16


@register
class SQLConsistencyFilter(LLMFilterMixin, DBLLMOperator):
    """LLM judge: keeps rows whose SQL (and its actual result) answers the row's question."""

    Config = ConsistencyConfig
    default_prompt = prompts.CONSISTENCY
    tags = ("llm", "sql", "judge", "filter")
    uses = ("sql", "question")
    verdict_column = "consistent"

    def outputs(self) -> dict[str, str]:
        return {"consistent": "consistent"}

    def output_columns(self) -> list[str]:
        return []


class CoTConfig(DBLLMConfig):
    reasoning_key: str = "cot_reasoning"
    predicted_sql_key: str = "cot_sql"
    max_tokens: int = 320  # room for 400 chars of reasoning + 400 of SQL; less truncates the JSON


@register
class Text2SQLCoTGenerator(DBLLMOperator):
    """Writes step-by-step reasoning from question to SQL, ending in the model's own query.

    Pair with SQLResultMatchEvaluator (``predicted_key=cot_sql``) to keep only chains whose final
    query returns the gold query's result, as DataFlow verifies its CoT.
    """

    kind: ClassVar[Kind] = Kind.GENERATE
    Config = CoTConfig
    default_prompt = prompts.COT
    tags = ("llm", "sql", "cot", "reasoning")
    uses = ("sql", "question")

    def outputs(self) -> dict[str, str]:
        return {"reasoning": self.config.reasoning_key, "sql": self.config.predicted_sql_key}


class VariationConfig(DBLLMConfig):
    variations: list[str] = [
        "adds or changes a WHERE condition",
        "aggregates the same data with GROUP BY",
    ]
    output_key: str = "sql"
    max_tokens: int = 160


def _sql_shape(col: str) -> str:
    """SQL text with case, runs of whitespace and trailing semicolons ignored (for identity tests)."""
    return f"trim(regexp_replace(regexp_replace(lower({col}), '[;\\s]+$', ''), '\\s+', ' ', 'g'))"


@register
class SQLVariationGenerator(FanOutMixin, DBLLMOperator):
    """Writes variants of each SQL query (one per listed variation); the variant replaces ``sql`` and the
    original is kept in ``source_sql``. Re-run SQLExecutionFilter on the output."""

    kind: ClassVar[Kind] = Kind.GENERATE
    Config = VariationConfig
    default_prompt = prompts.VARIATION
    tags = ("llm", "sql", "augmentation")
    uses = ("sql",)
    fan_column = "variation"

    def fan_values(self) -> list[str]:
        return list(self.config.variations)

    def outputs(self) -> dict[str, str]:
        return {"sql": "__variant_sql"}

    def output_columns(self) -> list[str]:
        return [self.fan_column, "source_sql", self.config.output_key]

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        stats = super().run(self.fan_out(ctx))
        count = "SELECT (SELECT count(*) FROM {}) - (SELECT count(*) FROM {})"
        pre, tgt = quote_ident(ctx.target + "__pre"), quote_ident(ctx.target)
        stats["identical_variations_dropped"] = int(ctx.con.execute(count.format(pre, tgt)).fetchall()[0][0])
        return stats

    def assemble(self, ctx: OperatorContext, cols: list[str]) -> None:
        super().assemble(ctx, cols)
        # rename: the variant becomes the row's SQL, the original is kept for lineage
        tgt, key = quote_ident(ctx.target), quote_ident(self.config.sql_key)
        out = quote_ident(self.config.output_key)
        ctx.con.execute(f"ALTER VIEW {tgt} RENAME TO {quote_ident(ctx.target + '__pre')}")
        # a "variation" that is its source again (modulo case, spacing, a trailing ';') adds nothing: dropped
        same = f"{_sql_shape(key)} = {_sql_shape('__variant_sql')}"
        ctx.con.execute(
            f"CREATE VIEW {tgt} AS SELECT * EXCLUDE ({key}, __variant_sql), {key} AS source_sql, "
            f"__variant_sql AS {out} FROM {quote_ident(ctx.target + '__pre')} WHERE NOT coalesce({same}, false)"
        )
