"""Throughput of the sandboxed execution evaluator, parallel vs sequential, and its containment (R4).

Runs N small programs (each computes something and checks it with asserts, one in ten fails on
purpose) through ``Sandbox.run_many`` with one worker (the sequential baseline, measured in the same
run) and with one worker per core, checks both gave the same verdicts, then runs the hostile corpus.

    python bench/sandbox.py            # 1,000 programs
    python bench/sandbox.py --quick    # 100 programs, under a minute
"""

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from operators.code.sandbox import Sandbox, SandboxLimits  # noqa: E402
from operators.code.sandbox_audit import run_hostile_corpus, summary_line  # noqa: E402

HOSTILE = REPO / "tests" / "data" / "hostile_snippets"


def programs(n: int) -> list[str]:
    out = []
    for i in range(n):
        expected = sum(k * k for k in range(i % 50)) + (1 if i % 10 == 9 else 0)  # every 10th is wrong
        out.append(
            f"def squares(n):\n    return sum(k * k for k in range(n))\n\n"
            f"data = sorted([{i} % 7, {i} % 5, {i} % 3])\n"
            f"assert data == sorted(data)\n"
            f"assert squares({i % 50}) == {expected}\n"
            f"print('ok', {i})\n"
        )
    return out


def timed(sandbox: Sandbox, progs: list[str]) -> tuple[float, list[str]]:
    t = time.perf_counter()
    results = sandbox.run_many(progs)
    return time.perf_counter() - t, [r.status for r in results]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="100 programs instead of 1,000")
    ap.add_argument("--size", type=int, default=None)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    n = args.size or (100 if args.quick else 1000)
    progs = programs(n)
    limits = SandboxLimits(cpu_s=2, wall_s=10, memory_mb=256, nproc=16)
    with Sandbox(limits, workers=1) as seq_box:
        mode = seq_box.description
        t_seq, seq_status = timed(seq_box, progs)
    with Sandbox(limits, workers=args.workers) as par_box:
        t_par, par_status = timed(par_box, progs)
        verdicts = run_hostile_corpus(par_box, HOSTILE)
    expected = ["fail" if i % 10 == 9 else "pass" for i in range(n)]
    wrong = sum(a != e for a, e in zip(par_status, expected, strict=True)) + sum(
        a != e for a, e in zip(seq_status, expected, strict=True)
    )
    print(f"isolation: {mode['mode']} cgroups={mode['cgroups']} cores={os.cpu_count()} workers={args.workers}")
    print(f"sequential: {n} programs in {t_seq:.2f}s = {n / t_seq:.1f} programs/s")
    print(
        f"parallel:   {n} programs in {t_par:.2f}s = {n / t_par:.1f} programs/s "
        f"(speedup x{t_seq / t_par:.2f} with {args.workers} workers)"
    )
    print(f"verdicts: {n - par_status.count('fail')} pass / {par_status.count('fail')} fail; wrong verdicts: {wrong}")
    for v in verdicts:
        print(f"  hostile {v.name:24s} {v.result.status:8s} {'contained' if v.contained else v.problems}")
    q = " quick" if args.quick else ""
    print(
        f"SANDBOX throughput_parallel={n / t_par:.1f} throughput_sequential={n / t_seq:.1f} "
        f"unit=programs_per_s speedup={t_seq / t_par:.2f} size={n}{q}"
    )
    print(summary_line(verdicts) + q)
    if wrong:
        raise SystemExit(f"{wrong} programs got the wrong verdict")


if __name__ == "__main__":
    main()
