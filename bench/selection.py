"""KCenterGreedy selection and semantic dedup over embeddings: ANN (usearch) vs the quadratic reference.

One command: ``python bench/selection.py`` (``--quick`` for a 10k-row run under a minute or two).

Embeddings are synthetic and seeded (a clustered Gaussian mixture in 576 dimensions, SmolLM2's
embedding size, L2-normalised, with 10 % of rows near-duplicates of earlier rows), stored as a
``FLOAT[]`` column of a DuckDB table: the operators read them exactly as they would read an
EmbeddingGenerator column. Each case runs in its own Python process so its peak RSS is its own.

Measured in the same run:
* k-center greedy (k = n/10): DataFlow's algorithm (a full distance pass per chosen row,
  ``method: exact``, O(n^2 d / 10)) at 20k rows (5k with --quick), where it still runs in about a
  minute, against ``method: ann`` on the same rows (speed-up, agreement of the selected sets); then
  ``ann`` alone at 100k rows (10k with --quick): wall time and peak memory;
* semantic dedup at 100k rows (10k with --quick): the block-wise all-pairs cosine computation
  SemDeduplicateFilter runs (BLAS matrix products, 2048-row blocks) against ANNSemDeduplicateFilter:
  speed-up, recall of the exact duplicate set, peak memory.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._common import goal, peak_rss_gib

DIM = 576


def embeddings(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((max(n // 500, 8), DIM)).astype(np.float32)
    emb = centers[rng.integers(len(centers), size=n)] + 0.6 * rng.standard_normal((n, DIM)).astype(np.float32)
    dup = rng.random(n) < 0.1
    dup[0] = False
    src = (rng.random(n) * np.arange(n)).astype(np.int64)  # an earlier row
    emb[dup] = emb[src[dup]] + 0.01 * rng.standard_normal((int(dup.sum()), DIM)).astype(np.float32)
    return emb / np.linalg.norm(emb, axis=1, keepdims=True)


def _context(n: int) -> tuple:
    import duckdb
    import pyarrow as pa

    from operators.core.contract import OperatorContext

    emb = embeddings(n)
    flat = pa.array(emb.reshape(-1), type=pa.float32())
    vec = pa.ListArray.from_arrays(pa.array(np.arange(0, emb.size + 1, DIM, dtype=np.int32)), flat)
    table = pa.table({"_id": [f"r{i}" for i in range(n)], "__pos": np.arange(n, dtype=np.int64), "emb": vec})
    con = duckdb.connect()
    con.register("t_arrow", table)
    con.execute("CREATE TABLE src AS SELECT * FROM t_arrow")
    con.unregister("t_arrow")
    return con, emb, OperatorContext(con=con, source="src", target="out", rejected="rej", errors="err")


def run_case(case: str, n: int) -> dict:
    """One measurement in this process: the operator on an n-row DuckDB table; returns figures."""
    from operators.general_text.dedup_resolve import greedy_resolve
    from operators.general_text.dedup_semantic import similar_pairs_exact
    from operators.selection.kcenter import KCenterGreedyFilter
    from operators.selection.semdedup_ann import ANNSemDeduplicateFilter

    con, emb, ctx = _context(n)
    k = n // 10
    t0 = time.perf_counter()
    if case in ("kcenter_ann", "kcenter_exact"):
        op = KCenterGreedyFilter(embedding_key="emb", num_samples=k, method=case.split("_")[1])
        stats = op.run(ctx)
        kept = [r[0] for r in con.execute("SELECT __pos FROM out").fetchall()]
        out = {"selected": kept, "radius": stats["coverage_radius"]}
    elif case == "dedup_ann":
        ANNSemDeduplicateFilter(embedding_key="emb", eps=0.05).run(ctx)
        out = {"dups": [r[0] for r in con.execute("SELECT __pos FROM rej").fetchall()]}
    elif case == "dedup_exact":  # SemDeduplicateFilter's own all-pairs block computation
        a, b = similar_pairs_exact(emb, 0.05)
        dup_of = greedy_resolve(n, a, b)
        out = {"dups": np.flatnonzero(dup_of != -1).tolist()}
    else:
        raise SystemExit(f"unknown case {case}")
    out["seconds"] = time.perf_counter() - t0
    out["peak_gib"] = peak_rss_gib()
    return out


def measure(case: str, n: int) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--case", case, "--n", str(n)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"{case} n={n} failed:\n{proc.stderr[-2000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"  {case:14s} n={n:>7}: {res['seconds']:8.1f} s, peak {res['peak_gib']:.2f} GiB", flush=True)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--case")
    ap.add_argument("--n", type=int)
    args = ap.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.n)))
        return
    base_n, big_n = (5_000, 10_000) if args.quick else (20_000, 100_000)
    print(f"baseline size {base_n} rows (k = n/10), scale size {big_n} rows, dim {DIM}")
    ke, ka = measure("kcenter_exact", base_n), measure("kcenter_ann", base_n)
    kb = measure("kcenter_ann", big_n)
    de, db = measure("dedup_exact", big_n), measure("dedup_ann", big_n)
    agree = len(set(ke["selected"]) & set(ka["selected"])) / max(len(ke["selected"]), 1)
    exact_dups, ann_dups = set(de["dups"]), set(db["dups"])
    recall = len(exact_dups & ann_dups) / max(len(exact_dups), 1)
    extra = len(ann_dups - exact_dups)
    print(f"  k-center: selection agreement {agree:.4f}, radius ann {ka['radius']:.4f} vs exact {ke['radius']:.4f}")
    print(f"  dedup: {len(exact_dups)} exact duplicates, ANN found {recall:.4f} of them, {extra} not in the exact set")
    q = args.quick
    goal("S1", ke["seconds"] / ka["seconds"], ">=", 2, "x_kcenter_ann_vs_exact", base_n, q)
    goal("S2", agree, ">=", 0.95, "kcenter_selection_agreement", base_n, q)
    goal("S3", de["seconds"] / db["seconds"], ">=", 1, "x_semdedup_ann_vs_allpairs", big_n, q)
    goal("S4", recall, ">=", 0.95, "semdedup_duplicate_recall", big_n, q)
    goal("S5", kb["seconds"], "<=", 600, "s_kcenter_ann", big_n, q)
    goal("S6", db["seconds"], "<=", 600, "s_semdedup_ann", big_n, q)
    goal("P7", max(kb["peak_gib"], db["peak_gib"]), "<=", 2, "GiB_peak_rss_selection", big_n, q)


if __name__ == "__main__":
    main()
