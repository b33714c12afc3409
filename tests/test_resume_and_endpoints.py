"""Crash in the middle of an LLM step, resume from the cache; the same step through a real server."""

import json
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pytest

from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from dataflow_dagster.core.runner import run_source, run_step
from dataflow_dagster.core.storage import Storage
from dataflow_dagster.defs.resources import OpenAIResource
from dataflow_dagster.llm.openai_client import OpenAICompatClient
from operators.core.llm import LLMRequest, LLMResponse
from operators.general_text.llm_qa import TOPIC_PROMPT, TopicClassifier
from tests.helpers import defs_for, materialized, run_job

TEXTS = [
    f"Passage number {i} explains how {topic} works in simple terms for students."
    for i, topic in enumerate(["gravity", "enzymes", "sorting", "volcanoes", "vaccines", "magnets"])
]


class CrashAfter:
    """Fault injection around the real client: answers ``n_ok`` requests, then raises mid-step."""

    def __init__(self, inner, n_ok: int) -> None:
        self.inner, self.n_ok, self.sent = inner, n_ok, 0

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    def generate(self, requests: Sequence[LLMRequest]) -> list[LLMResponse]:
        if self.sent + len(requests) > self.n_ok:
            raise RuntimeError("injected crash: worker died")
        self.sent += len(requests)
        return self.inner.generate(requests)


@pytest.fixture
def topic_pipe(tmp_path: Path) -> Pipeline:
    f = tmp_path / "in.jsonl"
    f.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS))
    return Pipeline("resume", Source(str(f)), [Step("topic", TopicClassifier())])


def test_crash_midway_keeps_previous_table_and_resumes_from_cache(storage: Storage, topic_pipe, local_llm):
    run_source(storage, topic_pipe)
    first = run_step(storage, topic_pipe, "topic", llm=local_llm)
    assert first.lineage["cache"]["misses"] == len(TEXTS)
    before = storage.current("resume__topic")

    # An edited prompt means new cache keys. Crash after 4 of 6 answers (batches of 2): the previous
    # version must stay current, and the re-run must only ask for the 2 unanswered rows.
    prompt2 = TOPIC_PROMPT.with_text(TOPIC_PROMPT.template + " Answer with one label.")
    with pytest.raises(RuntimeError, match="injected crash"):
        run_step(storage, topic_pipe, "topic", llm=CrashAfter(local_llm, 4), prompt=prompt2, batch_size=2)
    assert storage.current("resume__topic") == before
    resumed = run_step(storage, topic_pipe, "topic", llm=local_llm, prompt=prompt2, batch_size=2)
    assert resumed.lineage["cache"] == {"hits": 4, "misses": 2, "failed": 0}
    assert storage.current("resume__topic")["tables"]["table"]["content_hash"] == resumed.table.content_hash


def test_openai_resource_against_real_llama_server(tmp_path: Path, topic_pipe, llama_server: str):
    llm = OpenAIResource(base_url=llama_server, model="smollm2", structured_output="json_object")
    defs = defs_for([topic_pipe], tmp_path / ".dataflow", llm=llm)
    result = run_job(defs, "resume_job")
    assert result.success
    meta = materialized(result)["resume/topic"]
    assert meta["lineage"]["model"]["id"] == "openai/smollm2"
    assert meta["cache_misses"] == len(TEXTS)
    assert meta["dagster/row_count"] + meta["errors_rows"] == len(TEXTS)
    assert meta["dagster/row_count"] >= len(TEXTS) // 2
    con = duckdb.connect()
    labels = {r[0] for r in con.execute(f"SELECT topic FROM read_parquet('{meta['snapshot']}')").fetchall()}
    assert labels <= set(TOPIC_PROMPT.output_schema["properties"]["topic"]["enum"])


def test_default_structured_mode_works_against_real_llama_server(tmp_path: Path, topic_pipe, llama_server: str):
    """The default mode ("auto") against llama-cpp-python's server, which answers json_schema with
    HTTP 500: the client must fall back to json_object instead of sending every row to __errors."""
    llm = OpenAIResource(base_url=llama_server, model="smollm2")
    defs = defs_for([topic_pipe], tmp_path / ".dataflow", llm=llm)
    result = run_job(defs, "resume_job")
    assert result.success
    meta = materialized(result)["resume/topic"]
    assert meta["errors_rows"] == 0, meta
    assert meta["dagster/row_count"] == len(TEXTS)


def test_openai_client_reports_unreachable_server_as_row_errors():
    client = OpenAICompatClient("http://127.0.0.1:9/v1", "nope", max_retries=0, timeout_s=2)
    out = client.generate([LLMRequest.chat("hi")])
    assert len(out) == 1 and not out[0].ok and "Connection" in (out[0].error or "")
