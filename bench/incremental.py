"""P5: an incremental refresh after a source gains 1% new rows, against a full run.

One command: `python bench/incremental.py [--quick]`. Starts a deterministic OpenAI-compatible
endpoint on 127.0.0.1 with a fixed latency per request (so 10k LLM rows are feasible on a laptop and
timings are about our pipeline, not a model), runs rule steps + dedup + an LLM evaluator over N rows
(the baseline: a full run), appends 1% new rows and refreshes. Reports LLM calls and wall time of the
refresh as a share of the full run, plus (for context) a refresh with the row memo turned off, which
still answers every LLM row from the response cache but re-processes every row. Also checks that the
refreshed tables have exactly the content hash of a from-scratch run over the grown file.
"""

import argparse
import hashlib
import json
import random
import shutil
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from dataflow_dagster.core.runner import run_source, run_step
from dataflow_dagster.core.storage import Storage
from dataflow_dagster.llm.openai_client import OpenAICompatClient
from operators.general_text.dedup import ExactDedupFilter
from operators.general_text.heuristics import ContentNullFilter, WordNumberFilter
from operators.general_text.llm_qa import TOPIC_PROMPT, TopicClassifier

TOPICS = TOPIC_PROMPT.output_schema["properties"]["topic"]["enum"]  # type: ignore[index]
WORDS = [
    "energy",
    "cell",
    "market",
    "river",
    "proof",
    "signal",
    "protein",
    "theorem",
    "empire",
    "circuit",
    "orbit",
    "enzyme",
    "tariff",
    "glacier",
    "matrix",
    "vaccine",
    "dynasty",
    "algorithm",
    "voltage",
    "treaty",
]


class FixedLatencyLLM(BaseHTTPRequestHandler):
    """/v1/chat/completions answering a schema-valid topic chosen by a hash of the prompt."""

    protocol_version = "HTTP/1.1"  # keep-alive: the client reuses its connections
    latency_s = 0.02
    calls = 0
    lock = threading.Lock()

    def log_message(self, *args: object) -> None:
        return None

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        with FixedLatencyLLM.lock:
            FixedLatencyLLM.calls += 1
        time.sleep(self.latency_s)
        user = body.get("messages", [{}])[-1].get("content", "")
        topic = TOPICS[int(hashlib.md5(user.encode()).hexdigest(), 16) % len(TOPICS)]
        payload = json.dumps(
            {
                "id": "bench",
                "object": "chat.completion",
                "created": 0,
                "model": body.get("model", "bench"),
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": json.dumps({"topic": topic})},
                    }
                ],
                "usage": {"prompt_tokens": len(user) // 4, "completion_tokens": 6, "total_tokens": len(user) // 4 + 6},
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def corpus(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        k = rng.randint(3, 30)
        text = " ".join(rng.choice(WORDS) for _ in range(k)) + f" #{i}"
        if i % 50 == 7:
            text = rows[-1]["text"] if rows else text  # exact duplicates for dedup
        if i % 97 == 3:
            text = ""
        rows.append({"text": text, "n": i})
    return rows


def write(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def pipeline(src: Path) -> Pipeline:
    return Pipeline(
        "bench",
        Source(str(src), required_columns=["text"]),
        [
            Step("nonnull", ContentNullFilter()),
            Step("words", WordNumberFilter(min_words=5)),
            Step("dedup", ExactDedupFilter()),
            Step("topic", TopicClassifier(min_parsed_share=0.9)),
        ],
    )


def run_all(
    storage: Storage, pipe: Pipeline, llm: OpenAICompatClient, incremental: bool = True
) -> tuple[float, int, dict]:
    before = FixedLatencyLLM.calls
    t0 = time.perf_counter()
    hashes = {"load": run_source(storage, pipe).table.content_hash}
    for s in pipe.steps:
        out = run_step(
            storage, pipe, s.name, llm=llm if s.op.needs_llm else None, batch_size=512, incremental=incremental
        )
        hashes[s.name] = out.table.content_hash
    return time.perf_counter() - t0, FixedLatencyLLM.calls - before, hashes


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1,000 rows instead of 10,000")
    ap.add_argument("--rows", type=int, default=None)
    ap.add_argument("--latency-ms", type=float, default=20.0)
    args = ap.parse_args()
    n = args.rows or (1000 if args.quick else 10000)
    FixedLatencyLLM.latency_s = args.latency_ms / 1000
    server = ThreadingHTTPServer(("127.0.0.1", 0), FixedLatencyLLM)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    llm = OpenAICompatClient(
        f"http://127.0.0.1:{server.server_address[1]}/v1", "bench", max_concurrency=32, structured_output="json_object"
    )
    tmp = Path(tempfile.mkdtemp(prefix="bench-incremental-"))
    try:
        src = tmp / "corpus.jsonl"
        rows = corpus(n + n // 100, seed=7)
        write(src, rows[:n])
        storage = Storage(tmp / "store")
        full_s, full_calls, _ = run_all(storage, pipeline(src), llm)
        write(src, rows)  # the source gains 1% rows
        ref_storage = Storage(tmp / "store_nomemo")
        shutil.copytree(storage.root, ref_storage.root, dirs_exist_ok=True)
        shutil.rmtree(ref_storage.root / "memo", ignore_errors=True)
        refresh_s, refresh_calls, refreshed = run_all(storage, pipeline(src), llm)
        nomemo_s, nomemo_calls, _ = run_all(ref_storage, pipeline(src), llm, incremental=False)
        scratch = storage.scratch(tmp / "scratch")
        _, _, scratch_hashes = run_all(scratch, pipeline(src), llm, incremental=False)
        same = scratch_hashes == refreshed
        print(f"rows={n} new_rows={n // 100} latency_ms={args.latency_ms}")
        print(f"full run:            {full_s:8.2f} s  {full_calls:6d} LLM calls")
        print(f"incremental refresh: {refresh_s:8.2f} s  {refresh_calls:6d} LLM calls")
        print(f"refresh without memo:{nomemo_s:8.2f} s  {nomemo_calls:6d} LLM calls (old rows: cache)")
        print(f"refreshed content hashes equal a from-scratch run: {same}")
        calls_pct = 100 * refresh_calls / max(full_calls, 1)
        wall_pct = 100 * refresh_s / full_s
        q = " quick" if args.quick else ""
        for measured, target, unit in ((calls_pct, 2, "pct_llm_calls_vs_full"), (wall_pct, 5, "pct_wall_vs_full")):
            ok = measured <= target and same
            print(
                f"GOAL P5 measured={measured:.2f} target<={target} unit={unit} size={n} {'PASS' if ok else 'SHORT'}{q}"
            )
        return 0 if same else 1
    finally:
        server.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
