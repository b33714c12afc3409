"""P3: MinHash near-duplicate filtering vs datasketch, both on the full corpus.

    python bench/dedup.py            # 100k docs; ours, datasketch used well, datasketch as DataFlow uses it
    python bench/dedup.py --quick    # 3k docs

Baselines, each timed on every document (no prefix, no scaling):
- *datasketch used well*: MinHash(num_perm=128) fed all of a row's character 5-grams in one
  ``update_batch`` call (numpy over the whole batch), MinHashLSH(threshold=0.9) queried per row in
  order, the row kept (and inserted) when the query returns nothing. This is the P3 baseline.
- *datasketch as DataFlow's MinHashDeduplicateFilter uses it*: the same, with one ``update`` per 5-gram.
Ours: MinHashDeduplicateFilter(num_perm=128, threshold=0.9, ngram=5) through DuckDB.

The corpus has clear copies (Jaccard >= ~0.95) and, since LSH at a threshold is a coin flip by
design, *near-threshold* copies (several words changed, character 5-gram Jaccard ~0.75-0.97). Kept
sets are compared on the clear rows (P3-agreement); on the near-threshold rows each implementation's
decision is compared with the exact Jaccard (>= 0.9 means drop) and ours may not err more than
datasketch by more than 5 points (P3-near).
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from _common import PROSE, goal

from dataflow_dagster.core.storage import Storage
from operators.core.contract import OperatorContext
from operators.general_text.dedup_minhash import MinHashDeduplicateFilter


def near_dup_corpus(
    n: int, seed: int = 0, dup_share: float = 0.3, near_share: float = 0.05
) -> tuple[pa.Table, dict[str, str]]:
    """Documents of 80-200 words; ``dup_share`` copy an earlier original with 0-1 words changed
    (clear duplicates), ``near_share`` copy one with 3-9 words changed (near the 0.9 threshold).

    Returns the table and, for each near-threshold copy, the id of the original it was made from.
    """
    rng = np.random.default_rng(seed)
    vocab = np.array(PROSE + [f"w{i}" for i in range(2000)])
    lengths = rng.integers(80, 201, size=n)
    docs: list[np.ndarray] = []
    originals: list[int] = []
    near: dict[str, str] = {}
    kind = rng.random(n)
    for i in range(n):  # corpus generation only, not the measured code
        if i > 0 and kind[i] < dup_share + near_share:
            orig = originals[rng.integers(0, len(originals))]
            src = docs[orig].copy()
            edits = rng.integers(0, 2) if kind[i] < dup_share else rng.integers(3, 10)
            for _ in range(edits):
                src[rng.integers(0, len(src))] = rng.integers(0, len(vocab))
            if kind[i] >= dup_share:
                near[f"d{i}"] = f"d{orig}"
            docs.append(src)
        else:
            originals.append(i)
            docs.append(rng.integers(0, len(vocab), size=lengths[i]))
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum([len(d) for d in docs], out=offsets[1:])
    tokens = pa.array(vocab[np.concatenate(docs)], type=pa.large_string())
    text = pc.binary_join(pa.LargeListArray.from_arrays(pa.array(offsets), tokens), pa.scalar(" ", pa.large_string()))
    return pa.table({"_id": [f"d{i}" for i in range(n)], "text": text}), near


def run_ours(path: Path) -> set[str]:
    con = Storage(path.parent / "store").connect()  # a pipeline step's connection (memory limit, spill dir)
    con.execute(
        f"CREATE VIEW src AS SELECT *, file_row_number AS __pos FROM read_parquet('{path}', file_row_number=true)"
    )
    ctx = OperatorContext(con=con, source="src", target="out", rejected="rej", errors="e")
    stats = MinHashDeduplicateFilter(num_perm=128, threshold=0.9, ngram=5).run(ctx)
    kept = {r[0] for r in con.execute("SELECT _id FROM out").fetchall()}
    print(f"  ours stats: {stats}", flush=True)
    return kept


def grams(text: str, n: int = 5) -> list[bytes]:
    """Character n-grams as DataFlow's filter feeds them (the whole text when shorter than n)."""
    if 0 < len(text) < n:
        return [text.encode("utf8")]
    return [text[i : i + n].encode("utf8") for i in range(len(text) - n + 1)]


def run_datasketch(table: pa.Table, batched: bool) -> set[str]:
    """``batched``: one ``update_batch`` per row (datasketch used well); else one ``update`` per gram."""
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=0.9, num_perm=128)
    kept = set()
    with lsh.insertion_session() as session:
        for _id, text in zip(table.column("_id").to_pylist(), table.column("text").to_pylist(), strict=True):
            m = MinHash(num_perm=128)
            if batched:
                m.update_batch(grams(text))
            else:
                for g in grams(text):
                    m.update(g)
            if not lsh.query(m):
                kept.add(_id)
                session.insert(_id, m)
    return kept


def exact_drop(table: pa.Table, near: dict[str, str]) -> dict[str, bool]:
    """For each near-threshold copy: is its exact character 5-gram Jaccard with its original >= 0.9?"""
    text = dict(zip(table.column("_id").to_pylist(), table.column("text").to_pylist(), strict=True))
    out = {}
    for copy, orig in near.items():
        a, b = set(grams(text[copy])), set(grams(text[orig]))
        out[copy] = len(a & b) / len(a | b) >= 0.9
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--docs", type=int, default=None, help="corpus size (default 100k, 3k with --quick)")
    args = ap.parse_args()
    n = args.docs or (3_000 if args.quick else 100_000)
    table, near = near_dup_corpus(n, seed=11)
    with tempfile.TemporaryDirectory(prefix="bench_dedup_") as d:
        path = Path(d) / "corpus.parquet"
        pq.write_table(table, path)
        t0 = time.perf_counter()
        ours = run_ours(path)
        t_ours = time.perf_counter() - t0
    print(f"  ours: {t_ours:.2f}s, kept {len(ours)} of {n}", flush=True)
    t0 = time.perf_counter()
    well = run_datasketch(table, batched=True)
    t_well = time.perf_counter() - t0
    print(f"  datasketch, update_batch per row: {t_well:.2f}s, kept {len(well)} of {n}", flush=True)
    t0 = time.perf_counter()
    naive = run_datasketch(table, batched=False)
    t_naive = time.perf_counter() - t0
    print(f"  datasketch, update per 5-gram (DataFlow's use): {t_naive:.2f}s, kept {len(naive)} of {n}", flush=True)
    assert well == naive, "update_batch and per-gram update must give the same signatures"
    clear = {r for r in table.column("_id").to_pylist() if r not in near}
    diff = (ours ^ well) & clear
    disagree = len(diff) / len(clear) * 100
    print(
        f"  kept-set disagreement on the {len(clear)} clear rows: {len(diff)} = {disagree:.3f}% "
        f"(ours only {len((ours - well) & clear)}, datasketch only {len((well - ours) & clear)})",
        flush=True,
    )
    truth = exact_drop(table, near)
    err_ours = sum((c not in ours) != drop for c, drop in truth.items()) / max(1, len(truth)) * 100
    err_ds = sum((c not in well) != drop for c, drop in truth.items()) / max(1, len(truth)) * 100
    print(
        f"  near-threshold copies: {len(truth)} ({sum(truth.values())} at exact Jaccard >= 0.9); decisions "
        f"differing from the exact Jaccard: ours {err_ours:.1f}%, datasketch {err_ds:.1f}%",
        flush=True,
    )
    lines = [
        goal("P3", t_well / t_ours, ">=", 10, "x_vs_datasketch_update_batch", n, args.quick),
        goal("P3-dataflow", t_naive / t_ours, ">=", 10, "x_vs_datasketch_as_dataflow_uses_it", n, args.quick),
        goal("P3-agreement", disagree, "<=", 1, "pct_clear_rows_kept_differently", len(clear), args.quick),
        goal(
            "P3-near",
            err_ours - err_ds,
            "<=",
            5,
            "pct_points_more_errors_vs_exact_than_datasketch",
            len(truth),
            args.quick,
        ),
    ]
    print("\n".join(lines))
    if disagree > 1:
        sys.exit(1)


if __name__ == "__main__":
    main()
