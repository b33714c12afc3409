"""Prompted steps whose requests are not the input rows one by one.

Some of DataFlow's generators ask the model once per *derived* item: N new rows from a few-shot pool
(CodeInstructionGenerator), N rows from a domain list (RandomDomainKnowledgeRowGenerator), one
question per sentence window of a text (Text2MultiHopQAGenerator). Such a step first writes its
requests as a DuckDB table (``_id`` + the prompt's fields, built in SQL), then runs the shared LLM
loop over that table, so it gets the cache, re-asks, ``__errors`` and progress of every prompted
step, and finally assembles its output from the answers (``<target>__out``) in SQL.
"""

import dataclasses
from typing import Any

from operators.core.contract import OperatorContext, quote_ident
from operators.core.llm_ops import LLMOperator
from operators.core.rowids import ID


class RequestTableOperator(LLMOperator):
    """Subclasses write ``requests_sql`` (a SELECT with ``_id`` and the prompt fields over the input
    relation ``src``; ``dataflow-dagster plan`` renders its requests from it too) and ``assemble_from``
    (create ``ctx.target`` from the answers)."""

    row_local = False  # a request may combine several input rows

    def requests_sql(self, src: str) -> str:
        raise NotImplementedError

    def assemble_from(self, ctx: OperatorContext, requests: str, source: str, cols: list[str]) -> None:
        """Create ``ctx.target`` from ``requests``, the step's input ``source`` and the answers in
        ``<target>__out`` (``cols`` are the answer columns)."""
        raise NotImplementedError

    def request_columns(self, ctx: OperatorContext) -> list[str]:
        return [c for c in ctx.columns() if not c.startswith("_")]

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        requests, self._input = f"{ctx.target}__requests", ctx.source or ""
        sql = self.requests_sql(quote_ident(ctx.source or ""))
        ctx.con.execute(f"CREATE TABLE {quote_ident(requests)} AS {sql}")
        stats = super().run(dataclasses.replace(ctx, source=requests))
        return {**stats, "requests": ctx.count(requests)}

    def new_rows(self, ctx: OperatorContext, requests: str, columns: str) -> None:
        """``ctx.target`` as one new row per answered request, in request order (``__i``): ``columns``
        is SQL over the requests ``r`` and the answers ``o``."""
        out = quote_ident(f"{ctx.target}__out")
        ctx.con.execute(
            f"CREATE VIEW {quote_ident(ctx.target)} AS SELECT r.{ID}, {columns} "
            f"FROM {quote_ident(requests)} r JOIN {out} o USING ({ID}) ORDER BY r.__i"
        )

    def assemble(self, ctx: OperatorContext, cols: list[str]) -> None:
        # ``ctx`` here is the one ``run`` made: its source is the requests table
        self.assemble_from(ctx, ctx.source or "", self._input, cols)
