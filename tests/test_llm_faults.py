"""The OpenAI-compatible client against a server that fails 20% of requests on purpose.

What must hold: a 1,000-row step completes; exactly the rows that still failed after every retry are
in ``__errors`` (with the reason), every other row has its answer; the cache holds only good answers;
a re-run sends only the failed rows again.
"""

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
from fault_server import fault_server

from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from dataflow_dagster.core.runner import run_source, run_step
from dataflow_dagster.llm.cache import ResponseCache
from dataflow_dagster.llm.limits import estimate_tokens
from dataflow_dagster.llm.openai_client import OpenAICompatClient
from operators.core.llm import LLMRequest, SamplingParams
from operators.general_text.llm_qa import QA_PROMPT, PassageQAGenerator

REPO = Path(__file__).resolve().parents[1]
SCHEMA = {"type": "object", "properties": {"label": {"type": "string", "enum": ["a", "b"]}}, "required": ["label"]}


def _corpus(path: Path, n: int) -> Path:
    with open(path, "w") as fh:
        for i in range(n):
            fh.write(json.dumps({"text": f"Passage number {i}: the value of item {i} is {i * 7 % 13}."}) + "\n")
    return path


def _client(url: str, **kw) -> OpenAICompatClient:
    opts = {
        "max_concurrency": 32,
        "timeout_s": 1.0,
        "max_retries": 1,
        "backoff_base_s": 0.02,
        "backoff_cap_s": 0.2,
        "max_reasks": 1,
    }
    return OpenAICompatClient(url, "fault", **{**opts, **kw})


def test_thousand_rows_with_faults_then_rerun_retries_only_failures(tmp_path, storage):
    pipe = Pipeline(
        "faulty",
        Source(str(_corpus(tmp_path / "in.jsonl", 1000)), required_columns=["text"]),
        [Step("qa", PassageQAGenerator())],
    )
    run_source(storage, pipe)
    with fault_server(fault_rate=0.2, latency=0.005, hang_s=3.0, seed=1) as fs:
        client = _client(fs.base_url)
        out = run_step(storage, pipe, "qa", llm=client)
        seen = fs.stats()["outcomes"]
        stats = client.stats
        client.close()

        con = duckdb.connect()
        t, e = out.refs["table"].read_sql(), out.refs["errors"].read_sql()
        src = storage.require_ref("faulty__load").read_sql()
        n_ok = con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
        failed = {r[0] for r in con.execute(f"SELECT _id FROM {e}").fetchall()}
        answered = {r[0] for r in con.execute(f"SELECT _parent_ids[1] FROM {t}").fetchall()}
        all_ids = {r[0] for r in con.execute(f"SELECT _id FROM {src}").fetchall()}
        # every fault kind was injected, and the client retried them
        assert {"429", "500", "timeout", "garbage_body", "garbage_json"} <= set(seen)
        assert stats.retries > 0 and {"429", "5xx", "timeout", "garbage"} <= set(stats.retry_reasons)
        assert stats.reasks > 0
        # the split is exact: every row is either answered or in __errors, never both, never lost
        assert n_ok + len(failed) == 1000
        assert failed.isdisjoint(answered) and failed | answered == all_ids
        assert 0 < len(failed) < 250, len(failed)
        reasons = [r[0] for r in con.execute(f"SELECT _error FROM {e}").fetchall()]
        assert all(reasons) and any("retries" in r or "re-asks" in r for r in reasons)
        assert con.execute(f"SELECT count(*) FROM {t} WHERE question IS NULL OR answer IS NULL").fetchall()[0][0] == 0
        assert out.lineage["error_rows"] == len(failed), out.lineage
        # one lookup per row, plus one per unusable answer the operator asked again
        reasked = out.lineage["stats"]["llm_reasked_rows"]
        assert out.lineage["cache"]["misses"] == 1000 + reasked, (out.lineage["cache"], reasked)
        assert ResponseCache(storage.cache_path).stats()["entries"] == n_ok  # failures are never cached

        # re-run: only the failed rows' prompts reach the server again
        failed_text = {
            r[0] for r in con.execute(f"SELECT text FROM {src} WHERE _id IN (SELECT _id FROM {e})").fetchall()
        }
        fs.reset()
        client2 = _client(fs.base_url, max_retries=4)
        out2 = run_step(storage, pipe, "qa", llm=client2)
        client2.close()
        prompts = {p for p in fs.stats()["prompts"]}
        expected = {QA_PROMPT.render({"passage": txt}) for txt in failed_text}
        assert prompts == expected
        # answered rows come back from the row memo (not even a cache lookup); failed ones are asked again
        assert out2.lineage["incremental"]["rows_reused"] == n_ok, out2.lineage["incremental"]
        assert out2.lineage["cache"]["misses"] == len(failed)
        assert out2.lineage["error_rows"] < len(failed)
        assert out2.table.row_count + out2.lineage["error_rows"] == 1000


def test_auto_structured_output_falls_back_to_json_object():
    with fault_server(fault_rate=0.0, latency=0.0, reject_json_schema=True) as fs:
        client = _client(fs.base_url, max_concurrency=4)
        out = client.generate([LLMRequest.chat(f"row {i}", schema=SCHEMA) for i in range(20)])
        client.close()
        assert all(r.ok for r in out)
        assert all(json.loads(r.text)["label"] in ("a", "b") for r in out)
        assert client.stats.format_fallbacks >= 1
        assert fs.stats()["outcomes"]["rejected_json_schema"] <= 4  # only the first wave
        # with the mode forced, a refusal is a row error, not a silent downgrade
        strict = _client(fs.base_url, structured_output="json_schema")
        res = strict.generate([LLMRequest.chat("x", schema=SCHEMA)])
        strict.close()
        assert not res[0].ok and "400" in (res[0].error or "")


def test_requests_per_minute_limit_spreads_arrivals():
    with fault_server(fault_rate=0.0, latency=0.0) as fs:
        client = _client(fs.base_url, rpm=600)  # 10 per second, bucket of one second
        out = client.generate([LLMRequest.chat(f"r{i}", schema=SCHEMA) for i in range(40)])
        client.close()
        arrivals = sorted(fs.stats()["arrivals"])
    assert all(r.ok for r in out)
    # 40 requests at 10/s with a 10-request bucket cannot arrive in less than ~3 s
    assert arrivals[-1] - arrivals[0] >= 2.5
    assert client.stats.rate_limit_wait_s > 0
    for i, t0 in enumerate(arrivals):  # no 1-second window holds more than bucket + refill
        assert sum(1 for t in arrivals[i:] if t - t0 < 1.0) <= 21


def test_non_retryable_status_fails_fast_and_is_not_counted_as_retry():
    with fault_server(fault_rate=0.0, latency=0.0, reject_json_schema=True) as fs:
        client = _client(fs.base_url, structured_output="json_schema", max_retries=5)
        res = client.generate([LLMRequest.chat("x", schema=SCHEMA)])
        client.close()
    assert not res[0].ok and client.stats.retries == 0 and client.stats.attempts == 1


CRASHER = textwrap.dedent("""
    import sys
    from dataflow_dagster.llm.cache import CachedLLM, ResponseCache
    from dataflow_dagster.llm.openai_client import OpenAICompatClient
    from operators.core.llm import LLMRequest
    if __name__ == "__main__":
        url, cache_path = sys.argv[1], sys.argv[2]
        client = OpenAICompatClient(url, "fault", max_concurrency=4)
        cached = CachedLLM(client, ResponseCache(cache_path), commit_every=8)
        print("started", flush=True)
        cached.generate([LLMRequest.chat(f"row {i}") for i in range(400)])
""")


def test_answers_are_committed_while_the_batch_runs(tmp_path):
    """SIGKILL mid-batch: what the server answered is in the cache, minus at most one sub-batch."""
    script = tmp_path / "crasher.py"
    script.write_text(CRASHER)
    cache_path = tmp_path / "cache.sqlite"
    with fault_server(fault_rate=0.0, latency=0.05) as fs:
        proc = subprocess.Popen(
            [sys.executable, str(script), fs.base_url, str(cache_path)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            env={"PYTHONPATH": str(REPO), "PATH": ""},
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"started"
        deadline = time.monotonic() + 60
        while fs.stats()["outcomes"].get("ok", 0) < 60 and time.monotonic() < deadline:
            time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        answered = fs.stats()["outcomes"].get("ok", 0)
    entries = ResponseCache(cache_path).stats()["entries"]
    assert 60 <= answered < 400  # killed mid-batch
    assert entries >= answered - 8 - 4  # one sub-batch + the requests in flight


def test_tokens_per_minute_limit_spreads_arrivals():
    with fault_server(fault_rate=0.0, latency=0.0) as fs:
        client = _client(fs.base_url, tpm=60 * 100)  # 100 estimated tokens per second
        reqs = [LLMRequest.chat(f"r{i}", schema=SCHEMA, params=SamplingParams(max_tokens=40)) for i in range(6)]
        per_request = estimate_tokens(reqs[0])
        out = client.generate(reqs)
        client.close()
        arrivals = sorted(fs.stats()["arrivals"])
    assert all(r.ok for r in out) and 40 < per_request <= 100
    # one second of budget up front, then 100 tokens/s: the last request waits for the rest
    assert arrivals[-1] - arrivals[0] >= (6 * per_request - 100) / 100 * 0.9
