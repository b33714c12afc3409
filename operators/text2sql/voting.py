"""Text2SQLCoTVotingGenerator: DataFlow's execution-consistency vote over candidate chains of thought.

After DataFlow's operator of that name): the SQL of each candidate chain of thought (the last
```sql block, else the first ``SELECT ... FROM``) is executed through the same read-only, time- and
memory-limited ``DatabaseSet`` as SQLExecutionFilter; candidates that ran are grouped by their result
rows (as a set), and the chosen chain is one from the largest group with at least two votes, else the
one with the shortest SQL. DataFlow picks at random inside the winning group; here the shortest SQL
of it wins, so a rerun gives the same row. With no candidate that ran, the first chain is kept.
"""

import re
from collections import defaultdict
from typing import Any, ClassVar

import pyarrow as pa

from operators.benchmark.evaluate import unjson
from operators.core.batches import insert_rows
from operators.core.contract import DataflowKey, Kind, Operator, OperatorContext, quote_ident
from operators.core.judge_filter import join_columns
from operators.core.registry import register
from operators.core.rowids import ID
from operators.text2sql.base import DBConfig
from operators.text2sql.database import ExecResult, open_databases

_SQL_BLOCK = re.compile(r"```sql\s*(.*?)\s*```", re.DOTALL | re.IGNORECASE)
_SELECT = re.compile(r"SELECT.*?FROM", re.DOTALL | re.IGNORECASE)


def sql_of(response: Any) -> str:
    """The SQL a chain of thought ends with ('' when it has none)."""
    if not isinstance(response, str):
        return ""
    blocks = [b.strip() for b in _SQL_BLOCK.findall(response) if b.strip()]
    if blocks:
        return blocks[-1]
    found = _SELECT.search(response)
    return found.group(0).strip() if found else ""


def _as_list(value: Any) -> list[Any]:
    value = unjson(value)
    return value if isinstance(value, list) else []


def vote(candidates: list[tuple[str, str, ExecResult]]) -> str | None:
    """The chosen chain among ``(cot, sql, result)``; None when no candidate's SQL ran."""
    ran = [(cot, sql, res) for cot, sql, res in candidates if res.ok]
    if not ran:
        return None
    groups: dict[frozenset, list[tuple[str, str]]] = defaultdict(list)
    for cot, sql, res in ran:
        groups[res.row_set()].append((cot, sql))
    best = max(groups.values(), key=len)  # the first group reaching the largest size wins ties
    pool = best if len(best) >= 2 else [(cot, sql) for cot, sql, _ in ran]
    return min(pool, key=lambda c: len(c[1]))[0]


class VotingConfig(DBConfig):
    dataflow_keys: ClassVar[dict[str, DataflowKey]] = {
        "input_cot_responses_key": DataflowKey("input_key"),
        "input_db_id_key": DataflowKey("db_id_key"),
        "output_cot_key": DataflowKey("output_key"),
        "database_manager": DataflowKey(refuse="set db_root to the folder holding <db_id>.sqlite / .duckdb"),
    }
    input_key: str = "cot_responses"
    output_key: str = "cot_reasoning"


@register
class Text2SQLCoTVotingGenerator(Operator):
    """Picks one chain of thought per row from ``input_key`` (a list) by executing each one's SQL and
    voting on the results; writes it to ``output_key``. The candidate list stays in the row."""

    kind: ClassVar[Kind] = Kind.EVALUATE
    Config = VotingConfig
    domain = "text2sql"
    tags = ("sql", "execution", "cot", "self-consistency", "vote")
    dataflow_fidelity = "approximated"
    dataflow_note = (
        "deterministic: the shortest SQL of the winning group instead of a random member; the candidate list stays"
    )

    def input_columns(self) -> list[str]:
        return [self.config.input_key, self.config.db_id_key]

    def output_columns(self) -> list[str]:
        return [self.config.output_key]

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        c, con = self.config, ctx.con
        out = f"{ctx.target}__vote"
        con.execute(f"CREATE TABLE {quote_ident(out)} ({ID} VARCHAR, {quote_ident(c.output_key)} VARCHAR)")
        sel = (
            f"SELECT {ID}, {quote_ident(c.input_key)}, {quote_ident(c.db_id_key)} FROM {quote_ident(ctx.source or '')}"
        )
        voted = total = 0
        with open_databases(c.db_root, c.memory_mb, c.max_result_bytes) as dbs:
            for batch in con.cursor().sql(sel).to_arrow_reader(ctx.batch_size):
                ids, cots, db_ids = (batch.column(i).to_pylist() for i in range(3))
                lists = [[x for x in _as_list(v) if isinstance(x, str)] for v in cots]
                jobs = [(i, cot, sql_of(cot)) for i, row in enumerate(lists) for cot in row]
                jobs = [j for j in jobs if j[2]]
                results = dbs.execute_many([(str(db_ids[i]), sql) for i, _, sql in jobs], c.timeout_s, c.max_rows)
                per_row: dict[int, list[tuple[str, str, ExecResult]]] = defaultdict(list)
                for (i, cot, sql), res in zip(jobs, results, strict=True):
                    per_row[i].append((cot, sql, res))
                chosen = [vote(per_row[i]) for i in range(len(ids))]
                voted += sum(x is not None for x in chosen)
                total += len(ids)
                picked = [x if x is not None else (row[0] if row else "") for x, row in zip(chosen, lists, strict=True)]
                insert_rows(ctx, out, {ID: ids, c.output_key: pa.array(picked, pa.string())})
                ctx.progress(total, None)
        join_columns(ctx, out, {c.output_key: f"o.{quote_ident(c.output_key)}"})
        return {"rows": total, "voted_rows": voted}
