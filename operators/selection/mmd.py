"""MMDDatasetEvaluator: how far an SFT dataset's distribution is from a reference dataset's.

After DataFlow's MMDDatasetEvaluator: sample up to ``max_sample_num`` rows of each (seeded), embed
instruction + output, and compute the maximum mean discrepancy with an RBF kernel
(``exp(-|x - y|^2 / (2 sigma^2))``; ``bias: true`` is the biased estimator, as DataFlow's default).
DataFlow embeds with sentence-transformers or vLLM; here the model source of ``operators.scoring``
(embedded GGUF by default, or ``/v1/embeddings``). The reference is a file (``ref_path``: JSONL,
JSON or Parquet) instead of a DataFlow storage object. Kernel sums are computed block by block, so
memory stays bounded; the work is quadratic in the sample size, which ``max_sample_num`` caps.
Rows pass through unchanged; ``MMD`` is a step stat.
"""

from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from operators.core.contract import Kind, Operator, OperatorContext, OperatorError, quote_ident, quote_literal
from operators.core.registry import register
from operators.scoring.embeddings import embed_texts
from operators.scoring.source import ModelSourceConfig


class MMDConfig(ModelSourceConfig):
    ref_path: str
    ref_instruction_key: str = "input"
    ref_output_key: str = "output"
    input_instruction_key: str = "instruction"
    input_output_key: str = "output"
    max_sample_num: int = Field(5000, ge=1)
    shuffle_seed: int = 42
    kernel_type: Literal["RBF"] = "RBF"
    bias: bool = True
    rbf_sigma: float = Field(1.0, gt=0)


def _kernel_mean(x: np.ndarray, y: np.ndarray, sigma: float, drop_diagonal: bool, block: int = 2048) -> float:
    total, count = 0.0, 0
    xx, yy = (x * x).sum(axis=1), (y * y).sum(axis=1)
    for s in range(0, len(x), block):
        d2 = np.maximum(xx[s : s + block, None] + yy[None, :] - 2 * x[s : s + block] @ y.T, 0)
        k = np.exp(-d2 / (2 * sigma * sigma))
        if drop_diagonal:
            idx = np.arange(k.shape[0])
            k[idx, idx + s] = 0.0
        total += float(k.sum())
        count += k.size - (k.shape[0] if drop_diagonal else 0)
    return total / max(count, 1)


def mmd(x: np.ndarray, y: np.ndarray, sigma: float, bias: bool) -> float:
    """MMD (the square root of the MMD^2 estimate, clipped at 0) between two samples."""
    m2 = (
        _kernel_mean(x, x, sigma, not bias) + _kernel_mean(y, y, sigma, not bias) - 2 * _kernel_mean(x, y, sigma, False)
    )
    return float(np.sqrt(max(m2, 0.0)))


def _sample(texts: list[str], n: int, seed: int) -> list[str]:
    if len(texts) <= n:
        return texts
    pick = np.random.default_rng(seed).choice(len(texts), size=n, replace=False)
    return [texts[i] for i in sorted(pick)]


@register
class MMDDatasetEvaluator(Operator):
    """Distribution distance (RBF-kernel MMD of embeddings) between this dataset and a reference file."""

    kind: ClassVar[Kind] = Kind.EVALUATE
    Config = MMDConfig
    domain = "text_sft"
    tags = ("embedding", "dataset", "distribution", "score")

    def input_columns(self) -> list[str]:
        return [self.config.input_instruction_key, self.config.input_output_key]

    def output_columns(self) -> list[str]:
        return []

    def _texts(self, ctx: OperatorContext, relation: str, ins: str, out: str) -> list[str]:
        rows = ctx.con.sql(
            f"SELECT coalesce({quote_ident(ins)}::VARCHAR, '') || '\n' || coalesce({quote_ident(out)}::VARCHAR, '') "
            f"FROM {relation}"
        ).fetchall()
        return [r[0] for r in rows]

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        c = self.config
        path = Path(c.ref_path)
        if not path.is_file():
            raise OperatorError(f"{self.name}: ref_path '{path}' does not exist; point it at a JSONL/JSON/Parquet file")
        reader = "read_parquet" if path.suffix == ".parquet" else "read_json_auto"
        ref_rel = f"{reader}({quote_literal(str(path))})"
        ref_cols = [r[0] for r in ctx.con.sql(f"DESCRIBE SELECT * FROM {ref_rel}").fetchall()]
        missing = [k for k in (c.ref_instruction_key, c.ref_output_key) if k not in ref_cols]
        if missing:
            raise OperatorError(f"{self.name}: {path} has no column(s) {missing} (it has {ref_cols}); set ref_*_key")
        src = self._texts(ctx, quote_ident(ctx.source or ""), c.input_instruction_key, c.input_output_key)
        ref = self._texts(ctx, ref_rel, c.ref_instruction_key, c.ref_output_key)
        x = embed_texts(c, _sample(src, c.max_sample_num, c.shuffle_seed))
        y = embed_texts(c, _sample(ref, c.max_sample_num, c.shuffle_seed))
        ctx.con.execute(f"CREATE VIEW {quote_ident(ctx.target)} AS SELECT * FROM {quote_ident(ctx.source or '')}")
        value = mmd(x, y, c.rbf_sigma, c.bias) if len(x) and len(y) else None
        return {"MMD": None if value is None else round(value, 6), "n_eval": len(x), "n_ref": len(y)}
