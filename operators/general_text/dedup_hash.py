"""Hash-based near-duplicate filters after DataFlow: n-gram part hashes and SimHash fingerprints.

Both keep DataFlow's order semantics (a row is a duplicate of an earlier *kept* row, resolved by
``greedy_resolve``) but find candidates without comparing every row to every kept row:
  * NgramHashDeduplicateFilter: each text is cut into ``n_gram`` equal parts, each part hashed in
    SQL; rows sharing >= ``diff_size`` part hashes are candidates (a join on the hash).
  * SimHashDeduplicateFilter: 64-bit fingerprints computed exactly as the ``simhash`` package does
    (lower-cased word characters, 4-character features weighted by count, md5), in SQL; pairs within
    the Hamming radius are found by the pigeonhole principle (radius r => some of r+1 bit blocks are
    equal), so no pair is missed, then checked with DataFlow's similarity formula.
"""

from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from operators.core.contract import DataflowKey, Kind, Operator, OperatorContext, quote_ident
from operators.core.dataflow_names import DEDUP_KEYS
from operators.core.registry import register
from operators.core.rowids import ID
from operators.core.sql_ops import POS, TextConfig
from operators.general_text.dedup_resolve import greedy_resolve
from operators.general_text.dedup_write import write_dedup_views
from operators.general_text.textsql import WORD_CLASS


class _DedupBase(Operator):
    kind: ClassVar[Kind] = Kind.FILTER
    tags: ClassVar[tuple[str, ...]] = ("dedup", "near-duplicate", "pretrain")

    def input_columns(self) -> list[str]:
        return [self.config.input_key]  # type: ignore[attr-defined]

    def output_columns(self) -> list[str]:
        return []

    def _rows(self, ctx: OperatorContext) -> tuple[np.ndarray, np.ndarray]:
        """``__pos`` and ``_id`` of every row in input order; row k of the result is node k."""
        ctx.con.execute(
            f"CREATE TEMP TABLE __dd_rows AS SELECT row_number() OVER (ORDER BY {POS}) - 1 AS idx, "
            f"{POS} AS pos, {ID} AS id FROM {quote_ident(ctx.source or '')}"
        )
        r = ctx.con.execute("SELECT pos, id FROM __dd_rows ORDER BY idx").fetchnumpy()
        return r["pos"], r["id"].astype(object)

    def _finish(
        self,
        ctx: OperatorContext,
        pos: np.ndarray,
        ids: np.ndarray,
        dup_of: np.ndarray,
        label: str,
        stats: dict[str, Any],
    ) -> dict[str, Any]:
        is_dup = dup_of != -1
        write_dedup_views(ctx, pos[is_dup], ids[dup_of[is_dup]], self.name, label)
        stats["duplicates"] = int(is_dup.sum())
        return stats


class NgramHashConfig(TextConfig):
    dataflow_keys: ClassVar[dict[str, DataflowKey]] = DEDUP_KEYS
    n_gram: int = Field(3, ge=1)
    hash_func: Literal["md5", "sha256", "xxh3"] = "md5"
    diff_size: int = Field(1, ge=1)


@register
class NgramHashDeduplicateFilter(_DedupBase):
    """Drops a text sharing >= diff_size of its n_gram equal-length part hashes with an earlier kept text."""

    Config = NgramHashConfig

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        cfg = self.config
        pos, ids = self._rows(ctx)
        c, n = quote_ident(cfg.input_key), int(cfg.n_gram)
        # the hash function only has to be injective in practice; md5 in DuckDB serves all three names
        ctx.con.execute(f"""
            CREATE TEMP TABLE __ng AS
            SELECT DISTINCT r.idx, md5(substr(coalesce(s.{c}, ''), i * (length(coalesce(s.{c}, '')) // {n}) + 1,
                                             length(coalesce(s.{c}, '')) // {n})) AS h
            FROM {quote_ident(ctx.source or "")} s JOIN __dd_rows r ON s.{POS} = r.pos, range({n}) t(i)""")
        e = ctx.con.execute(f"""
            SELECT a.idx AS a, b.idx AS b FROM __ng a JOIN __ng b ON a.h = b.h AND a.idx < b.idx
            GROUP BY 1, 2 HAVING count(*) >= {int(cfg.diff_size)}""").fetchnumpy()
        dup_of = greedy_resolve(len(pos), e["a"].astype(np.int64), e["b"].astype(np.int64))
        return self._finish(
            ctx,
            pos,
            ids,
            dup_of,
            f"shares >= {cfg.diff_size} of {n} part hashes with",
            {"candidate_pairs": len(e["a"])},
        )


class SimHashConfig(TextConfig):
    dataflow_keys: ClassVar[dict[str, DataflowKey]] = DEDUP_KEYS
    fingerprint_size: Literal[64] = 64
    bound: float = Field(0.1, ge=0, lt=0.5)


def _bit_length(v: np.ndarray) -> np.ndarray:
    out = np.zeros(v.shape, dtype=np.int64)
    for j in range(64):
        out += (v >> np.uint64(j)) != 0
    return out


@register
class SimHashDeduplicateFilter(_DedupBase):
    """Drops a text whose SimHash similarity to an earlier kept text is >= 1 - bound (DataFlow formula)."""

    Config = SimHashConfig
    tags = ("dedup", "simhash", "near-duplicate", "pretrain")

    def fingerprints(self, ctx: OperatorContext) -> np.ndarray:
        c = quote_ident(self.config.input_key)
        clean = f"regexp_replace(lower(coalesce(s.{c}, '')), '[^{WORD_CLASS}]', '', 'g')"
        return (
            ctx.con.execute(f"""
            WITH f AS (SELECT r.idx, unnest(list_transform(range(greatest(length(cl) - 3, 1)),
                                                           lambda i: substr(cl, i + 1, 4))) AS feat
                       FROM (SELECT {POS}, {clean} AS cl FROM {quote_ident(ctx.source or "")} s) s
                       JOIN __dd_rows r ON s.{POS} = r.pos),
                 w AS (SELECT idx, feat, count(*) AS w FROM f GROUP BY ALL),
                 h AS (SELECT idx, w, ('0x' || substr(md5(feat), 17, 16))::UBIGINT AS h FROM w),
                 b AS (SELECT idx, j, sum(w * ((h >> j) & 1)) AS s, sum(w) AS cnt FROM h, range(64) t(j)
                       GROUP BY idx, j)
            SELECT idx, sum(CASE WHEN s > cnt / 2 THEN (1::UBIGINT << j) ELSE 0 END)::UBIGINT AS v
            FROM b GROUP BY idx ORDER BY idx""")
            .fetchnumpy()["v"]
            .astype(np.uint64)
        )

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        bound = float(self.config.bound)
        pos, ids = self._rows(ctx)
        v = self.fingerprints(ctx)
        # largest Hamming distance that can still count as similar (bin() strings are at most 66 long)
        radius = max(d for d in range(65) if 1 - d / 66 >= 1 - bound)
        blocks = np.array_split(np.arange(64), radius + 1)
        cand_a, cand_b = [], []
        for bits in blocks:
            mask = np.uint64(sum(1 << int(b) for b in bits))
            key = v & mask
            order = np.argsort(key, kind="stable")
            ks = key[order]
            starts = np.flatnonzero(np.r_[True, ks[1:] != ks[:-1]])
            sizes = np.diff(np.r_[starts, len(ks)])
            for size in np.unique(sizes[sizes > 1]):  # all pairs inside groups of equal size, vectorised
                g = starts[sizes == size]
                ii, jj = np.triu_indices(int(size), k=1)
                cand_a.append(order[(g[:, None] + ii[None, :]).ravel()])
                cand_b.append(order[(g[:, None] + jj[None, :]).ravel()])
        a = np.concatenate(cand_a) if cand_a else np.zeros(0, dtype=np.int64)
        b = np.concatenate(cand_b) if cand_b else np.zeros(0, dtype=np.int64)
        a, b = np.minimum(a, b), np.maximum(a, b)
        if a.size:
            ab = np.unique(np.stack([a, b], axis=1), axis=0)
            a, b = ab[:, 0], ab[:, 1]
        dist = np.bitwise_count(v[a] ^ v[b]).astype(np.int64)
        longest = np.maximum(_bit_length(v[a]), _bit_length(v[b])) + 2
        similar = 1 - dist / longest >= 1 - bound
        dup_of = greedy_resolve(len(pos), a[similar], b[similar])
        return self._finish(
            ctx,
            pos,
            ids,
            dup_of,
            f"SimHash similarity >= {1 - bound:g} to",
            {"candidate_pairs": int(a.size), "similar_pairs": int(similar.sum())},
        )
