"""R1 crash safety: kill -9 an LLM materialisation in the middle of its dispatch, re-run, compare.

A 2,000-row pipeline (source -> rule filter -> LLM evaluator) runs in a worker process against a
local OpenAI-compatible server (tests/fault_server.py with faults off: it answers deterministically
from the prompt, so any difference in the result is ours). The uninterrupted run makes N requests;
each trial draws a seeded k with 0 < k < N, kills the worker with SIGKILL as soon as the server has
answered k requests (so every trial kills mid-dispatch, never before the LLM step or after it), re-runs
it to completion and checks that
  - the final table's content hash equals an uninterrupted run's,
  - requests re-sent after the crash are at most one batch,
  - the catalog, the response cache and every published snapshot are still readable and intact.

    python bench/crash_safety.py            # 10 trials, 2,000 rows
    python bench/crash_safety.py --quick    # 3 trials, 400 rows
"""

import argparse
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

BATCH = 64
WORKER = """
import sys
from dataflow_dagster.llm.openai_client import OpenAICompatClient
from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from dataflow_dagster.core.runner import run_source, run_step
from dataflow_dagster.core.storage import Storage
from operators.general_text.heuristics import WordNumberFilter
from operators.general_text.llm_qa import TopicClassifier
src, root, base_url, batch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
pipe = Pipeline("crash", Source(src, required_columns=["text"]), [
    Step("words", WordNumberFilter(min_words=3)),
    Step("topic", TopicClassifier()),
])
storage = Storage(root)
client = OpenAICompatClient(base_url, "fault", max_concurrency=16, timeout_s=30)
run_source(storage, pipe)
run_step(storage, pipe, "words")
out = run_step(storage, pipe, "topic", llm=client, batch_size=batch)
print("HASH", out.table.content_hash, flush=True)
"""


def make_source(path: Path, n: int, seed: int) -> None:
    rng = random.Random(seed)
    words = [
        "river",
        "cell",
        "energy",
        "planet",
        "code",
        "market",
        "law",
        "music",
        "storm",
        "protein",
        "orbit",
        "signal",
    ]
    with open(path, "w") as fh:
        for i in range(n):
            text = " ".join(rng.choice(words) for _ in range(rng.randint(2, 30)))
            fh.write(json.dumps({"text": f"doc {i}: {text}"}) + "\n")


def run_worker(src: Path, root: Path, server: Any, kill_after: int | None) -> tuple[str | None, float]:
    """Run the worker; with ``kill_after`` = k, SIGKILL it once the server has answered k requests."""
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER, str(src), str(root), server.base_url, str(BATCH)],
        cwd=REPO,
        stdout=subprocess.DEVNULL if kill_after is not None else subprocess.PIPE,
        stderr=subprocess.DEVNULL if kill_after is not None else subprocess.PIPE,
        text=True,
    )
    if kill_after is not None:
        while proc.poll() is None and server.answered() < kill_after:
            time.sleep(0.005)
        if proc.poll() is not None:
            return "finished", time.monotonic() - t0  # it finished before k answers: not a mid-dispatch kill
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        return None, time.monotonic() - t0
    else:
        out, err = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"worker failed: {err[-2000:]}")
    # DuckDB's progress bar (long queries) shares stdout and need not end its line: search, don't split.
    found = re.findall(r"HASH ([0-9a-f]{64})", out)
    return (found[-1] if found else None), time.monotonic() - t0


def storage_intact(root: Path) -> bool:
    import duckdb

    from dataflow_dagster.core.storage import Storage

    storage = Storage(root)
    con = duckdb.connect()
    for doc in storage.all_refs().values():
        for t in doc["tables"].values():
            if storage.describe_file(con, t["path"]).content_hash != t["content_hash"]:
                return False
    if not storage.sync_catalog():
        return False
    cat = duckdb.connect(str(storage.catalog_path), read_only=True)
    for (view,) in cat.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall():
        cat.execute(f'SELECT count(*) FROM "{view}"').fetchall()
    if storage.cache_path.exists():
        cache = sqlite3.connect(storage.cache_path)
        if cache.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            return False
    return True


def main() -> None:
    from fault_server import fault_server

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--trials", type=int)
    ap.add_argument("--rows", type=int)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    trials = args.trials or (3 if args.quick else 10)
    rows = args.rows or (400 if args.quick else 2000)
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="crash_safety_"))
    src = work / "source.jsonl"
    make_source(src, rows, args.seed)
    ok_trials, worst_resent, killed = 0, 0, 0
    with fault_server(fault_rate=0.0, latency=0.01, seed=args.seed) as server:
        ref_hash, ref_wall = run_worker(src, work / "reference", server, None)
        n_requests = server.answered()
        print(f"uninterrupted run: {ref_wall:.1f}s, {n_requests} LLM requests, hash {ref_hash[:16]}")
        for trial in range(trials):
            server.reset()
            root = work / f"trial{trial}"
            kill_at = rng.randint(1, n_requests - 1)  # 0 < k < N: always inside the LLM dispatch
            h, _wall = run_worker(src, root, server, kill_at)
            was_killed = h is None
            killed += was_killed
            before = server.answered()
            intact_after_kill = storage_intact(root)
            h, _ = run_worker(src, root, server, None)
            prompts = server.stats()["prompts"]
            resent = sum(c - 1 for c in Counter(prompts).values() if c > 1)
            worst_resent = max(worst_resent, resent)
            ok = was_killed and h == ref_hash and resent <= BATCH and intact_after_kill and storage_intact(root)
            ok_trials += ok
            print(
                f"trial {trial}: kill after {kill_at}/{n_requests} answers "
                f"({'killed' if was_killed else 'finished first'}), "
                f"{before} answered before the kill, {resent} re-sent after, hash "
                f"{'equal' if h == ref_hash else 'DIFFERENT'}, storage {'intact' if intact_after_kill else 'BROKEN'}"
                f" -> {'ok' if ok else 'FAIL'}"
            )
    quick = " quick" if args.quick else ""
    status = "PASS" if ok_trials == trials else "SHORT"
    print(
        f"GOAL R1 measured={ok_trials}/{trials} target={trials}/{trials} unit=trials_reproduced "
        f"size={rows}{quick} killed={killed} max_resent={worst_resent} batch={BATCH} {status}"
    )


if __name__ == "__main__":
    main()
