"""Nearest-neighbour work over embeddings without the n x n matrix: usearch HNSW indexes.

Why usearch over faiss-cpu: a ~2 MB wheel with no BLAS/OpenMP runtime to clash with DuckDB's and
llama.cpp's threads, incremental ``add`` (k-center greedy adds one center at a time), multi-threaded
batch ``search`` from numpy, and half-precision HNSW that builds several times faster than float32
on these machines; faiss would need an IVF training pass, or its own HNSW with the same properties, at 15x
the install size. The index only proposes candidates: every distance that decides a selection or a
duplicate is recomputed exactly from the float32 vectors (``bench/selection.py`` measures agreement
with the exact algorithms).

* ``knn_pairs``: for every row its ``k`` nearest rows (one batch search), as candidate pairs for
  semantic dedup; O(n log n) instead of n^2 similarities.
* ``kcenter_greedy``: the farthest-first traversal DataFlow's KCenterGreedy computes with one full
  distance pass per selected center (O(n k d)). Here a max-heap holds an *upper bound* of each row's
  distance to its nearest center (exact when computed, and distances only shrink as centers are
  added); a popped batch of candidates gets its true distance from an HNSW index of the centers,
  and the largest is selected once it is at least the next bound in the heap, so the selection is
  the exact greedy one up to the index's recall. Most candidates are far from the newest center, so
  the bound is usually already tight and a selection costs a few index lookups.
"""

import heapq

import numpy as np
from usearch.index import Index


def _index(dim: int) -> Index:
    """Cosine HNSW over half-precision vectors: several times faster to build and search than f32 at
    the expansion f32 needs here, and only used to propose candidates; every distance that decides
    anything is recomputed exactly from the float32 vectors. f16 with expansion 64/128 found every
    exact duplicate of a 20k-row bench set (i8 with 32/64: 99.5 %, and 93.9 % at 100k rows)."""
    return Index(ndim=dim, metric="cos", dtype="f16", connectivity=16, expansion_add=64, expansion_search=128)


def _exact_l2sq(emb: np.ndarray, rows: np.ndarray, others: np.ndarray) -> np.ndarray:
    return ((emb[rows] - emb[others]) ** 2).sum(axis=-1)


def knn_pairs(emb: np.ndarray, k: int, threads: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(a, b, cosine distance) for each row b and its k nearest other rows a, with a < b (row order)."""
    n = len(emb)
    if n < 2:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.float32)
    index = _index(emb.shape[1])
    # one thread for the build: a multi-threaded HNSW build depends on thread timing, and the kept
    # rows must not change from run to run (content hashes, audits); searches are per query, so
    # they may run in parallel
    index.add(np.arange(n, dtype=np.uint64), emb, threads=1)
    res = index.search(emb, min(k + 1, n), threads=threads)
    keys = np.asarray(res.keys, dtype=np.int64).reshape(n, -1)
    counts = np.asarray(res.counts, dtype=np.int64)
    valid = np.arange(keys.shape[1])[None, :] < counts[:, None]
    rows = np.repeat(np.arange(n, dtype=np.int64)[:, None], keys.shape[1], axis=1)
    lo, hi = np.minimum(keys, rows), np.maximum(keys, rows)
    keep = valid & (keys != rows)
    a, b = lo[keep], hi[keep]
    order = np.lexsort((a, b))  # dedupe symmetric pairs (a found b and b found a)
    a, b = a[order], b[order]
    first = np.ones(len(a), dtype=bool)
    first[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
    a, b = a[first], b[first]
    d = np.empty(len(a), dtype=np.float32)
    for s in range(0, len(a), 1 << 16):  # exact cosine distance of each candidate pair, in chunks
        d[s : s + (1 << 16)] = 1.0 - (emb[a[s : s + (1 << 16)]] * emb[b[s : s + (1 << 16)]]).sum(axis=1)
    return a, b, d


def kcenter_greedy(emb: np.ndarray, k: int, seed: int = 0, batch: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Indices of ``k`` rows chosen farthest-first, and each row's squared L2 distance to its nearest
    center (0 for chosen rows).

    As in DataFlow, a random row (here seeded) is the first center but is not itself selected;
    with ``k >= n`` every row is selected.
    """
    n = len(emb)
    if k >= n:
        return np.arange(n, dtype=np.int64), np.zeros(n, dtype=np.float32)
    if k <= 0:
        return np.zeros(0, dtype=np.int64), np.full(n, np.inf, dtype=np.float32)
    first = int(np.random.default_rng(seed).integers(n))
    centers = _index(emb.shape[1])
    centers.add(first, emb[first])
    chosen: list[int] = []
    bound = np.empty(n, dtype=np.float32)  # exact for the first center; in chunks, no n x d temporary
    for s in range(0, n, 8192):
        bound[s : s + 8192] = ((emb[s : s + 8192] - emb[first]) ** 2).sum(axis=1)
    bound[first] = 0.0
    heap = [(-float(d), i) for i, d in enumerate(bound) if i != first]
    heapq.heapify(heap)
    while len(chosen) < k and heap:
        cand = [heapq.heappop(heap) for _ in range(min(batch, len(heap)))]
        idx = np.asarray([i for _, i in cand], dtype=np.int64)
        res = centers.search(emb[idx], 16)  # candidate centers, distances recomputed exactly
        keys = np.asarray(res.keys, dtype=np.int64).reshape(len(idx), -1)
        found = np.arange(keys.shape[1])[None, :] < np.asarray(res.counts, dtype=np.int64)[:, None]
        near = np.where(found, _exact_l2sq(emb, idx[:, None], np.where(found, keys, 0)), np.inf)
        true = np.minimum(near.min(axis=1), bound[idx]).astype(np.float32)
        alive = np.ones(len(idx), dtype=bool)
        while len(chosen) < k and alive.any():
            j = int(np.argmax(np.where(alive, true, -np.inf)))
            if heap and true[j] < -heap[0][0]:
                break  # a row still in the heap may be farther: re-check it next round
            new = int(idx[j])
            chosen.append(new)
            centers.add(new, emb[new])
            alive[j] = False
            true[j] = 0.0
            # the other candidates' exact distances only need the new center folded in
            true = np.minimum(true, _exact_l2sq(emb, idx, np.full(len(idx), new)))
        bound[idx] = true
        for j in np.flatnonzero(alive):
            heapq.heappush(heap, (-float(true[j]), int(idx[j])))
    sel = np.asarray(chosen, dtype=np.int64)
    bound[sel] = 0.0
    bound[first] = 0.0
    return sel, bound


def kcenter_greedy_exact(emb: np.ndarray, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The reference: one full distance pass per selected center, as DataFlow's KCenterGreedy does."""
    n = len(emb)
    if k >= n:
        return np.arange(n, dtype=np.int64), np.zeros(n, dtype=np.float32)
    first = int(np.random.default_rng(seed).integers(n))
    dist = ((emb - emb[first]) ** 2).sum(axis=1)
    chosen: list[int] = []
    dist[first] = 0.0
    for _ in range(k):
        new = int(np.argmax(dist))
        chosen.append(new)
        dist = np.minimum(dist, ((emb - emb[new]) ** 2).sum(axis=1))
        dist[new] = 0.0
    return np.asarray(chosen, dtype=np.int64), dist.astype(np.float32)
