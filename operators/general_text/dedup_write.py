"""Turn a duplicates table into the filter's output views (kept rows; rejected rows naming the original)."""

from typing import Any

import numpy as np

from operators.core import arrow_np
from operators.core.contract import OperatorContext, quote_ident, quote_literal
from operators.core.sql_ops import POS


def write_dedup_views(
    ctx: OperatorContext, dup_pos: np.ndarray, dup_of: list[str] | np.ndarray, op_name: str, label: str
) -> None:
    """``dup_pos``: ``__pos`` of rejected rows; ``dup_of``: the ``_id`` each one duplicates."""
    con = ctx.con
    name = f"__dups_{abs(hash((op_name, ctx.target))) % 10**8}"
    con.register(
        f"{name}_arrow",
        arrow_np.table({"pos": np.asarray(dup_pos, dtype=np.int64), "dup_of": arrow_np.strings(list(dup_of))}),
    )
    con.execute(f"CREATE TEMP TABLE {name} AS SELECT * FROM {name}_arrow")
    con.unregister(f"{name}_arrow")
    src = quote_ident(ctx.source or "")
    con.execute(
        f"CREATE VIEW {quote_ident(ctx.target)} AS SELECT s.* FROM {src} s ANTI JOIN {name} d ON s.{POS} = d.pos"
    )
    reason = quote_literal(f"{op_name}: {label} ")
    con.execute(
        f"CREATE VIEW {quote_ident(ctx.rejected)} AS SELECT s.*, {reason} || d.dup_of AS _reason, "
        f"d.dup_of AS _duplicate_of FROM {src} s JOIN {name} d ON s.{POS} = d.pos"
    )


def inherit_from_representatives(dup_of: np.ndarray, rep: np.ndarray) -> np.ndarray:
    """Rows whose signature equals an earlier row's follow that row: its duplicate if it was kept,
    else a duplicate of whatever it duplicated (identical signatures have identical similarities)."""
    out = dup_of.copy()
    idx = np.arange(len(rep))
    nonrep = rep != idx
    r = rep[nonrep]
    out[nonrep] = np.where(dup_of[r] == -1, r, dup_of[r])
    return out


def stats_line(stats: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in stats.items())
