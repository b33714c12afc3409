"""Shared plumbing of the Text-to-SQL operators: database-bound configs, prompts that see the schema,
and "fan-out" generation (one input row -> one LLM call per listed variant).
"""

from dataclasses import replace
from typing import Any, ClassVar

from operators.core.contract import Kind, OpConfig, OperatorContext, OperatorError, quote_ident, quote_literal
from operators.core.llm_ops import LLMConfig, LLMOperator
from operators.core.prompt import PromptTemplate
from operators.core.rowids import ID, PARENTS, derived_id_sql
from operators.text2sql.database import DatabaseSet

FAN_PARENT = "_fan_parent"


class DBConfig(OpConfig):
    db_root: str
    db_id_key: str = "db_id"
    sql_key: str = "sql"
    timeout_s: float = 5.0  # wall clock per query; the worker process is killed past it
    max_rows: int = 1000
    memory_mb: int = 1024  # address-space limit of the SQL worker process
    max_result_bytes: int = 16 * 2**20  # a result (or one value) larger than this is an error row


class DBLLMConfig(LLMConfig):
    input_key: str = "sql"
    db_root: str
    db_id_key: str = "db_id"
    sql_key: str = "sql"
    question_key: str = "question"
    timeout_s: float = 5.0
    max_rows: int = 1000
    memory_mb: int = 1024
    max_result_bytes: int = 16 * 2**20
    schema_sample_rows: int = 1


class DBLLMOperator(LLMOperator):
    """An LLM step whose prompt may use ``{schema}``, ``{dialect}``, ``{sql}``, ``{question}`` and
    ``{result}`` (the first rows the row's SQL returns), looked up through the row's ``db_id``."""

    Config: ClassVar[type[OpConfig]] = DBLLMConfig
    domain = "text2sql"
    uses: ClassVar[tuple[str, ...]] = ("sql",)  # which of sql/question the operator reads

    def input_columns(self) -> list[str]:
        c = self.config
        keys = {"sql": c.sql_key, "question": c.question_key}  # type: ignore[attr-defined]
        return [c.db_id_key, *[keys[u] for u in self.uses]]  # type: ignore[attr-defined]

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        c = self.config
        self._dbs = DatabaseSet(c.db_root, c.memory_mb, c.max_result_bytes)  # type: ignore[attr-defined]
        try:
            return super().run(ctx)
        finally:
            self._dbs.close()

    def prompt_values(self, row: dict[str, Any], prompt: PromptTemplate) -> dict[str, Any]:
        c = self.config
        db_id = row.get(c.db_id_key)  # type: ignore[attr-defined]
        try:
            db = self._dbs.get(str(db_id))
        except OperatorError as exc:
            raise OperatorError(f"{self.name}: row {row.get(ID)}: {exc}") from None
        values = {f: row.get(f) for f in prompt.fields()}
        values.update(
            schema=db.schema_text(c.schema_sample_rows),
            dialect=db.dialect,  # type: ignore[attr-defined]
            sql=row.get(c.sql_key),
            question=row.get(c.question_key),
        )  # type: ignore[attr-defined]
        if "result" in prompt.fields():
            res = db.execute(row.get(c.sql_key), c.timeout_s, c.max_rows)  # type: ignore[attr-defined]
            values["result"] = res.preview(5)
        return {k: values.get(k) for k in prompt.fields()}


class FanOutMixin:
    """Crosses each input row with a list of variants before prompting: one output row per pair.

    Each pair gets its own id (parent id + operator fingerprint + variant index) so the base LLM loop
    can key answers by row, and the output links back to the original parent in ``_parent_ids``.
    """

    fan_column: ClassVar[str] = "variant"

    def fan_values(self) -> list[str]:
        raise NotImplementedError

    def fan_out(self, ctx: OperatorContext) -> OperatorContext:
        values = self.fan_values()
        if not values:
            raise OperatorError(f"{self.name}: the list of {self.fan_column} values is empty")  # type: ignore[attr-defined]
        lst = "[" + ", ".join(quote_literal(v) for v in values) + "]"
        view = f"{ctx.target}__fan"
        cols = ctx.columns()
        drop = [c for c in (ID, PARENTS, self.fan_column) if c in cols]
        new_id = derived_id_sql(f"s.{ID}", self.fingerprint(), "u.i")  # type: ignore[attr-defined]
        ctx.con.execute(
            f"CREATE VIEW {quote_ident(view)} AS SELECT {new_id} AS {ID}, s.{ID} AS {FAN_PARENT}, "
            f"s.* EXCLUDE ({', '.join(quote_ident(c) for c in drop)}), u.v AS {quote_ident(self.fan_column)} "
            f"FROM {quote_ident(ctx.source or '')} s, "
            f"(SELECT unnest({lst}) AS v, unnest(range(1, len({lst}) + 1)) AS i) u"
        )
        return replace(ctx, source=view)

    def assemble(self, ctx: OperatorContext, cols: list[str]) -> None:
        src, out = quote_ident(ctx.source or ""), quote_ident(f"{ctx.target}__out")
        clash = [c for c in cols if c in set(ctx.columns())]
        excl = ", ".join(quote_ident(c) for c in [FAN_PARENT, *clash])
        new_cols = ", ".join(f"o.{quote_ident(c)}" for c in cols)
        ctx.con.execute(
            f"CREATE VIEW {quote_ident(ctx.target)} AS SELECT s.{ID}, [s.{FAN_PARENT}] AS {PARENTS}, "
            f"s.* EXCLUDE ({ID}, {excl}), {new_cols} FROM {src} s JOIN {out} o USING ({ID})"
        )


class LLMFilterMixin:
    """Turns an LLM judge's verdict column into filter output: kept rows unchanged, the rest (and rows
    whose verdict did not parse) in ``rejected`` with the reason."""

    kind: ClassVar[Kind] = Kind.FILTER
    verdict_column: ClassVar[str] = "verdict"
    keep_value: ClassVar[str] = "yes"

    def assemble(self, ctx: OperatorContext, cols: list[str]) -> None:
        src, out = quote_ident(ctx.source or ""), quote_ident(f"{ctx.target}__out")
        v = f"o.{quote_ident(self.verdict_column)}"
        keep = f"coalesce({v} = {quote_literal(self.keep_value)}, false)"
        base = f"FROM {src} s LEFT JOIN {out} o USING ({ID})"
        ctx.con.execute(f"CREATE VIEW {quote_ident(ctx.target)} AS SELECT s.* {base} WHERE {keep}")
        name = self.name  # type: ignore[attr-defined]
        ctx.con.execute(
            f"CREATE VIEW {quote_ident(ctx.rejected)} AS SELECT s.*, CASE WHEN o.{ID} IS NULL THEN "
            f"{quote_literal(name + ': no parsable verdict (see errors table)')} ELSE "
            f"{quote_literal(name + ': verdict=')} || {v} END AS _reason {base} WHERE NOT {keep}"
        )

    def checks(self) -> list[Any]:
        return []
