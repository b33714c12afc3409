"""ANNSemDeduplicateFilter: semantic near-duplicate removal that scales past SFT-sized tables.

Same rule as SemDeduplicateFilter (DataFlow's: drop a row whose cosine similarity to an earlier kept
row is >= 1 - eps, first row of a group kept), but candidate pairs come from an HNSW index
(``usearch``): each row's ``neighbors`` nearest rows instead of all earlier rows, so the work is
O(n log n) rather than n^2 / 2 similarities. The price is recall: a row with more than ``neighbors``
near-duplicates may miss some pairs, which only matters when chains of duplicates are longer than
that; ``bench/selection.py`` measures agreement with the exact filter. Embeddings come from an
EmbeddingGenerator column (``embedding_key``) or are computed here from ``input_key``.
"""

from typing import Any

from pydantic import Field

from operators.core.contract import OperatorContext
from operators.core.registry import register
from operators.general_text.dedup_hash import _DedupBase
from operators.general_text.dedup_resolve import greedy_resolve
from operators.selection.ann import knn_pairs
from operators.selection.embedding_step import SelectionConfig, input_embeddings


class ANNSemDedupConfig(SelectionConfig):
    eps: float = Field(0.05, gt=0, lt=1)  # duplicates have cosine similarity >= 1 - eps
    neighbors: int = Field(16, ge=1, le=1024)


@register
class ANNSemDeduplicateFilter(_DedupBase):
    """Drops rows whose embedding is within cosine distance eps of an earlier kept row (HNSW candidates)."""

    Config = ANNSemDedupConfig
    domain = "core_text"
    tags = ("dedup", "semantic", "embedding", "ann", "selection")

    def input_columns(self) -> list[str]:
        return [self.config.embedding_key or self.config.input_key]

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        c = self.config
        pos, ids = self._rows(ctx)
        _, emb = input_embeddings(ctx, c, f"{self.name} step '{ctx.step}'")
        a, b, d = knn_pairs(emb, c.neighbors)
        close = d <= c.eps
        dup_of = greedy_resolve(len(pos), a[close], b[close])
        stats = {"similar_pairs": int(close.sum()), "candidate_pairs": len(a)}
        return self._finish(ctx, pos, ids, dup_of, f"cosine similarity >= {1 - c.eps:g} to", stats)
