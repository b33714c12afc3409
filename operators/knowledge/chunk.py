"""Chunking with overlap by characters, words or sentences, as one DuckDB view (no Python per row).

Units: ``characters`` (exact substrings, so chunks can be mapped back to offsets), ``words``
(whitespace tokens as Python's ``str.split()`` sees them, re-joined with single spaces) and
``sentences`` (runs ending in . ! ? or their CJK forms, plus trailing quotes/brackets; re-joined with
single spaces). Chunk k covers units [k*step, k*step + size) with step = size - overlap; the last chunk
is the one that reaches the end, so no chunk is made only of overlap. DataFlow's KBC chunker counts
tokens of a tokenizer; words are the closest tokenizer-free unit.
"""

from typing import Any, ClassVar, Literal

from operators.core.contract import Kind, OpConfig, Operator, OperatorContext, OperatorError, quote_ident
from operators.core.registry import register
from operators.core.rowids import ID, PARENTS, derived_id_sql

_WS = r"[\t\n\x0b\x0c\r\x1c-\x1f \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]+"
_SENT = r"[^.!?\x{3002}\x{ff01}\x{ff1f}]+(?:[.!?\x{3002}\x{ff01}\x{ff1f}]+[\"'\x{201d}\x{2019})\]]*|$)"


class ChunkConfig(OpConfig):
    input_key: str = "text"
    output_key: str = "chunk"
    unit: Literal["characters", "words", "sentences"] = "words"
    size: int = 200
    overlap: int = 20
    keep_input: bool = False  # keep the whole document text on every chunk row (large tables)


@register
class TextChunker(Operator):
    """Splits each text into overlapping chunks: one row per chunk with ``chunk_index`` and
    ``chunk_count``, linked to its document row."""

    kind: ClassVar[Kind] = Kind.GENERATE
    Config = ChunkConfig
    domain = "knowledge"
    tags = ("chunk", "split", "rag", "knowledge")

    def __init__(self, config: OpConfig | None = None, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        c = self.config
        if c.size < 1 or not 0 <= c.overlap < c.size:
            raise OperatorError(
                f"{self.name}: need size >= 1 and 0 <= overlap < size, got size={c.size}, overlap={c.overlap}"
            )

    def input_columns(self) -> list[str]:
        return [self.config.input_key]

    def output_columns(self) -> list[str]:
        return ["chunk_index", "chunk_count", self.config.output_key]

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        c = self.config
        col, step, size, ov = quote_ident(c.input_key), c.size - c.overlap, c.size, c.overlap
        if c.unit == "words":
            units = f"list_filter(regexp_split_to_array(t, '{_WS}'), lambda w: w <> '')"
        elif c.unit == "sentences":
            sent = _SENT.replace("'", "''")
            units = (
                f"list_filter(list_transform(regexp_extract_all(t, '{sent}'), "
                f"lambda x: trim(regexp_replace(x, '{_WS}', ' ', 'g'))), lambda x: x <> '')"
            )
        else:
            units = "NULL::VARCHAR[]"
        ctx.con.execute(f"CREATE OR REPLACE TEMP MACRO chunk_units(t) AS {units}")
        n = "length(__text)" if c.unit == "characters" else "len(__units)"
        piece = (
            f"substr(__text, __start + 1, {size})"
            if c.unit == "characters"
            else f"array_to_string(list_slice(__units, __start + 1, __start + {size}), ' ')"
        )
        cols = ctx.columns()
        drop = [x for x in (ID, PARENTS) if x in cols]
        if not c.keep_input:
            drop.append(c.input_key)
        if c.output_key in cols and c.output_key not in drop:
            drop.append(c.output_key)
        drop_sql = ", ".join(quote_ident(x) for x in drop)
        last = f"greatest(__n - {ov}, 1)"
        new_id = derived_id_sql("__doc_id", self.fingerprint(), "__start")
        ctx.con.execute(f"""CREATE VIEW {quote_ident(ctx.target)} AS
            SELECT {new_id} AS {ID}, [__doc_id] AS {PARENTS},
                   * EXCLUDE (__doc_id, __text, __units, __n, __start),
                   (__start // {step})::INTEGER AS chunk_index,
                   (({last} - 1) // {step} + 1)::INTEGER AS chunk_count,
                   {piece} AS {quote_ident(c.output_key)}
            FROM (SELECT d.*, unnest(range(0, {last.replace("__n", "d.__n")}, {step})) AS __start
                  FROM (SELECT u.*, {n.replace("__", "u.__")} AS __n
                        FROM (SELECT s.{ID} AS __doc_id, s.* EXCLUDE ({drop_sql}), s.{col} AS __text,
                                     chunk_units(s.{col}) AS __units
                              FROM {quote_ident(ctx.source or "")} s
                              WHERE s.{col} IS NOT NULL AND trim(s.{col}) <> '') u) d)
            ORDER BY __pos, __start""")
        return {}
