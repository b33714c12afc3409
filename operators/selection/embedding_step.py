"""EmbeddingGenerator: one embedding vector per row, as a ``FLOAT[]`` column other steps reuse.

After DataFlow's EmbeddingGenerator (texts -> ``embedding_serving`` -> ``embeddings`` column). The
vectors come from the embedded GGUF model (llama.cpp, mean pooling) or an OpenAI-compatible
``/v1/embeddings`` endpoint (``base_url``), L2-normalised. Stored once, they feed KCenterGreedyFilter
and ANNSemDeduplicateFilter (``embedding_key``) without embedding the texts again.
"""

from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
from pydantic import Field

from operators.core.contract import Kind, Operator, OperatorContext, quote_ident
from operators.core.judge_filter import join_columns
from operators.core.registry import register
from operators.core.rowids import ID
from operators.core.sql_ops import POS
from operators.scoring.embeddings import embed_texts, matrix
from operators.scoring.source import ModelSourceConfig, source_id


class EmbeddingConfig(ModelSourceConfig):
    input_key: str = "text"
    output_key: str = "embeddings"
    batch_rows: int = Field(64, ge=1)


def _vectors_table(ids: list[Any], vecs: np.ndarray) -> pa.Table:
    flat = pa.array(vecs.reshape(-1), type=pa.float32())
    offsets = pa.array(np.arange(0, vecs.size + 1, max(vecs.shape[1], 1), dtype=np.int32))
    return pa.table({ID: ids, "vec": pa.ListArray.from_arrays(offsets, flat)})


@register
class EmbeddingGenerator(Operator):
    """Adds an L2-normalised embedding of ``input_key`` (local GGUF model or /v1/embeddings) as ``output_key``."""

    kind: ClassVar[Kind] = Kind.REFINE  # same rows, one column added
    Config = EmbeddingConfig
    domain = "core_text"
    tags = ("embedding", "model", "selection", "dedup")
    row_local: ClassVar[bool] = True

    def input_columns(self) -> list[str]:
        return [self.config.input_key]

    def output_columns(self) -> list[str]:
        return [self.config.output_key]

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        c = self.config
        out = quote_ident(f"{ctx.target}__vectors")
        ctx.con.execute(f"CREATE TABLE {out} ({ID} VARCHAR, vec FLOAT[])")
        reader = (
            ctx.con.cursor()
            .sql(f"SELECT {ID}, {quote_ident(c.input_key)} FROM {quote_ident(ctx.source or '')}")
            .to_arrow_reader(c.batch_rows)
        )
        total, done, dim = ctx.count(), 0, 0
        for batch in reader:
            texts = [t or "" for t in batch.column(1).to_pylist()]
            vecs = embed_texts(c, texts)
            dim = vecs.shape[1]
            ctx.con.register("__vec_batch", _vectors_table(batch.column(0).to_pylist(), vecs))
            ctx.con.execute(f"INSERT INTO {out} SELECT * FROM __vec_batch")
            ctx.con.unregister("__vec_batch")
            done += len(texts)
            ctx.progress(done, total)
        join_columns(ctx, f"{ctx.target}__vectors", {c.output_key: "o.vec"})
        return {"embedded_rows": done, "embedding_dim": dim, "embedded_by": source_id(c)}


class SelectionConfig(ModelSourceConfig):
    """Shared by selection steps: read vectors from ``embedding_key``, or embed ``input_key`` here."""

    input_key: str = "text"
    embedding_key: str | None = None


def input_embeddings(ctx: OperatorContext, c: SelectionConfig, where: str) -> tuple[np.ndarray, np.ndarray]:
    """``__pos`` of every input row (in order) and its embedding matrix, rows aligned."""
    src = quote_ident(ctx.source or "")
    if c.embedding_key:
        tbl = ctx.con.sql(f"SELECT {POS}, {quote_ident(c.embedding_key)} FROM {src} ORDER BY {POS}").to_arrow_table()
        return tbl.column(0).to_numpy(), matrix(tbl.column(1), f"{where}, column '{c.embedding_key}'")
    reader = (
        ctx.con.cursor().sql(f"SELECT {POS}, {quote_ident(c.input_key)} FROM {src} ORDER BY {POS}").to_arrow_reader(64)
    )
    pos, chunks, total = [], [], ctx.count()
    for batch in reader:
        pos.append(batch.column(0).to_numpy())
        chunks.append(embed_texts(c, [t or "" for t in batch.column(1).to_pylist()]))
        ctx.progress(sum(len(p) for p in pos), total)
    if not chunks:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 1), dtype=np.float32)
    return np.concatenate(pos), np.concatenate(chunks)
