"""Rule operators that execute SQL: the execution filter and the result-match evaluator.

Running a query is per-row work by nature; rows are still read and written as Arrow batches, and
each batch's verdicts land in one DuckDB insert, so the only Python loop is the database call itself.
"""

from typing import Any, ClassVar

import pyarrow as pa

from operators.core.contract import CheckSpec, Kind, Operator, OperatorContext, quote_ident
from operators.core.registry import register
from operators.core.rowids import ID
from operators.core.sql_ops import POS
from operators.text2sql.base import DBConfig
from operators.text2sql.database import open_databases


class ExecutionFilterConfig(DBConfig):
    drop_over_max_rows: bool = True  # a query returning more than max_rows is usually a missing filter
    drop_empty: bool = False  # DataFlow keeps queries with empty results; set True to drop them


@register
class SQLExecutionFilter(Operator):
    """Keeps rows whose SQL is one read-only query that runs on its database within the time limit.

    Dropped (with the reason in ``_reason``): unparseable SQL, anything but a single SELECT
    (INSERT/UPDATE/DELETE/DROP/ATTACH/PRAGMA/CREATE/COPY/INSTALL/LOAD/..., also nested in CTEs),
    file-reading functions, unknown ``db_id``, execution errors, timeouts (``timeout_s``, wall clock,
    enforced by killing the SQL worker process), results over ``max_result_bytes`` or beyond the
    worker's ``memory_mb``, and (by default) results over ``max_rows``. Databases are opened
    read-only, so the files never change.
    """

    kind: ClassVar[Kind] = Kind.FILTER
    Config = ExecutionFilterConfig
    domain = "text2sql"
    tags = ("sql", "execution", "safety")

    def input_columns(self) -> list[str]:
        return [self.config.db_id_key, self.config.sql_key]

    def output_columns(self) -> list[str]:
        return []

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        c = self.config
        con, verdicts = ctx.con, f"{ctx.target}__verdicts"
        con.execute(
            f"CREATE TABLE {quote_ident(verdicts)} ({ID} VARCHAR, _status VARCHAR, _reason VARCHAR, _rows BIGINT)"
        )
        sel = (
            f"SELECT {ID}, {quote_ident(c.db_id_key)} AS d, {quote_ident(c.sql_key)} AS q FROM "
            f"{quote_ident(ctx.source or '')}"
        )
        counts: dict[str, int] = {}
        with open_databases(c.db_root, c.memory_mb, c.max_result_bytes) as dbs:
            for batch in con.cursor().sql(sel).to_arrow_reader(ctx.batch_size):
                ids, db_ids, sqls = (batch.column(i).to_pylist() for i in range(3))
                out: dict[str, list[Any]] = {ID: ids, "_status": [], "_reason": [], "_rows": []}
                for res in dbs.execute_many(list(zip(db_ids, sqls, strict=True)), c.timeout_s, c.max_rows):
                    status = res.status
                    if status == "too_many_rows" and not c.drop_over_max_rows:
                        status = "ok"
                    if status == "ok" and c.drop_empty and not res.rows:
                        status, res.message = "empty", "returns no rows"
                    counts[status] = counts.get(status, 0) + 1
                    out["_status"].append(status)
                    out["_reason"].append(None if status == "ok" else f"SQLExecutionFilter: {status}: {res.message}")
                    out["_rows"].append(len(res.rows) if res.status in ("ok", "too_many_rows") else None)
                con.register("__exec_batch", pa.table(out))
                con.execute(f"INSERT INTO {quote_ident(verdicts)} SELECT * FROM __exec_batch")
                con.unregister("__exec_batch")
        src, v = quote_ident(ctx.source or ""), quote_ident(verdicts)
        con.execute(
            f"CREATE VIEW {quote_ident(ctx.target)} AS SELECT s.* FROM {src} s JOIN {v} x USING ({ID}) "
            f"WHERE x._status = 'ok' ORDER BY s.{POS}"
        )
        con.execute(
            f"CREATE VIEW {quote_ident(ctx.rejected)} AS SELECT s.*, x._reason FROM {src} s "
            f"JOIN {v} x USING ({ID}) WHERE x._status <> 'ok' ORDER BY s.{POS}"
        )
        return {"statuses": counts}


class ResultMatchConfig(DBConfig):
    predicted_key: str = "cot_sql"
    output_key: str = "sql_match"


@register
class SQLResultMatchEvaluator(Operator):
    """Executes the gold and a predicted SQL and records whether their results match (BIRD's rule:
    equal as sets of rows). A predicted query that fails any safety gate or errors counts as no match.
    """

    kind: ClassVar[Kind] = Kind.EVALUATE
    Config = ResultMatchConfig
    domain = "text2sql"
    tags = ("sql", "execution", "score")

    def input_columns(self) -> list[str]:
        return [self.config.db_id_key, self.config.sql_key, self.config.predicted_key]

    def output_columns(self) -> list[str]:
        return [self.config.output_key]

    def checks(self) -> list[CheckSpec]:
        # coalesce: "every row" holds vacuously on an empty table (an upstream generator may emit none)
        col = quote_ident(self.config.output_key)
        return [
            CheckSpec(
                "match_not_null",
                f"coalesce(avg(({col} IS NOT NULL)::INT), 1)",
                ">=",
                1.0,
                "every row received a match verdict",
            )
        ]

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        c = self.config
        con, tbl = ctx.con, f"{ctx.target}__match"
        con.execute(f"CREATE TABLE {quote_ident(tbl)} ({ID} VARCHAR, {quote_ident(c.output_key)} BOOLEAN)")
        sel = (
            f"SELECT {ID}, {quote_ident(c.db_id_key)}, {quote_ident(c.sql_key)}, {quote_ident(c.predicted_key)} "
            f"FROM {quote_ident(ctx.source or '')}"
        )
        with open_databases(c.db_root, c.memory_mb, c.max_result_bytes) as dbs:
            for batch in con.cursor().sql(sel).to_arrow_reader(ctx.batch_size):
                ids, db_ids, gold, pred = (batch.column(i).to_pylist() for i in range(4))
                golds = dbs.execute_many(list(zip(db_ids, gold, strict=True)), c.timeout_s, c.max_rows)
                ok = [i for i, rg in enumerate(golds) if rg.ok]
                pred_res = dbs.execute_many([(db_ids[i], pred[i]) for i in ok], c.timeout_s, c.max_rows)
                preds = dict(zip(ok, pred_res, strict=True))
                matches = [
                    bool(rg.ok and preds[i].ok and rg.row_set() == preds[i].row_set()) for i, rg in enumerate(golds)
                ]
                con.register("__match_batch", pa.table({ID: ids, c.output_key: matches}))
                con.execute(f"INSERT INTO {quote_ident(tbl)} SELECT * FROM __match_batch")
                con.unregister("__match_batch")
        out = quote_ident(c.output_key)
        clash = f" EXCLUDE ({out})" if c.output_key in ctx.columns() else ""
        con.execute(
            f"CREATE VIEW {quote_ident(ctx.target)} AS SELECT s.*{clash}, m.{out} FROM "
            f"{quote_ident(ctx.source or '')} s LEFT JOIN {quote_ident(tbl)} m USING ({ID}) ORDER BY s.{POS}"
        )
        return {}
