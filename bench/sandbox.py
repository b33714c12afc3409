"""The execution sandbox: throughput, per-run overhead of every mode, and containment in every mode (R4).

1. Throughput: N small solutions, each checked by its own tests through the harness (one in ten is
   wrong on purpose), with one worker (the sequential baseline, same run) and one per core; both must
   give the same, right verdicts.
2. Overhead: a program that does nothing, run in each mode, against starting the same interpreter
   bare (``python -I -c pass``) in the same run; as root and, for bwrap, under a dropped uid.
3. Containment: the hostile corpus in every mode, as root and from an evaluator running as a dropped
   uid (``setpriv``). ``bwrap`` must contain every snippet; an ``-unsafe`` mode must let through exactly
   its declared gaps (``MODE_GAPS``, docs/security.md), no more. GOAL R4 counts every (mode, user,
   snippet): contained, or a declared gap of a mode that refuses to run unless asked for by name.

    python bench/sandbox.py            # 1,000 programs, 20 overhead runs per mode
    python bench/sandbox.py --quick    # 100 programs, 8 overhead runs per mode (a few minutes)
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from operators.code.sandbox import Sandbox, SandboxLimits, claim_uids  # noqa: E402
from operators.code.sandbox_audit import python_for_uid, run_corpus_as_user, run_hostile_corpus  # noqa: E402
from operators.code.sandbox_isolation import MODES, mode_gaps  # noqa: E402

HOSTILE = REPO / "tests" / "data" / "hostile_snippets"
LIMITS = SandboxLimits(cpu_s=2, wall_s=10, memory_mb=256, nproc=16)
CORPUS_LIMITS = SandboxLimits(wall_s=3, cpu_s=2, memory_mb=256, nproc=16)


def programs(n: int) -> tuple[list[str], list[str]]:
    code, tests = [], []
    for i in range(n):
        expected = sum(k * k for k in range(i % 50)) + (1 if i % 10 == 9 else 0)  # every 10th is wrong
        code.append("def squares(n):\n    return sum(k * k for k in range(n))\n")
        tests.append(f"assert squares({i % 50}) == {expected}\nassert sorted([{i} % 7, 1]) == sorted([1, {i} % 7])\n")
    return code, tests


def throughput(n: int, workers: int) -> tuple[float, float, int]:
    code, tests = programs(n)
    expected = ["fail" if i % 10 == 9 else "pass" for i in range(n)]
    wrong, times = 0, []
    for w in (1, workers):
        with Sandbox(LIMITS, workers=w) as box:
            t = time.perf_counter()
            results = box.run_many(code, None, tests)
            times.append(time.perf_counter() - t)
        for i, (r, e) in enumerate(zip(results, expected, strict=True)):
            if r.status != e:
                wrong += 1
                if wrong <= 5:  # say what went wrong, not just how often
                    print(
                        f"wrong verdict: workers={w} program {i} expected {e} got {r.status} "
                        f"rc={r.returncode} wall={r.wall_s}s {r.detail[:160]!r} {r.stderr[-200:]!r}"
                    )
    return times[0], times[1], wrong


def bare_start(python: str, runs: int) -> float:
    walls = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([python, "-I", "-c", "pass"], env={}, check=True)
        walls.append(time.perf_counter() - t)
    return statistics.median(walls)


def overhead_as_root(mode: str, runs: int) -> float:
    with Sandbox(LIMITS, workers=1, mode=mode) as box:
        walls = [box.run("pass").wall_s for _ in range(runs)]
    return statistics.median(walls)


def overhead_as_user(uid: int, python: str, mode: str, runs: int) -> float:
    with tempfile.TemporaryDirectory(prefix="dataflow-trivial-") as d:
        os.chmod(d, 0o755)
        for i in range(runs):
            (Path(d) / f"trivial_{i:02d}.py").write_text("# expect: pass\npass\n")
        results = run_corpus_as_user(uid, mode, python, d)
    return statistics.median(float(r["wall_s"]) for r in results)  # type: ignore[arg-type]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="100 programs and 8 overhead runs per mode")
    ap.add_argument("--size", type=int, default=None)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    q = " quick" if args.quick else ""
    n = args.size or (100 if args.quick else 1000)
    runs = 8 if args.quick else 20
    root = os.geteuid() == 0

    t_seq, t_par, wrong = throughput(n, args.workers)
    print(f"sequential: {n} programs in {t_seq:.2f}s = {n / t_seq:.1f} programs/s")
    print(f"parallel:   {n} programs in {t_par:.2f}s = {n / t_par:.1f} programs/s ({args.workers} workers)")
    print(
        f"SANDBOX throughput_parallel={n / t_par:.1f} throughput_sequential={n / t_seq:.1f} "
        f"unit=programs_per_s speedup={t_seq / t_par:.2f} size={n} wrong_verdicts={wrong}{q}"
    )

    bare = bare_start(sys.executable, runs)
    print(f"OVERHEAD bare_python_start={bare * 1000:.0f}ms (python -I -c pass, median of {runs})")
    for mode in MODES:
        wall = overhead_as_root(mode, runs)
        print(
            f"OVERHEAD mode={mode} user={'root' if root else 'self'} run_ms={wall * 1000:.0f} "
            f"over_bare_ms={(wall - bare) * 1000:.0f}{q}"
        )

    held: list[int] = []
    uid = claim_uids(1, 65100, held)[0] if root else None
    user_py = python_for_uid(uid) if uid is not None else None
    if uid is not None and user_py is not None:
        wall = overhead_as_user(uid, user_py, "bwrap", runs)
        print(f"OVERHEAD mode=bwrap user=uid{uid} run_ms={wall * 1000:.0f} (python {user_py}){q}")

    total = counted = 0
    undeclared = 0
    for mode in MODES:
        runs_for_mode: list[tuple[str, bool, dict[str, bool]]] = []
        with Sandbox(CORPUS_LIMITS, workers=args.workers, mode=mode) as box:
            verdicts = run_hostile_corpus(box, HOSTILE)
        runs_for_mode.append(("root" if root else "self", root, {v.name: v.contained for v in verdicts}))
        if uid is not None and user_py is not None:
            res = run_corpus_as_user(uid, mode, user_py, HOSTILE)
            runs_for_mode.append((f"uid{uid}", False, {str(r["name"]): bool(r["contained"]) for r in res}))
        for user, as_root, contained in runs_for_mode:
            gaps = set(mode_gaps(mode, as_root))
            escaped = {k for k, ok in contained.items() if not ok}
            undeclared += len(escaped - gaps)
            total += len(contained)
            counted += sum(ok or k in gaps for k, ok in contained.items())
            print(
                f"CORPUS mode={mode} user={user} contained={len(contained) - len(escaped)}/{len(contained)} "
                f"escaped={sorted(escaped)} declared_gaps_match={escaped == gaps}"
            )
    for fd in held:
        os.close(fd)
    share = 100.0 * counted / total if total else 0.0
    print(
        f"GOAL R4 measured={share:.1f} target>=100 unit=pct_hostile_contained_every_mode size={total} "
        f"{'PASS' if total and counted == total else 'SHORT'}{q}"
    )
    if wrong or undeclared:
        raise SystemExit(f"{wrong} wrong verdicts, {undeclared} undeclared escapes")


if __name__ == "__main__":
    main()
