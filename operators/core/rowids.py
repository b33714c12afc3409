"""Row identity as SQL expressions.

Source rows get an id from their content, so re-importing the same file (or a file that gained rows)
gives the same ids to the same rows; identical rows are told apart by occurrence number. Derived rows
get an id from their parent's id and the operator that made them, which makes generation replayable
and lets incremental refreshes recognise rows they have already processed.
"""

from operators.core.contract import quote_ident, quote_literal

ID = "_id"
PARENTS = "_parent_ids"
ID_HEX_CHARS = 16


def source_ids_sql(relation: str, keep_order: bool = False) -> str:
    """SELECT of ``relation`` with ``_id`` prepended, derived from each row's JSON content.

    ``keep_order`` (``relation`` must then be a table) returns rows in insertion order, i.e. file
    order: the window that numbers duplicates reorders rows, and operators that keep "the first"
    row of a group (dedup) must see the same order on every import for runs to be reproducible.
    """
    rel = quote_ident(relation)
    rowid, order, extra = (", r.rowid AS __rowid", " ORDER BY __rowid", ", __rowid") if keep_order else ("", "", "")
    return f"""
        SELECT CASE WHEN __n = 1 THEN __h ELSE substr(md5(__h || '#' || __n::VARCHAR), 1, {ID_HEX_CHARS}) END
               AS {ID}, * EXCLUDE (__h, __n{extra})
        FROM (
            SELECT *, row_number() OVER (PARTITION BY __h{order}) AS __n
            FROM (SELECT substr(md5(to_json(r)::VARCHAR), 1, {ID_HEX_CHARS}) AS __h, r.*{rowid} FROM {rel} r)
        ){order}
    """


def derived_id_sql(parent_expr: str, salt: str, index_expr: str | None = None) -> str:
    """Expression for the id of a row made from ``parent_expr`` by an operator identified by salt."""
    idx = f" || '#' || ({index_expr})::VARCHAR" if index_expr else ""
    return f"substr(md5({parent_expr} || ':' || {quote_literal(salt)}{idx}), 1, {ID_HEX_CHARS})"
