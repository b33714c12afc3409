"""P3: MinHash near-duplicate filtering vs a datasketch baseline with DataFlow's settings.

    python bench/dedup.py                         # ours on 100k docs; datasketch on the first 10k, scaled
    python bench/dedup.py --baseline-docs 100000  # datasketch on all 100k (about 25 min on 2 cores)
    python bench/dedup.py --quick                 # 3k docs, both on all of them

Baseline: DataFlow's MinHashDeduplicateFilter logic: datasketch MinHash(num_perm=128) updated once
per character 5-gram, MinHashLSH(threshold=0.9) queried for each row in order, the row kept (and
inserted) when the query returns nothing. Ours: MinHashDeduplicateFilter with the same settings
through DuckDB. Also reported: agreement of the kept sets (share of rows on which they differ).
datasketch's cost is linear in documents (one LSH query and insert per row, independent of the table
size), so by default it is timed on a prefix and scaled; agreement is then measured on that prefix,
which ours also runs on separately.
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


def near_dup_corpus(n: int, seed: int = 0, dup_share: float = 0.3) -> pa.Table:
    """Documents of 80-200 words; ``dup_share`` of them copy an earlier one with 0-1 words changed.

    Copies then sit at Jaccard >= ~0.95 and originals near 0, so the comparison measures the two
    implementations rather than LSH's coin flips on pairs right at the threshold.
    """
    rng = np.random.default_rng(seed)
    vocab = np.array(PROSE + [f"w{i}" for i in range(2000)])
    lengths = rng.integers(80, 201, size=n)
    docs: list[np.ndarray] = []
    is_dup = rng.random(n) < dup_share
    is_dup[0] = False
    for i in range(n):  # corpus generation only, not the measured code
        if is_dup[i]:
            src = docs[rng.integers(0, i)].copy()
            for _ in range(rng.integers(0, 2)):
                src[rng.integers(0, len(src))] = rng.integers(0, len(vocab))
            docs.append(src)
        else:
            docs.append(rng.integers(0, len(vocab), size=lengths[i]))
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum([len(d) for d in docs], out=offsets[1:])
    tokens = pa.array(vocab[np.concatenate(docs)], type=pa.large_string())
    text = pc.binary_join(pa.LargeListArray.from_arrays(pa.array(offsets), tokens), pa.scalar(" ", pa.large_string()))
    return pa.table({"_id": [f"d{i}" for i in range(n)], "text": text})


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


def run_datasketch(table: pa.Table) -> set[str]:
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=0.9, num_perm=128)
    kept = set()
    with lsh.insertion_session() as session:
        for _id, text in zip(table.column("_id").to_pylist(), table.column("text").to_pylist(), strict=True):
            m = MinHash(num_perm=128)
            if 0 < len(text) < 5:
                m.update(text.encode("utf8"))
            else:
                for i in range(len(text) - 5 + 1):
                    m.update(text[i : i + 5].encode("utf8"))
            if not lsh.query(m):
                kept.add(_id)
                session.insert(_id, m)
    return kept


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--baseline-docs", type=int, default=None)
    args = ap.parse_args()
    n = 3_000 if args.quick else 100_000
    nb = min(n, args.baseline_docs or (n if args.quick else 10_000))
    table = near_dup_corpus(n, seed=11)
    with tempfile.TemporaryDirectory(prefix="bench_dedup_") as d:
        path = Path(d) / "corpus.parquet"
        pq.write_table(table, path)
        t0 = time.perf_counter()
        ours = run_ours(path)
        t_ours = time.perf_counter() - t0
        print(f"  ours: {t_ours:.2f}s, kept {len(ours)} of {n}", flush=True)
        prefix = table.slice(0, nb)
        if nb < n:
            pq.write_table(prefix, Path(d) / "prefix.parquet")
            ours_prefix = run_ours(Path(d) / "prefix.parquet")
        else:
            ours_prefix = ours
    t0 = time.perf_counter()
    base = run_datasketch(prefix)
    t_base = (time.perf_counter() - t0) * (n / nb)
    scaled = f" (timed on {nb} docs, scaled x{n / nb:g})" if nb < n else ""
    print(f"  datasketch (DataFlow settings): {t_base:.2f}s{scaled}, kept {len(base)} of {nb}", flush=True)
    disagree = len(ours_prefix ^ base) / nb * 100
    print(
        f"  kept-set disagreement on {nb} docs: {len(ours_prefix ^ base)} rows = {disagree:.3f}% "
        f"(ours only {len(ours_prefix - base)}, datasketch only {len(base - ours_prefix)})",
        flush=True,
    )
    lines = [
        goal("P3", t_base / t_ours, ">=", 10, "x_vs_datasketch", n, args.quick),
        goal("P3-agreement", disagree, "<=", 1, "pct_rows_kept_differently", nb, args.quick),
    ]
    print("\n".join(lines))
    if disagree > 1:
        sys.exit(1)


if __name__ == "__main__":
    main()
