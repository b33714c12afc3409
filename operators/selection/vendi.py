"""VendiDatasetEvaluator: how diverse is a dataset, as an effective number of distinct items.

After DataFlow's VendiDatasetEvaluator (Vendi score of BERT and SimCSE embeddings, downloaded from
the hub). The Vendi score is exp(entropy of the eigenvalues of K/n), K the cosine-similarity kernel
of the rows' embeddings: 1 when all rows are the same, n when all are orthogonal. With unit vectors
X (n x d), K/n = X X^T / n has the same non-zero eigenvalues as X^T X / n (d x d), so the score
costs O(n d^2) and never builds the n x n kernel. Embeddings: ``embedding_key`` or the model source
(embedded GGUF by default, see ``operators.scoring``). Rows pass through unchanged; the score is a
step stat (``VendiScore``) shown in the materialisation metadata.
"""

from typing import Any, ClassVar

import numpy as np

from operators.core.contract import Kind, Operator, OperatorContext, quote_ident
from operators.core.registry import register
from operators.selection.embedding_step import SelectionConfig, input_embeddings


def vendi_score(emb: np.ndarray) -> float:
    """Vendi score of unit-norm rows (cosine kernel)."""
    n = len(emb)
    if n == 0:
        return 0.0
    x = emb.astype(np.float64)
    lam = np.linalg.eigvalsh(x.T @ x / n)
    lam = lam[lam > 1e-12]
    return float(np.exp(-(lam * np.log(lam)).sum()))


@register
class VendiDatasetEvaluator(Operator):
    """Dataset diversity as the Vendi score of the rows' embeddings (stat ``VendiScore``; rows unchanged)."""

    kind: ClassVar[Kind] = Kind.EVALUATE
    Config = SelectionConfig
    domain = "general_text"
    tags = ("diversity", "embedding", "dataset", "score")

    def input_columns(self) -> list[str]:
        return [self.config.embedding_key or self.config.input_key]

    def output_columns(self) -> list[str]:
        return []

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        _, emb = input_embeddings(ctx, self.config, f"{self.name} step '{ctx.step}'")
        ctx.con.execute(f"CREATE VIEW {quote_ident(ctx.target)} AS SELECT * FROM {quote_ident(ctx.source or '')}")
        return {"VendiScore": round(vendi_score(emb), 4), "rows": len(emb)}
