"""How a step's operator meets its input: a full run over every row, or a memo run over unseen rows.

The runner drives both through the same five moments (prepare the input, run the operator, combine
the outputs, finish after the snapshots are written, add to the lineage), so there is one code path
for a step and the row memo is a strategy object instead of branches sprinkled through it.
"""

from collections.abc import Callable
from typing import Any, Protocol

import duckdb

from dataflow_dagster.core.incremental import RowMemo
from dataflow_dagster.core.storage import AssetAddress, Storage
from operators.core.contract import Operator, OperatorContext


class RunStrategy(Protocol):
    def prepare(self, con: duckdb.DuckDBPyConnection, src: str) -> str:
        """The relation the operator should read (``src`` or a part of it)."""
        ...

    def run(self, ctx: OperatorContext) -> dict[str, Any]: ...

    def combine(self, ctx: OperatorContext, out: str, rej: str | None, err: str | None) -> tuple[str, str | None]:
        """The relations to publish as the step's table and rejected table."""
        ...

    def finish(self, con: duckdb.DuckDBPyConnection) -> None:
        """Called once the snapshots are written (before they are published)."""
        ...

    def lineage(self) -> dict[str, Any]:
        """Entries this strategy adds to the step's lineage record."""
        ...


class FullRun:
    """Every input row goes through the operator; nothing is remembered (audit replays, ``--full``)."""

    def __init__(self, op: Operator) -> None:
        self.op = op

    def prepare(self, con: duckdb.DuckDBPyConnection, src: str) -> str:
        return src

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        return self.op.run(ctx) or {}

    def combine(self, ctx: OperatorContext, out: str, rej: str | None, err: str | None) -> tuple[str, str | None]:
        return out, rej

    def finish(self, con: duckdb.DuckDBPyConnection) -> None:
        return None

    def lineage(self) -> dict[str, Any]:
        return {}


class MemoRun:
    """Only rows the step's row memo has not seen go through the operator (see ``core.incremental``)."""

    def __init__(
        self, storage: Storage, address: AssetAddress, op: Operator, prompt_hash: str | None, model_id: str | None
    ) -> None:
        self.memo = RowMemo(storage, address.asset, address.partition, op, prompt_hash, model_id)

    def prepare(self, con: duckdb.DuckDBPyConnection, src: str) -> str:
        return self.memo.prepare(con, src)

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        return self.memo.run(ctx)

    def combine(self, ctx: OperatorContext, out: str, rej: str | None, err: str | None) -> tuple[str, str | None]:
        return self.memo.combine(ctx, out, rej, err)

    def finish(self, con: duckdb.DuckDBPyConnection) -> None:
        self.memo.save(con)

    def lineage(self) -> dict[str, Any]:
        return {"incremental": self.memo.stats}


# (storage, address, operator, prompt hash, model id) -> the strategy of one run of that step.
StrategyFactory = Callable[[Storage, AssetAddress, Operator, str | None, str | None], RunStrategy]


def full_run(
    storage: Storage, address: AssetAddress, op: Operator, prompt_hash: str | None, model_id: str | None
) -> RunStrategy:
    return FullRun(op)


def memo_run(
    storage: Storage, address: AssetAddress, op: Operator, prompt_hash: str | None, model_id: str | None
) -> RunStrategy:
    return MemoRun(storage, address, op, prompt_hash, model_id)
