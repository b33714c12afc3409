"""Shared bench helpers: GOAL lines, timing, peak memory, seeded synthetic text corpora.

Corpora are built with numpy + Arrow compute (token ids -> list arrays -> ``binary_join``), so ten
million documents take seconds to generate and never pass through a Python loop per document.
"""

import resource
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from dataflow_dagster.core.storage import SNAPSHOT_ROW_GROUP_ROWS  # noqa: E402


def goal(gid: str, measured: float, op: str, target: float, unit: str, size: int, quick: bool) -> str:
    ok = {">=": measured >= target, "<=": measured <= target, ">": measured > target, "<": measured < target}[op]
    line = (
        f"GOAL {gid} measured={measured:.3g} target{op}{target:g} unit={unit} size={size} "
        f"{'PASS' if ok else 'SHORT'}{' quick' if quick else ''}"
    )
    print(line, flush=True)
    return line


@contextmanager
def timed(label: str, out: dict[str, float]) -> Any:
    t0 = time.perf_counter()
    yield
    out[label] = time.perf_counter() - t0
    print(f"  {label}: {out[label]:.2f}s", flush=True)


def peak_rss_gib(children: bool = False) -> float:
    """Peak resident set size (ru_maxrss is KiB on Linux)."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / (1024 * 1024)


# Tokens joined by single spaces; some carry their own punctuation, newlines or markup so the rules
# in the filters have something to find. Weights make ordinary prose the common case.
PROSE = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "was",
    "for",
    "on",
    "that",
    "with",
    "as",
    "by",
    "at",
    "from",
    "it",
    "this",
    "be",
    "are",
    "or",
    "an",
    "which",
    "data",
    "model",
    "training",
    "language",
    "text",
    "water",
    "river",
    "mountain",
    "history",
    "science",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "lazy",
    "dog",
    "research",
    "results",
    "method",
    "analysis",
    "system",
    "network",
    "function",
    "value",
    "people",
    "city",
    "world",
    "during",
    "between",
    "after",
    "before",
    "government",
    "important",
    "because",
    "however",
    "different",
]
MARKED = [
    "results.",
    "today!",
    "why?",
    "however,",
    "end.\n",
    "more...",
    "line…\n",
    "#tag",
    "Note:",
    "{x}",
    "&nbsp;",
    "NASA",
    "USA",
    "数据模型",
    "训练",
    "lorem ipsum",
    "javascript",
    "Copyright",
    "\u2022",
    "\u2013",
    "\n•",
    "e.g.",
    "3.14",
    "2024",
    "don't",
    "I'm",
    "fuck",
    "identity",
    "�",
    "\xa0",
]


def synthetic_table(
    n_docs: int, seed: int = 0, min_words: int = 5, max_words: int = 200, marked_share: float = 0.06
) -> pa.Table:
    """``n_docs`` seeded documents (column ``text``) plus ``doc`` (int) ids."""
    rng = np.random.default_rng(seed)
    vocab = pa.array(PROSE + MARKED)
    lengths = rng.integers(min_words, max_words + 1, size=n_docs).astype(np.int64)
    total = int(lengths.sum())
    ids = rng.integers(0, len(PROSE), size=total)
    marked = rng.random(total) < marked_share
    ids[marked] = len(PROSE) + rng.integers(0, len(MARKED), size=int(marked.sum()))
    offsets = np.zeros(n_docs + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    tokens = pc.take(vocab, pa.array(ids))
    lists = pa.LargeListArray.from_arrays(pa.array(offsets), tokens)
    text = pc.binary_join(lists, " ")
    return pa.table({"doc": pa.array(np.arange(n_docs)), "text": text})


def write_corpus(path: Path, n_docs: int, seed: int = 0, chunk: int = 200_000, **kw: Any) -> Path:
    """Write a synthetic corpus to Parquet in chunks so memory stays bounded at any size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    try:
        for i, start in enumerate(range(0, n_docs, chunk)):
            t = synthetic_table(min(chunk, n_docs - start), seed=seed * 1_000_003 + i, **kw)
            t = t.set_column(0, "doc", pa.array(np.arange(start, start + t.num_rows)))
            if writer is None:
                writer = pq.ParquetWriter(str(path), t.schema, compression="zstd")
            writer.write_table(t, row_group_size=SNAPSHOT_ROW_GROUP_ROWS)  # laid out as a step's input is
    finally:
        if writer is not None:
            writer.close()
    return path


def best_of(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result
