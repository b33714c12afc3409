"""P4: LLM dispatch throughput against a fixed-latency local OpenAI-compatible endpoint.

One run measures, on the same server (tests/fault_server.py with faults off, in its own process):
  ours        OpenAICompatClient behind the response cache (CachedLLM: every answer committed to a
              fresh SQLite cache in sub-batches, as in a real step) at ``--concurrency``;
  ideal       concurrency / latency rows per second (every slot busy, zero overhead);
  pool        DataFlow's scheme (APILLMServing_request: a ThreadPoolExecutor of blocking
              ``requests.post`` calls) at *our* concurrency, on the same rows: the measured baseline;
  threads10   the same pool at DataFlow's default 10 workers, printed for context only: against a
              fixed-latency server its rate is ~10 / latency by construction, so a ratio to it would
              only restate the concurrency, and it is not a GOAL line (nor is a sequential loop).

    python bench/llm_dispatch.py [--quick] [--latency 0.25] [--concurrency 64]
"""

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import requests  # noqa: E402
from fault_server import fault_server  # noqa: E402

from dataflow_dagster.llm.cache import CachedLLM, ResponseCache  # noqa: E402
from dataflow_dagster.llm.openai_client import OpenAICompatClient  # noqa: E402
from operators.core.llm import LLMRequest, SamplingParams  # noqa: E402

SCHEMA = {
    "type": "object",
    "required": ["label"],
    "properties": {"label": {"type": "string", "enum": ["keep", "drop"]}},
}


def _requests(n: int, tag: str) -> list[LLMRequest]:
    return [
        LLMRequest.chat(
            f"Classify passage {tag}-{i}: a short text about item {i}.",
            "Reply in JSON.",
            SamplingParams(max_tokens=16),
            SCHEMA,
        )
        for i in range(n)
    ]


def ours(url: str, n: int, concurrency: int) -> float:
    client = OpenAICompatClient(url, "fault", max_concurrency=concurrency, timeout_s=30)
    with tempfile.TemporaryDirectory() as tmp:
        cached = CachedLLM(client, ResponseCache(Path(tmp) / "cache.sqlite"))
        cached.generate(_requests(concurrency, "warm"))  # connections up, as in a running step
        reqs = _requests(n, "run")
        t0 = time.perf_counter()
        out: list = []
        for i in range(0, n, client.preferred_batch):  # the operator's batches
            out += cached.generate(reqs[i : i + client.preferred_batch])
        dt = time.perf_counter() - t0
        assert all(r.ok for r in out) and ResponseCache(Path(tmp) / "cache.sqlite").stats()["entries"] >= n
    client.close()
    return n / dt


def _post(session: requests.Session, url: str, req: LLMRequest) -> str:
    body = {
        "model": "fault",
        "messages": req.message_dicts(),
        "temperature": 0,
        "max_tokens": 16,
        "response_format": {"type": "json_schema", "json_schema": {"name": "o", "schema": SCHEMA}},
    }
    r = session.post(f"{url}/chat/completions", json=body, timeout=30)
    r.raise_for_status()
    return r.json()["choices"][0]["message"]["content"]


def thread_pool(url: str, n: int, workers: int, tag: str) -> float:
    """DataFlow's dispatch: blocking requests.post calls in a ThreadPoolExecutor of ``workers``."""
    reqs = _requests(n, tag)
    s = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=workers, pool_maxsize=workers)
    s.mount("http://", adapter)  # one kept-alive connection per worker, as our client has per slot
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda r: json.loads(_post(s, url, r)), _requests(workers, f"{tag}-warm")))
        t0 = time.perf_counter()
        list(pool.map(lambda r: json.loads(_post(s, url, r)), reqs))
        return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--latency", type=float, default=0.25)
    ap.add_argument("--concurrency", type=int, default=64)
    a = ap.parse_args()
    n = 600 if a.quick else 4000
    n_thr = 60 if a.quick else 300
    ideal = a.concurrency / a.latency
    with fault_server(fault_rate=0.0, latency=a.latency) as fs:
        r_ours = ours(fs.base_url, n, a.concurrency)
        r_pool = thread_pool(fs.base_url, n, a.concurrency, "pool")
        r_thr = thread_pool(fs.base_url, n_thr, 10, "thr")
    q = " quick" if a.quick else ""
    load = os.getloadavg()[0]  # other work on the box competes for the same cores: say how much
    print(
        f"# {time.strftime('%Y-%m-%d %H:%M')} {platform.node()} {platform.machine()} cpus={os.cpu_count()} "
        f"loadavg1={load:.1f} latency={a.latency}s concurrency={a.concurrency}"
    )
    print(
        f"# rows/s: ours={r_ours:.1f} (n={n}) ideal={ideal:.1f} dataflow_pool@{a.concurrency}={r_pool:.1f} (n={n}) "
        f"dataflow_pool@10={r_thr:.1f} (n={n_thr}, context only: ~10/latency by construction)"
    )
    for goal, measured, target, unit in [
        ("P4", r_ours / ideal, 0.9, "x_ideal_concurrency_over_latency"),
        ("P4-pool", r_ours / r_pool, 0.9, f"x_vs_dataflow_threadpool_at_{a.concurrency}_workers"),
    ]:
        status = "PASS" if measured >= target else "SHORT"
        print(f"GOAL {goal} measured={measured:.3f} target>={target:g} unit={unit} size={n} {status}{q}")


if __name__ == "__main__":
    main()
