"""MinHash-LSH near-duplicate filter with verified Jaccard and an optional persistent index.

DataFlow's MinHashDeduplicateFilter (datasketch, 128 permutations, threshold 0.9, character
5-gram shingles) drops a row on *any* LSH bucket hit against the rows kept so far. Here:
  1. batches of texts -> character n-gram hashes (numpy) -> MinHash signatures (rensa, Rust);
  2. signatures go to a memory-mapped file in DuckDB's temp directory, band keys to a DuckDB table;
  3. rows with identical signatures collapse to their first row; the others pair up within LSH
     buckets (DuckDB join), and a pair counts only if its estimated Jaccard >= threshold;
  4. ``greedy_resolve`` keeps DataFlow's order semantics (a row is a duplicate of an earlier
     *kept* row) and names the kept row in ``_duplicate_of``.
With ``index_path`` set, signatures of kept rows persist, and a refresh checks new rows against
everything kept before without recomputing it (see ``dedup_index``).
"""

import contextlib
import os
import tempfile
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
from pydantic import Field

from operators.core import arrow_np
from operators.core.contract import DataflowKey, Kind, Operator, OperatorContext, OperatorError, quote_ident
from operators.core.dataflow_names import DEDUP_KEYS
from operators.core.registry import register
from operators.core.rowids import ID
from operators.core.sql_ops import POS, TextConfig
from operators.general_text.dedup_index import SignatureIndex
from operators.general_text.dedup_resolve import greedy_resolve, lsh_params, verified_pairs
from operators.general_text.dedup_write import inherit_from_representatives, write_dedup_views
from operators.general_text.shingles import char_ngram_hashes


class MinHashConfig(TextConfig):
    dataflow_keys: ClassVar[dict[str, DataflowKey]] = {
        **DEDUP_KEYS,
        # DataFlow shingles characters: n-grams of `ngram` characters, or single characters without n-grams
        "use_n_gram": DataflowKey(convert=lambda v: {} if v is True else ({"ngram": 1} if v is False else None)),
    }
    num_perm: int = Field(128, ge=8, le=1024)
    threshold: float = Field(0.9, gt=0, le=1)
    ngram: int = Field(5, ge=1, le=32)
    seed: int = 42
    bucket_cap: int = Field(200, ge=2, description="earlier rows per LSH bucket a row is compared with")
    index_path: str | None = None
    batch_rows: int = Field(20_000, ge=100)


def band_keys(sig: np.ndarray, bands: int, rows: int, seed: int) -> np.ndarray:
    """One 64-bit key per band: a random linear combination of the band's values (mod 2^64)."""
    rng = np.random.default_rng(seed ^ 0x5EED)
    coef = rng.integers(1, 2**63, size=(bands, rows), dtype=np.uint64) | np.uint64(1)
    out = np.empty((sig.shape[0], bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for b in range(bands):
            block = sig[:, b * rows : (b + 1) * rows].astype(np.uint64)
            out[:, b] = (block * coef[b]).sum(axis=1, dtype=np.uint64) + np.uint64(b)
    return out


# UTF-8 bytes hashed per chunk of rows. The n-gram kernel makes a handful of uint64 temporaries the
# size of its input; at ~0.5M characters each is a few MB, which the allocator hands back and reuses
# from one chunk to the next. One temporary per 10k-document batch (~70 MB each) instead means fresh
# pages for every operation, and first-touch page faults are most of the cost on a VM (measured: a
# 10k-document batch 3.4 s in one piece, 0.7 s in chunks). Signatures are per row, so the chunking
# does not change them.
CHUNK_BYTES = 1 << 19


def row_chunks(texts: pa.Array, budget: int) -> list[tuple[int, int]]:
    """``[start, stop)`` row ranges of ``texts`` of about ``budget`` UTF-8 bytes each (a longer text
    is a range of its own). Read from the offsets buffer: no per-row work, no conversion."""
    texts = texts.cast(pa.large_string())
    offsets = np.frombuffer(texts.buffers()[1], dtype=np.int64)[texts.offset : texts.offset + len(texts) + 1]
    ends = offsets[1:] - offsets[0]
    out, start, n = [], 0, len(texts)
    while start < n:
        base = ends[start - 1] if start else 0
        stop = max(start + 1, int(np.searchsorted(ends, base + budget, side="right")))
        out.append((start, min(stop, n)))
        start = out[-1][1]
    return out


def signatures(texts: pa.Array, num_perm: int, ngram: int, seed: int) -> np.ndarray:
    import rensa

    out = np.empty((len(texts), num_perm), dtype=np.uint32)
    for start, stop in row_chunks(texts, CHUNK_BYTES):
        hashes, offsets = char_ngram_hashes(texts.slice(start, stop - start), ngram)
        matrix = rensa.RMinHash.digest_matrix_from_flat_token_hashes(hashes, offsets.astype(np.uint64), num_perm, seed)
        out[start:stop] = np.asarray(matrix.to_rows(), dtype=np.uint32).reshape(stop - start, num_perm)
    return out


@register
class MinHashDeduplicateFilter(Operator):
    """Drops near-duplicate texts (MinHash-LSH over character n-grams, Jaccard verified).

    Keeps the first row of each group in input order; rejected rows name the kept row they
    duplicate in ``_duplicate_of``.
    """

    kind: ClassVar[Kind] = Kind.FILTER
    Config = MinHashConfig
    tags = ("dedup", "minhash", "near-duplicate", "pretrain")

    def input_columns(self) -> list[str]:
        return [self.config.input_key]

    def output_columns(self) -> list[str]:
        return []

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        cfg = self.config
        bands, rows = lsh_params(cfg.threshold, cfg.num_perm)
        index = SignatureIndex.open(
            cfg.index_path,
            kind="minhash",
            params={"num_perm": cfg.num_perm, "ngram": cfg.ngram, "seed": cfg.seed, "bands": bands, "rows": rows},
        )
        src = quote_ident(ctx.source or "")
        n = ctx.count()
        tmpdir = _temp_dir(ctx)
        sig_path = os.path.join(tmpdir, f"minhash-{os.getpid()}-{id(self)}.u32")
        sig = np.lib.format.open_memmap(sig_path, mode="w+", dtype=np.uint32, shape=(max(n, 1), cfg.num_perm))
        try:
            con = ctx.con
            con.execute("CREATE TEMP TABLE __mh_rows (idx BIGINT, pos BIGINT, id VARCHAR, sighash UBIGINT)")
            con.execute("CREATE TEMP TABLE __mh_bands (idx BIGINT, band USMALLINT, key UBIGINT)")
            reader = (
                con.cursor()
                .sql(f"SELECT {POS}, {ID}, {quote_ident(cfg.input_key)} FROM {src} ORDER BY {POS}")
                .to_arrow_reader(cfg.batch_rows)
            )
            done = 0
            for batch in reader:
                m = batch.num_rows
                if m == 0:
                    continue
                s = signatures(batch.column(2), cfg.num_perm, cfg.ngram, cfg.seed)
                sig[done : done + m] = s
                keys = band_keys(s, bands, rows, cfg.seed)
                idx = np.arange(done, done + m, dtype=np.int64)
                full = band_keys(s, 1, cfg.num_perm, cfg.seed + 1)[:, 0]
                con.register(
                    "__mh_b",
                    arrow_np.table({"idx": idx, "pos": batch.column(0), "id": batch.column(1), "sighash": full}),
                )
                con.execute("INSERT INTO __mh_rows SELECT * FROM __mh_b")
                con.register(
                    "__mh_k",
                    arrow_np.table(
                        {
                            "idx": np.repeat(idx, bands),
                            "band": np.tile(np.arange(bands, dtype=np.uint16), m),
                            "key": keys.reshape(-1),
                        }
                    ),
                )
                con.execute("INSERT INTO __mh_bands SELECT * FROM __mh_k")
                con.unregister("__mh_b")
                con.unregister("__mh_k")
                done += m
                ctx.progress(done, n)
            sig.flush()
            dup_of, stats = self._resolve(ctx, sig, done, index)
            rows_tbl = con.execute("SELECT pos, id FROM __mh_rows ORDER BY idx").fetchnumpy()
            ids = rows_tbl["id"].astype(object)
            is_dup = dup_of != -1
            d = dup_of[is_dup]
            names = np.empty(d.size, dtype=object)
            names[d >= 0] = ids[d[d >= 0]]
            if index is not None and (d < -1).any():
                names[d < -1] = index.ids()[-d[d < -1] - 2]
            if index is not None:
                kept_idx = np.flatnonzero(~is_dup)
                fresh = kept_idx[~index.known_ids(ids[kept_idx])]
                index.append(ids[fresh], band_keys(sig[fresh], bands, rows, cfg.seed), sig[fresh])
                stats["index_rows_added"] = int(fresh.size)
            write_dedup_views(
                ctx, rows_tbl["pos"][is_dup], names, self.name, f"near-duplicate (Jaccard >= {cfg.threshold}) of"
            )
            return stats
        finally:
            del sig
            with contextlib.suppress(FileNotFoundError):
                os.unlink(sig_path)

    def _resolve(
        self, ctx: OperatorContext, sig: np.ndarray, n: int, index: "SignatureIndex | None"
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """``dup_of`` per current row: -1 kept, i >= 0 duplicate of current row i, -(k+2) of index entry k."""
        cfg, con = self.config, ctx.con
        # rows with identical signatures: the first one represents the rest
        rep = (
            con.execute("SELECT first(idx) OVER (PARTITION BY sighash ORDER BY idx) AS rep FROM __mh_rows ORDER BY idx")
            .fetchnumpy()["rep"]
            .astype(np.int64)
        )
        con.execute(
            "CREATE TEMP TABLE __mh_reps AS SELECT b.* FROM __mh_bands b JOIN "
            "(SELECT idx FROM __mh_rows QUALIFY first(idx) OVER (PARTITION BY sighash ORDER BY idx) = idx) r "
            "USING (idx)"
        )
        pairs = con.execute(f"""
            WITH ranked AS (SELECT *, row_number() OVER (PARTITION BY band, key ORDER BY idx) AS rn FROM __mh_reps)
            SELECT DISTINCT a.idx AS a, b.idx AS b FROM ranked a JOIN ranked b
              ON a.band = b.band AND a.key = b.key AND a.idx < b.idx AND a.rn <= {int(cfg.bucket_cap)}
        """).fetchnumpy()
        a, b, _ = verified_pairs(sig, pairs["a"].astype(np.int64), pairs["b"].astype(np.int64), cfg.threshold)
        k = index.size if index is not None else 0
        a, b = a + k, b + k
        known = np.zeros(n, dtype=bool)
        if k:
            ia, ib = index.candidates(con, "__mh_reps", sig, cfg.threshold, cfg.bucket_cap)
            a, b = np.concatenate([ia, a]), np.concatenate([ib + k, b])
            # rows kept by an earlier run (same _id) are this run's rows too: they stay
            ids = con.execute("SELECT id FROM __mh_rows ORDER BY idx").fetchnumpy()["id"].astype(object)
            known = index.known_ids(ids)
        pre_kept = np.concatenate([np.arange(k), np.flatnonzero(known) + k])
        resolved = greedy_resolve(n + k, a, b, pre_kept=pre_kept)[k:]
        # index entries are encoded as -(node + 2) so -1 keeps meaning "kept"
        dup_of = np.where(resolved == -1, -1, np.where(resolved >= k, resolved - k, -(resolved + 2)))
        dup_of = inherit_from_representatives(dup_of, rep)
        dup_of[known] = -1
        stats = {
            "candidate_pairs": len(pairs["a"]),
            "verified_pairs": int(a.size),
            "duplicates": int((dup_of != -1).sum()),
        }
        return dup_of, stats


def _temp_dir(ctx: OperatorContext) -> str:
    try:
        row = ctx.con.execute("SELECT current_setting('temp_directory')").fetchall()[0]
        path = str(row[0]) if row and row[0] else ""
    except Exception:  # pragma: no cover - older DuckDB
        path = ""
    if not path:
        path = tempfile.gettempdir()
    os.makedirs(path, exist_ok=True)
    if not os.access(path, os.W_OK):
        raise OperatorError(f"temporary directory '{path}' is not writable; set DuckDB's temp_directory")
    return path
