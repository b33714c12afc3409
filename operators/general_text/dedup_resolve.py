"""Order-faithful resolution of near-duplicate candidates, shared by every fuzzy dedup filter.

DataFlow's dedup filters walk the rows in order and drop a row when it is similar to a row already
*kept* (not merely seen): A kept, B ~ A dropped, C ~ B only is kept, because B is gone. That is
the lexicographically-first maximal independent set of the similarity graph in row order. Instead
of a Python loop over rows we resolve it in rounds over the edge arrays (numpy): a row with a kept
earlier neighbour is a duplicate, a row whose earlier neighbours are all duplicates is kept; every
round settles at least the earliest open row, and in practice a handful of rounds settle all.
"""

import numpy as np

UNDECIDED, KEPT, DUP = 0, 1, 2


def greedy_resolve(n: int, a: np.ndarray, b: np.ndarray, pre_kept: np.ndarray | None = None) -> np.ndarray:
    """``dup_of`` per node (-1 = kept) for edges ``a < b`` meaning "b is similar to earlier a".

    ``pre_kept`` marks nodes already kept by an earlier run (a persistent index): kept whatever
    their edges say. A duplicate names its earliest kept similar node.
    """
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    status = np.full(n, UNDECIDED, dtype=np.int8)
    dup_of = np.full(n, -1, dtype=np.int64)
    has_prev = np.zeros(n, dtype=bool)
    has_prev[b] = True
    status[~has_prev] = KEPT
    if pre_kept is not None:
        status[pre_kept] = KEPT
    open_edges = status[b] == UNDECIDED
    a, b = a[open_edges], b[open_edges]
    while a.size:
        sa = status[a]
        kept_prev = sa == KEPT
        # earliest kept earlier neighbour per b
        best = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(best, b[kept_prev], a[kept_prev])
        newly_dup = best < np.iinfo(np.int64).max
        # b with every earlier neighbour a duplicate -> kept
        not_dup = np.zeros(n, dtype=np.int64)
        np.add.at(not_dup, b, (sa != DUP).astype(np.int64))
        involved = np.zeros(n, dtype=bool)
        involved[b] = True
        newly_kept = involved & (not_dup == 0) & ~newly_dup
        status[newly_dup] = DUP
        dup_of[newly_dup] = best[newly_dup]
        status[newly_kept] = KEPT
        if not (newly_dup.any() or newly_kept.any()):  # cannot happen for a < b edges; guard anyway
            raise RuntimeError("dedup resolution made no progress; edges must satisfy a < b")
        still = status[b] == UNDECIDED
        a, b = a[still], b[still]
    return dup_of


def lsh_params(threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5) -> tuple[int, int]:
    """Bands and rows per band minimising weighted false positive + false negative probability mass.

    The same criterion datasketch's MinHashLSH uses, so our buckets match its defaults.
    """
    best, best_err = (1, num_perm), float("inf")
    grid_lo = np.linspace(0.0, threshold, 2001)
    grid_hi = np.linspace(threshold, 1.0, 2001)
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            fp = np.trapezoid(1 - (1 - grid_lo**rows) ** bands, grid_lo)
            fn = np.trapezoid((1 - grid_hi**rows) ** bands, grid_hi)
            err = fp * fp_weight + fn * fn_weight
            if err < best_err:
                best, best_err = (bands, rows), err
    return best


def verified_pairs(
    sig: np.ndarray, a: np.ndarray, b: np.ndarray, threshold: float, chunk: int = 200_000
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep candidate pairs whose estimated Jaccard (share of equal MinHash values) >= threshold."""
    keep_a, keep_b, keep_j = [], [], []
    for s in range(0, len(a), chunk):
        ca, cb = a[s : s + chunk], b[s : s + chunk]
        j = (sig[ca] == sig[cb]).mean(axis=1)
        ok = j >= threshold
        keep_a.append(ca[ok])
        keep_b.append(cb[ok])
        keep_j.append(j[ok])
    if not keep_a:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    return np.concatenate(keep_a), np.concatenate(keep_b), np.concatenate(keep_j)
