"""KCenterGreedyFilter: keep a diverse coreset of ``num_samples`` rows (farthest-first over embeddings).

After DataFlow's KCenterGreedyFilter: embed the texts, start from a random row, repeatedly add the
row farthest from everything chosen so far, keep the chosen rows in input order. DataFlow computes a
full distance pass per chosen row, O(n * num_samples * dim) with a torch tensor of all embeddings;
here ``method: ann`` (default) selects the same rows (up to HNSW recall) with a heap of distance
bounds and an index of the centers (``operators.selection.ann``), and ``method: exact`` runs the
reference algorithm for small tables. The start row is seeded (``seed``), so runs repeat; DataFlow's
is unseeded. Rejected rows carry their distance to the nearest chosen row.
"""

from typing import Any, ClassVar, Literal

import numpy as np
import pyarrow as pa
from pydantic import Field

from operators.core.contract import Kind, Operator, OperatorContext, quote_ident, quote_literal
from operators.core.registry import register
from operators.core.sql_ops import POS
from operators.selection.ann import kcenter_greedy, kcenter_greedy_exact
from operators.selection.embedding_step import SelectionConfig, input_embeddings


class KCenterConfig(SelectionConfig):
    input_key: str = "content"  # DataFlow's default column
    num_samples: int = Field(ge=1)
    seed: int = 0
    method: Literal["ann", "exact"] = "ann"


@register
class KCenterGreedyFilter(Operator):
    """Keeps ``num_samples`` rows chosen farthest-first in embedding space (a k-center coreset)."""

    kind: ClassVar[Kind] = Kind.FILTER
    Config = KCenterConfig
    domain = "core_text"
    tags = ("selection", "diversity", "coreset", "embedding", "sft")

    def input_columns(self) -> list[str]:
        return [self.config.embedding_key or self.config.input_key]

    def output_columns(self) -> list[str]:
        return []

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        c = self.config
        pos, emb = input_embeddings(ctx, c, f"{self.name} step '{ctx.step}'")
        pick = kcenter_greedy if c.method == "ann" else kcenter_greedy_exact
        chosen, dist2 = pick(emb, c.num_samples, seed=c.seed) if len(pos) else (np.zeros(0, np.int64), np.zeros(0))
        mask = np.zeros(len(pos), dtype=bool)
        mask[chosen] = True
        name = f"__kc_{abs(hash(ctx.target)) % 10**8}"
        table = pa.table({"pos": pos.astype(np.int64), "keep": mask, "dist": np.sqrt(np.asarray(dist2, np.float64))})
        ctx.con.register(f"{name}_a", table)
        ctx.con.execute(f"CREATE TEMP TABLE {name} AS SELECT * FROM {name}_a")
        ctx.con.unregister(f"{name}_a")
        src = quote_ident(ctx.source or "")
        ctx.con.execute(
            f"CREATE VIEW {quote_ident(ctx.target)} AS SELECT s.* FROM {src} s JOIN {name} k ON s.{POS} = k.pos "
            f"WHERE k.keep ORDER BY s.{POS}"
        )
        label = quote_literal(f"{self.name}: not in the {c.num_samples}-row coreset; distance to nearest center ")
        ctx.con.execute(
            f"CREATE VIEW {quote_ident(ctx.rejected)} AS SELECT s.*, {label} || round(k.dist, 4)::VARCHAR AS _reason "
            f"FROM {src} s JOIN {name} k ON s.{POS} = k.pos WHERE NOT k.keep ORDER BY s.{POS}"
        )
        radius = float(np.sqrt(dist2.max())) if len(dist2) else 0.0
        return {"selected": int(mask.sum()), "coverage_radius": round(radius, 6), "method": c.method}
