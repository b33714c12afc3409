"""Keep/reject assembly for filters whose verdict comes from a per-row LLM (or model) answer.

An LLM filter's answers land in ``<target>__out`` keyed by ``_id``; this joins them back onto the
input and splits it into the kept view and the ``__rejected`` view with a ``_reason``. Rows without
an answer (the call failed; the raw answer is in ``__errors``) are rejected with that reason, never
silently kept, so a broken endpoint cannot let unjudged rows through.
"""

from operators.core.contract import OperatorContext, quote_ident, quote_literal
from operators.core.rowids import ID


def assemble_keep(
    ctx: OperatorContext,
    op_name: str,
    keep_sql: str,
    columns: dict[str, str],
    reason_sql: str,
    answers: str | None = None,
) -> None:
    """Create ``ctx.target`` and ``ctx.rejected`` from ``ctx.source`` joined with the answers table.

    ``keep_sql`` and ``reason_sql`` are SQL over the answers aliased ``o``; ``columns`` maps output
    column names to SQL expressions (over ``o``) added to both views, replacing same-named inputs.
    """
    src = quote_ident(ctx.source or "")
    out = quote_ident(answers or f"{ctx.target}__out")
    existing = set(ctx.columns())
    clash = [c for c in columns if c in existing]
    excl = f" EXCLUDE ({', '.join(quote_ident(c) for c in clash)})" if clash else ""
    added = "".join(f", ({expr}) AS {quote_ident(col)}" for col, expr in columns.items())
    keep = f"coalesce(({keep_sql}), false)"
    joined = (
        f"SELECT s.*{excl}{added}, {keep} AS __keep, o.{ID} IS NOT NULL AS __judged, ({reason_sql})::VARCHAR AS __why "
        f"FROM {src} s LEFT JOIN {out} o USING ({ID})"
    )
    hidden = "EXCLUDE (__keep, __judged, __why)"
    ctx.con.execute(f"CREATE VIEW {quote_ident(ctx.target)} AS SELECT * {hidden} FROM ({joined}) WHERE __keep")
    prefix = quote_literal(f"{op_name}: ")
    ctx.con.execute(
        f"CREATE VIEW {quote_ident(ctx.rejected)} AS SELECT * {hidden}, {prefix} || CASE WHEN __judged "
        f"THEN coalesce(__why, 'rejected') ELSE 'no usable answer for this row (see the step''s __errors table)' "
        f"END AS _reason FROM ({joined}) WHERE NOT __keep"
    )


def join_columns(ctx: OperatorContext, answers: str, columns: dict[str, str]) -> None:
    """Create ``ctx.target``: every input row plus ``columns`` (output name -> SQL over the answers
    table aliased ``o``, matched by ``_id``; NULL where a row has no answer), replacing same-named
    input columns. The evaluator counterpart of ``assemble_keep``."""
    src = quote_ident(ctx.source or "")
    existing = set(ctx.columns())
    clash = [c for c in columns if c in existing]
    excl = f" EXCLUDE ({', '.join(quote_ident(c) for c in clash)})" if clash else ""
    added = "".join(f", ({expr}) AS {quote_ident(col)}" for col, expr in columns.items())
    ctx.con.execute(
        f"CREATE VIEW {quote_ident(ctx.target)} AS SELECT s.*{excl}{added} "
        f"FROM {src} s LEFT JOIN {quote_ident(answers)} o USING ({ID})"
    )
