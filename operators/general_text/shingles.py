"""Vectorised character n-gram hashing for a batch of texts (no Python loop per document).

A batch is decoded once into one array of code points (UTF-32); every n-gram is then a window of
that array, hashed with a polynomial over code points and a splitmix64 finaliser. Windows that
straddle two documents are masked out. The result is the flat ``(hashes, offsets)`` layout rensa's
bulk MinHash takes.
"""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from operators.core.arrow_np import to_numpy

_P = np.uint64(0x100000001B3)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads polynomial hashes over all 64 bits."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def codepoints(texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """All texts' code points concatenated, and per-text start offsets (NULL counts as empty)."""
    texts = texts.cast(pa.large_string())
    if texts.null_count:
        texts = pc.fill_null(texts, "")
    lengths = to_numpy(pc.utf8_length(texts)).astype(np.int64)
    starts = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=starts[1:])
    texts = pa.concat_arrays([texts]) if texts.offset else texts
    offsets = np.frombuffer(texts.buffers()[1], dtype=np.int64)[: len(texts) + 1]
    raw = texts.buffers()[2]
    utf8 = raw.to_pybytes()[offsets[0] : offsets[-1]] if raw is not None else b""
    data = utf8.decode("utf-8").encode("utf-32-le")  # one C-level pass over the whole batch
    return np.frombuffer(data, dtype=np.uint32).astype(np.uint64), starts


def char_ngram_hashes(texts: pa.Array, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of every character n-gram of every text, and offsets (len = rows + 1).

    As DataFlow's MinHash shingling: a non-empty text shorter than n is one shingle (the whole
    text); an empty text has none.
    """
    cps, starts = codepoints(texts)
    lengths = np.diff(starts)
    total = len(cps)
    h = np.zeros(total, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(n):  # loop over the n positions of a window, vectorised over all windows
            view = h[: max(total - k, 0)]  # a batch shorter than n: no full window at all
            np.multiply(view, _P, out=view)
            np.add(view, cps[k:], out=view)
            np.add(view, np.uint64(1), out=view)
    valid = np.ones(total, dtype=bool)  # window start i is valid unless it runs past its text's end
    for k in range(1, n):
        tails = starts[1:] - k
        valid[tails[(tails >= starts[:-1]) & (tails >= 0)]] = False
    full = _mix(h[valid])  # windows come out grouped by document, in order
    counts = np.maximum(lengths - n + 1, 0)
    # a non-empty text shorter than n: one shingle hashing the whole text, its length folded in
    short = np.flatnonzero((lengths > 0) & (lengths < n))
    if short.size:
        acc = np.zeros(short.size, dtype=np.uint64)
        with np.errstate(over="ignore"):
            for k in range(n - 1):
                take = k < lengths[short]
                cp = cps[np.minimum(starts[short] + k, max(total - 1, 0))] if total else np.zeros(short.size, np.uint64)
                acc = np.where(take, acc * _P + cp + np.uint64(1), acc)
        short_hash = _mix(acc ^ (lengths[short].astype(np.uint64) << np.uint64(56)))
        before = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(counts, out=before[1:])
        full = np.insert(full, before[short], short_hash)
        counts[short] = 1
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return full, offsets
