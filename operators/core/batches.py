"""Appending Python-computed columns to a DuckDB table, one Arrow batch at a time."""

from typing import Any

import pyarrow as pa

from operators.core.contract import OperatorContext, quote_ident


def insert_rows(ctx: OperatorContext, table: str, data: dict[str, list[Any]]) -> None:
    """Insert columns (equal-length lists, matched to the table's columns by name); no-op when empty."""
    if data and next(iter(data.values())):
        ctx.con.register("__batch", pa.table(data))
        ctx.con.execute(f"INSERT INTO {quote_ident(table)} BY NAME SELECT * FROM __batch")
        ctx.con.unregister("__batch")
