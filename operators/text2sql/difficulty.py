"""SQL difficulty: by structure (Spider's hardness rules over a sqlglot parse) and by execution (how
many of k sampled model queries reproduce the gold result, DataFlow's SQLExecutionClassifier).

Structure follows Spider's ``eval_hardness`` (DataFlow's SQLComponentClassifier uses the same code):
component1 = WHERE, GROUP BY, ORDER BY, LIMIT, each extra joined table, each OR and each LIKE;
component2 = nested queries (subqueries in conditions, UNION/INTERSECT/EXCEPT); others = more than
one aggregate, more than one selected column, more than one WHERE condition, more than one GROUP BY
key. Documented fix: subqueries in FROM and CTEs count as nesting too (Spider's parser ignores them).
"""

from functools import lru_cache
from typing import Any, ClassVar

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp

from operators.core.contract import CheckSpec, Kind, OpConfig, Operator, OperatorContext, OperatorError, quote_ident
from operators.core.llm import LLMRequest
from operators.core.registry import register
from operators.core.rowids import ID
from operators.core.sql_ops import POS
from operators.text2sql import prompts
from operators.text2sql.base import DBLLMConfig, DBLLMOperator

_SETOPS = (exp.Union, exp.Intersect, exp.Except)


def _own_nodes(node: exp.Expression) -> list[exp.Expression]:
    """Nodes under ``node`` that belong to this query level, not to a nested query."""
    out, stack = [], [node]
    while stack:
        cur = stack.pop()
        out.append(cur)
        for child in cur.iter_expressions():
            if isinstance(child, (exp.Select, exp.Subquery, *_SETOPS)):
                continue
            stack.append(child)
    return out


def _conditions(cond: exp.Expression | None) -> list[exp.Expression]:
    if cond is None:
        return []
    cond = cond.unnest()
    if isinstance(cond, exp.Connector):
        return _conditions(cond.left) + _conditions(cond.right)
    return [cond]


def components(sql: str, dialect: str = "sqlite") -> tuple[int, int, int]:
    """(component1, component2, others) of the query's outermost SELECT; raises on unparseable SQL."""
    tree = sqlglot.parse_one(sql, read=dialect)
    nested = 0
    while isinstance(tree, _SETOPS):  # the right side of a set operation is a nested query
        nested += 1
        tree = tree.left
    if isinstance(tree, exp.Subquery):
        tree = tree.unnest()
    if not isinstance(tree, exp.Select):
        raise ValueError(f"not a SELECT query: {tree.key.upper()}")
    where = tree.args.get("where")
    having = tree.args.get("having")
    group = tree.args.get("group")
    joins = tree.args.get("joins") or []
    conds_where = _conditions(where.this if where else None)
    cond_nodes = [
        n for part in (where, having, *(j.args.get("on") for j in joins)) if part is not None for n in _own_nodes(part)
    ]
    c1 = sum(1 for part in (where, group, tree.args.get("order"), tree.args.get("limit")) if part is not None)
    c1 += len(joins)
    c1 += sum(1 for n in cond_nodes if isinstance(n, exp.Or))
    c1 += sum(1 for n in cond_nodes if isinstance(n, (exp.Like, exp.ILike)))
    for part in (where, having, *(j.args.get("on") for j in joins)):
        if part is not None:
            nested += sum(1 for n in part.find_all(exp.Select))
    from_ = tree.args.get("from") or tree.args.get("from_")
    for part in (from_, *joins):
        if part is not None:
            nested += sum(1 for n in part.find_all(exp.Select))
    with_ = tree.args.get("with") or tree.args.get("with_")
    if with_ is not None:
        nested += len(with_.expressions)
    level = [n for e in tree.expressions for n in _own_nodes(e)]
    for part in (where, group, tree.args.get("order"), having):
        if part is not None:
            level += _own_nodes(part)
    aggs = sum(1 for n in level if isinstance(n, exp.AggFunc))
    others = int(aggs > 1) + int(len(tree.expressions) > 1) + int(len(conds_where) > 1)
    others += int(group is not None and len(group.expressions) > 1)
    return c1, nested, others


def hardness(c1: int, c2: int, others: int) -> str:
    """Spider's thresholds, verbatim in meaning."""
    if c1 <= 1 and others == 0 and c2 == 0:
        return "easy"
    if (others <= 2 and c1 <= 1 and c2 == 0) or (c1 <= 2 and others < 2 and c2 == 0):
        return "medium"
    if (
        (others > 2 and c1 <= 2 and c2 == 0)
        or (2 < c1 <= 3 and others <= 2 and c2 == 0)
        or (c1 <= 1 and others == 0 and c2 <= 1)
    ):
        return "hard"
    return "extra"


@lru_cache(maxsize=65536)
def _classify(sql: str | None, dialect: str) -> tuple[int | None, int | None, int | None, str]:
    if sql is None:
        return None, None, None, "unparsed"
    try:
        c1, c2, o = components(sql, dialect)
    except (sqlglot.errors.SqlglotError, ValueError):
        return None, None, None, "unparsed"
    return c1, c2, o, hardness(c1, c2, o)


def _classify_batch(sqls: pa.Array, dialect: str) -> pa.StructArray:
    res = [_classify(s, dialect) for s in sqls.to_pylist()]
    return pa.StructArray.from_arrays(
        [pa.array([r[i] for r in res], pa.int32()) for i in range(3)] + [pa.array([r[3] for r in res])],
        names=["c1", "c2", "others", "label"],
    )


class ComponentConfig(OpConfig):
    input_key: str = "sql"
    output_key: str = "sql_component_difficulty"
    dialect: str = "sqlite"
    min_parsed_share: float = 0.9


@register
class SQLComponentClassifier(Operator):
    """Labels each SQL easy/medium/hard/extra by its structure (joins, nesting, aggregates); SQL that
    does not parse gets ``unparsed``. Also writes the three component counts as ``<output_key>_c1`` etc."""

    kind: ClassVar[Kind] = Kind.EVALUATE
    Config = ComponentConfig
    domain = "text2sql"
    tags = ("sql", "difficulty", "classify")

    def input_columns(self) -> list[str]:
        return [self.config.input_key]

    def output_columns(self) -> list[str]:
        k = self.config.output_key
        return [k, f"{k}_c1", f"{k}_c2", f"{k}_others"]

    def checks(self) -> list[CheckSpec]:
        k = quote_ident(self.config.output_key)
        return [
            CheckSpec(
                "parsed_share",
                f"avg(CASE WHEN t.{k} <> 'unparsed' THEN 1.0 ELSE 0.0 END)",
                ">=",
                self.config.min_parsed_share,
                "share of rows whose SQL sqlglot could parse",
            )
        ]

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        c = self.config
        if c.dialect not in ("sqlite", "duckdb"):
            raise OperatorError(f"{self.name}: dialect must be sqlite or duckdb, got {c.dialect!r}")
        fn = f"__sql_components_{c.dialect}"
        struct = duckdb.struct_type({"c1": "INTEGER", "c2": "INTEGER", "others": "INTEGER", "label": "VARCHAR"})
        ctx.con.execute("SELECT 1").fetchall()  # finish any pending result (ctx.count() uses fetchone)
        ctx.con.create_function(fn, lambda a: _classify_batch(a, c.dialect), ["VARCHAR"], struct, type="arrow")
        k = c.output_key
        cols = {k: "label", f"{k}_c1": "c1", f"{k}_c2": "c2", f"{k}_others": "others"}
        clash = [n for n in cols if n in ctx.columns()]
        excl = f" EXCLUDE ({', '.join(quote_ident(n) for n in clash)})" if clash else ""
        sel = ", ".join(f"__h.{f} AS {quote_ident(n)}" for n, f in cols.items())
        ctx.con.execute(
            f"CREATE VIEW {quote_ident(ctx.target)} AS SELECT * EXCLUDE (__h) FROM (SELECT s.*{excl}, {sel} FROM "
            f"(SELECT *, {fn}({quote_ident(c.input_key)}) AS __h FROM {quote_ident(ctx.source or '')}) s) "
            f"ORDER BY {POS}"
        )
        return {}


class ExecutionDifficultyConfig(DBLLMConfig):
    num_generations: int = 10
    temperature: float = 0.8
    thresholds: list[int] = [2, 5, 9]
    labels: list[str] = ["extra", "hard", "medium", "easy"]
    output_key: str = "sql_execution_difficulty"
    max_tokens: int = 160


@register
class SQLExecutionClassifier(DBLLMOperator):
    """Labels each question by how often the model solves it: ``num_generations`` sampled queries
    (seeds seed..seed+k-1) are executed and compared with the gold result. With DataFlow's defaults
    (k=10, thresholds [2, 5, 9]) at most 2 correct is ``extra``, at most 5 ``hard``, at most 9
    ``medium``, all 10 ``easy``. Writes ``<output_key>_correct`` (the count) too."""

    kind: ClassVar[Kind] = Kind.EVALUATE
    Config = ExecutionDifficultyConfig
    default_prompt = prompts.ANSWER_SQL
    tags = ("llm", "sql", "difficulty", "execution")
    uses = ("sql", "question")

    def outputs(self) -> dict[str, str]:
        return {"sql": "__unused"}

    def output_columns(self) -> list[str]:
        return [self.config.output_key, f"{self.config.output_key}_correct"]

    def checks(self) -> list[CheckSpec]:
        k = quote_ident(self.config.output_key)
        return [
            CheckSpec(
                "labelled",
                f"coalesce(avg((t.{k} IS NOT NULL)::INT), 1)",
                ">=",
                1.0,
                "every row received an execution-difficulty label",
            )
        ]

    def label(self, correct: int) -> str:
        c = self.config
        if len(c.labels) != len(c.thresholds) + 1:
            raise OperatorError(f"{self.name}: needs one more label than thresholds, got {c.labels} / {c.thresholds}")
        for threshold, lab in zip(c.thresholds, c.labels, strict=False):
            if correct <= threshold:
                return lab
        return c.labels[-1]

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        from dataclasses import replace as dc_replace

        c = self.config
        prompt = ctx.prompt or self.default_prompt
        if prompt is None or ctx.llm is None:
            raise OperatorError(f"{self.name} needs an LLM resource and a prompt")
        from operators.text2sql.database import DatabaseSet

        self._dbs = DatabaseSet(c.db_root, c.memory_mb, c.max_result_bytes)
        con, tbl = ctx.con, f"{ctx.target}__labels"
        k = c.output_key
        con.execute(
            f"CREATE TABLE {quote_ident(tbl)} ({ID} VARCHAR, {quote_ident(k)} VARCHAR, "
            f"{quote_ident(k + '_correct')} INTEGER)"
        )
        con.execute(f"CREATE TABLE {quote_ident(ctx.errors)} ({ID} VARCHAR, _error VARCHAR, _raw VARCHAR)")
        cols = ", ".join(quote_ident(x) for x in [ID, c.db_id_key, c.sql_key, c.question_key])
        base = self.sampling()
        failed = 0
        try:
            for batch in (
                con.cursor().sql(f"SELECT {cols} FROM {quote_ident(ctx.source or '')}").to_arrow_reader(ctx.batch_size)
            ):
                rows = batch.to_pylist()
                reqs = [
                    LLMRequest.chat(
                        prompt.render(self.prompt_values(r, prompt)),
                        prompt.system or None,
                        dc_replace(base, seed=base.seed + j),
                        prompt.output_schema,
                    )
                    for r in rows
                    for j in range(c.num_generations)
                ]
                resps = ctx.llm.generate(reqs)
                out: dict[str, list[Any]] = {ID: [], k: [], k + "_correct": []}
                errs: dict[str, list[Any]] = {ID: [], "_error": [], "_raw": []}
                for i, r in enumerate(rows):
                    gold = self._dbs.execute(r[c.db_id_key], r[c.sql_key], c.timeout_s, c.max_rows)
                    correct = 0
                    for resp in resps[i * c.num_generations : (i + 1) * c.num_generations]:
                        try:
                            if not resp.ok:
                                raise ValueError(resp.error or "no response")
                            sql = self.parse(resp, prompt.output_schema)["__unused"]
                        except ValueError as exc:
                            errs[ID].append(r[ID])
                            errs["_error"].append(str(exc))
                            errs["_raw"].append(resp.text)
                            continue
                        pred = self._dbs.execute(r[c.db_id_key], sql, c.timeout_s, c.max_rows)
                        correct += int(gold.ok and pred.ok and pred.row_set() == gold.row_set())
                    out[ID].append(r[ID])
                    out[k].append(self.label(correct))
                    out[k + "_correct"].append(correct)
                for table, data in ((tbl, out), (ctx.errors, errs)):
                    if data[ID]:
                        con.register("__lbl", pa.table(data))
                        con.execute(f"INSERT INTO {quote_ident(table)} BY NAME SELECT * FROM __lbl")
                        con.unregister("__lbl")
                failed += len(errs[ID])
        finally:
            self._dbs.close()
        new = [k, k + "_correct"]
        clash = [n for n in new if n in ctx.columns()]
        excl = f" EXCLUDE ({', '.join(quote_ident(n) for n in clash)})" if clash else ""
        sel = ", ".join(f"l.{quote_ident(n)}" for n in new)
        con.execute(
            f"CREATE VIEW {quote_ident(ctx.target)} AS SELECT s.*{excl}, {sel} FROM "
            f"{quote_ident(ctx.source or '')} s LEFT JOIN {quote_ident(tbl)} l USING ({ID}) ORDER BY s.{POS}"
        )
        return {"generations": c.num_generations, "failed_generations": failed}
