"""P1/P2/P7: the general-text rule-filter chain against a DataFlow-style pandas row loop and a bare scan.

    python bench/text_filters.py            # 100k and 1M docs, 10M short docs for peak memory
    python bench/text_filters.py --quick    # 20k / 100k docs, 1M short docs

P1: ours / baseline, where the baseline is DataFlow's per-row logic (tests/test_text_dataflow_ref.py)
applied the DataFlow way: for each filter, a Python loop over the surviving rows, then a boolean
mask on the DataFrame. Ours: the same filters, same config, as chained DuckDB views over the
Parquet file, kept rows written to Parquet. The kept row *sets* (by the corpus's ``doc`` id) must be
equal, not just their counts, or the bench fails.
P2: ours / a bare DuckDB scan of the text column (``sum(length(text))``) over the same file. The run
also prints the write floor: copying the unfiltered input to Parquet, which ours must at least do
for the kept rows, as a multiple of that scan.
The heavy metrics run in the C kernels of ``operators/general_text/native`` (built on first use;
``DATAFLOW_NATIVE=0`` measures the plain-SQL definitions instead).
P7: peak RSS of a child process running the chain over 10M short documents to Parquet.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, goal, write_corpus

sys.path.insert(0, str(REPO / "tests"))

import duckdb
import pandas as pd
from test_text_dataflow_ref import FILTERS

from dataflow_dagster.core.storage import Storage
from operators.core.contract import OperatorContext
from operators.core.registry import get
from operators.general_text import native

CHAIN = [
    ("ContentNullFilter", {}),
    ("WordNumberFilter", {"min_words": 10, "max_words": 100000}),
    ("CharNumberFilter", {"threshold": 50}),
    ("SentenceNumberFilter", {"min_sentences": 1, "max_sentences": 7500}),
    ("MeanWordLengthFilter", {}),
    ("SymbolWordRatioFilter", {}),
    ("HtmlEntityFilter", {}),
    ("LineEndWithEllipsisFilter", {}),
    ("UniqueWordsFilter", {}),
    ("CurlyBracketFilter", {}),
    ("CapitalWordsFilter", {}),
    ("StopWordFilter", {"threshold": 0.1}),
    ("BlocklistFilter", {}),
]


def run_ours(parquet: Path, out: Path, threads: int | None = None) -> int:
    # the connection a pipeline step gets: spilling to the storage tmp dir past the default memory limit
    con = Storage(out.parent / "store").connect()
    if threads:
        con.execute(f"SET threads = {threads}")
    con.execute(
        f"CREATE VIEW s0 AS SELECT *, file_row_number AS __pos FROM read_parquet('{parquet}', file_row_number=true)"
    )
    src = "s0"
    for i, (name, cfg) in enumerate(CHAIN):
        ctx = OperatorContext(con=con, source=src, target=f"s{i + 1}", rejected=f"r{i + 1}", errors="e")
        get(name)(**cfg).run(ctx)
        src = f"s{i + 1}"
    con.execute(f"COPY (SELECT * EXCLUDE (__pos) FROM {src}) TO '{out}' (FORMAT parquet)")
    n = con.execute(f"SELECT count(*) FROM read_parquet('{out}')").fetchall()[0][0]
    con.close()
    return int(n)


def run_baseline(parquet: Path) -> set[int]:
    """The ``doc`` ids DataFlow's per-row logic keeps."""
    df = pd.read_parquet(parquet)
    for name, cfg in CHAIN:
        fn, _ = FILTERS[name]
        mask = [bool(fn(t, **cfg)) for t in df["text"]]  # DataFlow's loop: one Python call per row
        df = df[mask]
    return set(df["doc"].tolist())


def kept_docs(out: Path) -> set[int]:
    return {r[0] for r in duckdb.sql(f"SELECT doc FROM read_parquet('{out}')").fetchall()}


def bare_scan(parquet: Path) -> float:
    con = duckdb.connect()
    t0 = time.perf_counter()
    con.execute(f"SELECT sum(length(text)) FROM read_parquet('{parquet}')").fetchall()[0]
    return time.perf_counter() - t0


def copy_floor(parquet: Path, out: Path) -> float:
    """Seconds to copy the whole input to Parquet: what writing the kept rows costs at least."""
    con = duckdb.connect()
    t0 = time.perf_counter()
    con.execute(f"COPY (SELECT * FROM read_parquet('{parquet}')) TO '{out}' (FORMAT parquet)")
    return time.perf_counter() - t0


def measure(tmp: Path, n: int, quick: bool, lines: list[str]) -> None:
    parquet = write_corpus(tmp / f"corpus_{n}.parquet", n, seed=1)
    print(f"[{n} docs] corpus at {parquet} ({parquet.stat().st_size / 2**20:.0f} MiB)", flush=True)
    scan = min(bare_scan(parquet) for _ in range(3))
    floor = copy_floor(parquet, tmp / f"copy_{n}.parquet")
    print(
        f"  write floor: copying the input to Parquet takes {floor:.2f}s = {floor / scan:.1f}x the bare scan",
        flush=True,
    )
    for name, _ in CHAIN:  # warm-up outside the timing, as the baseline's functions are imported
        get(name)
    native.enabled()  # loads (or, on a fresh machine, compiles) the kernels
    t0 = time.perf_counter()
    kept_ours = run_ours(parquet, tmp / f"out_{n}.parquet")
    ours = time.perf_counter() - t0
    print(f"  ours: {ours:.2f}s kept {kept_ours}; bare scan {scan:.3f}s", flush=True)
    t0 = time.perf_counter()
    kept_base = run_baseline(parquet)
    base = time.perf_counter() - t0
    ours_set = kept_docs(tmp / f"out_{n}.parquet")
    print(f"  pandas row loop: {base:.2f}s kept {len(kept_base)}", flush=True)
    if ours_set != kept_base or len(ours_set) != kept_ours:
        raise SystemExit(
            f"kept rows differ: ours {kept_ours} rows vs DataFlow-style {len(kept_base)}; only ours keeps "
            f"{sorted(ours_set - kept_base)[:10]}, only DataFlow-style keeps {sorted(kept_base - ours_set)[:10]}"
        )
    print(f"  kept row sets equal ({len(ours_set)} doc ids)", flush=True)
    lines.append(goal("P1", base / ours, ">=", 20, "x_vs_pandas_loop", n, quick))
    lines.append(goal("P2", ours / scan, "<=", 3, "x_of_bare_duckdb_scan", n, quick))


def child_peak(parquet: Path, out: Path) -> float:
    """The chain's peak RSS in a fresh process, read from the child's own VmHWM.

    Not getrusage(RUSAGE_CHILDREN): Linux carries the forked copy of this (large) parent's
    resident set into the child's ru_maxrss across exec, which is not the chain's memory.
    """
    code = (
        f"import sys; sys.path.insert(0, {str(REPO / 'bench')!r}); import text_filters as t; "
        f"from pathlib import Path; print(t.run_ours(Path({str(parquet)!r}), Path({str(out)!r}))); "
        "print('VmHWM', [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])"
    )
    res = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    kib = next(int(line.split()[1]) for line in res.stdout.splitlines() if line.startswith("VmHWM"))
    return kib / 2**20


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    sizes = [20_000, 100_000] if args.quick else [100_000, 1_000_000]
    n_short = 1_000_000 if args.quick else 10_000_000
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench_text_") as d:
        tmp = Path(d)
        for n in sizes:
            measure(tmp, n, args.quick, lines)
        short = write_corpus(tmp / "short.parquet", n_short, seed=3, min_words=3, max_words=20)
        print(f"[{n_short} short docs] written ({short.stat().st_size / 2**20:.0f} MiB)", flush=True)
        peak = child_peak(short, tmp / "short_out.parquet")
        lines.append(goal("P7", peak, "<", 2, "GiB_peak_rss", n_short, args.quick))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
