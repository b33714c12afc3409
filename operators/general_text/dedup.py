"""Exact deduplication. Rejected rows name the ``_id`` of the row they duplicate.

With ``index_path`` set, the hashes of kept rows persist in Parquet parts there, and a later run
(a refresh with new rows) also drops rows whose text was kept by an earlier run, naming that
earlier row; rows already in the index (same ``_id``) are kept and not added twice.
"""

import os
import time
import uuid
from pathlib import Path
from typing import Any, ClassVar

from operators.core.contract import Kind, Operator, OperatorContext, quote_ident, quote_literal
from operators.core.registry import register
from operators.core.rowids import ID
from operators.core.sql_ops import POS, TextConfig
from operators.general_text.dedup_index import SignatureIndex


class ExactDedupConfig(TextConfig):
    normalize: bool = False  # lower-case and collapse whitespace before hashing
    index_path: str | None = None


@register
class ExactDedupFilter(Operator):
    """Removes duplicate texts (deduplicate, exact): keeps the first row of each group of identical texts.

    Texts are compared by md5 (optionally after lower-casing and collapsing whitespace); NULL is
    never a duplicate. For near-duplicates see MinHashDeduplicateFilter.
    """

    kind: ClassVar[Kind] = Kind.FILTER
    Config = ExactDedupConfig
    tags = ("dedup", "exact", "duplicate", "pretrain", "sft")

    def input_columns(self) -> list[str]:
        return [self.config.input_key]

    def output_columns(self) -> list[str]:
        return []

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        c = quote_ident(self.config.input_key)
        key = f"lower(trim(regexp_replace({c}, '\\s+', ' ', 'g')))" if self.config.normalize else c
        src = quote_ident(ctx.source or "")
        index = SignatureIndex.open(self.config.index_path, kind="exact", params={"normalize": self.config.normalize})
        earlier = "NULL::VARCHAR"
        if index is not None and index.parts():
            files = ", ".join(quote_literal(f) for f in index.parts())
            ctx.con.execute(
                f"CREATE TEMP TABLE __exact_ix AS SELECT h, min(id) AS id FROM read_parquet([{files}]) GROUP BY h"
            )
            earlier = "(SELECT ix.id FROM __exact_ix ix WHERE ix.h = md5(s.__key))"
        ctx.con.execute(
            f"CREATE TEMP TABLE __exact AS SELECT s.{POS} AS pos, s.{ID} AS id, md5(s.__key) AS h, "
            f"first(s.{ID}) OVER (PARTITION BY md5(s.__key) ORDER BY s.{POS}) AS first_id, {earlier} AS ix_id "
            f"FROM (SELECT *, {key} AS __key FROM {src}) s WHERE s.__key IS NOT NULL"
        )
        # the row a duplicate names: an earlier run's row, else the first row here (a row already in the
        # index under its own id is that earlier row, so it stays)
        dup = (
            "CASE WHEN e.ix_id IS NOT NULL AND e.ix_id <> e.id THEN e.ix_id "
            "WHEN e.ix_id IS NULL AND e.first_id <> e.id THEN e.first_id END"
        )
        ctx.con.execute(
            f"CREATE TEMP TABLE __exact_dups AS SELECT pos, {dup} AS dup_of FROM __exact e WHERE {dup} IS NOT NULL"
        )
        ctx.con.execute(
            f"CREATE VIEW {quote_ident(ctx.target)} AS SELECT s.* FROM {src} s "
            f"ANTI JOIN __exact_dups d ON s.{POS} = d.pos"
        )
        ctx.con.execute(
            f"CREATE VIEW {quote_ident(ctx.rejected)} AS SELECT s.*, 'ExactDedupFilter: duplicate of ' || d.dup_of "
            f"AS _reason, d.dup_of AS _duplicate_of FROM {src} s JOIN __exact_dups d ON s.{POS} = d.pos"
        )
        stats: dict[str, Any] = {"duplicates": ctx.con.execute("SELECT count(*) FROM __exact_dups").fetchall()[0][0]}
        if index is not None:
            part = Path(index.path) / f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
            tmp = part.with_name("." + part.name + ".tmp")
            ctx.con.execute(
                f"COPY (SELECT e.id, e.h FROM __exact e ANTI JOIN __exact_dups d USING (pos) WHERE e.ix_id IS NULL) "
                f"TO {quote_literal(str(tmp))} (FORMAT parquet)"
            )
            added = ctx.con.execute(f"SELECT count(*) FROM read_parquet({quote_literal(str(tmp))})").fetchall()[0][0]
            if added:
                os.replace(tmp, part)
            else:
                tmp.unlink()
            stats["index_rows_added"] = int(added)
        return stats

    def run_incremental(self, ctx: OperatorContext, previous: str) -> dict[str, Any] | None:
        """New rows are judged against every earlier row: a new row is kept only if no earlier row
        (kept or not) and no earlier new row has its text. Declines when a new row would precede
        the first earlier row of its group, since that would change an earlier row's outcome."""
        c = quote_ident(self.config.input_key)
        key = f"lower(trim(regexp_replace({c}, '\\s+', ' ', 'g')))" if self.config.normalize else c
        new, prev = quote_ident(ctx.source or ""), quote_ident(previous)
        both = f"SELECT *, false AS __new FROM {prev} UNION ALL BY NAME SELECT *, true AS __new FROM {new}"
        row = ctx.con.execute(
            f"SELECT count(*) FROM (SELECT min({POS}) FILTER (WHERE __new) AS n, "
            f"min({POS}) FILTER (WHERE NOT __new) AS o FROM ({both}) WHERE {c} IS NOT NULL GROUP BY md5({key})) "
            "WHERE n < o"
        ).fetchall()[0]
        if row and row[0]:
            return None
        ranked = f"SELECT *, first({ID}) OVER (PARTITION BY md5({key}) ORDER BY {POS}) AS __first FROM ({both})"
        ctx.con.execute(
            f"CREATE VIEW {quote_ident(ctx.target)} AS SELECT * EXCLUDE (__first, __new) FROM ({ranked}) "
            f"WHERE __new AND (__first = {ID} OR {c} IS NULL)"
        )
        ctx.con.execute(
            f"CREATE VIEW {quote_ident(ctx.rejected)} AS "
            f"SELECT * EXCLUDE (__first, __new), 'ExactDedupFilter: duplicate of ' || __first AS _reason, "
            f"__first AS _duplicate_of FROM ({ranked}) WHERE __new AND __first <> {ID} AND {c} IS NOT NULL"
        )
        return {}
