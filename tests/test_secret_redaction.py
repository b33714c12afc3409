"""An API key echoed back by the server never lands in what the project stores or logs.

The endpoint here is a fault injector on 127.0.0.1 that quotes the request's Authorization header in
its answers (a 401 JSON body, a 500 text body, a non-JSON 200), as misconfigured proxies and debug
servers do. Before redaction the key was stored in ``__errors`` snapshots, their catalog view and
the Dagster run database.
"""

import http.server
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance, EnvVar

from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from dataflow_dagster.defs.resources import OpenAIResource
from operators.general_text.llm_qa import TopicClassifier
from tests.helpers import defs_for, loopback_server, run_job

KEY = "sk-test-echo-0123456789abcdef"


class _Echo(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        auth = self.headers.get("authorization", "")
        text = json.dumps(body.get("messages", [{}])[-1].get("content", ""))
        if "gravity" in text:
            status, payload, kind = 401, json.dumps({"error": {"message": f"bad key: {auth}"}}), "application/json"
        elif "enzymes" in text:
            status, payload, kind = 500, f"<html>upstream said no to {auth}</html>", "text/html"
        else:
            status, payload, kind = 200, f"not json, you sent {auth}", "text/plain"
        data = payload.encode()
        self.send_response(status)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echo_url() -> Iterator[str]:
    with loopback_server(_Echo) as url:
        yield url


def test_echoed_api_key_is_redacted_everywhere(tmp_path: Path, echo_url: str, monkeypatch, capsys):
    monkeypatch.setenv("ECHO_TEST_API_KEY", KEY)
    src = tmp_path / "in.jsonl"
    texts = ["gravity pulls apples down", "enzymes speed reactions up", "sorting puts lists in order"]
    src.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    pipe = Pipeline("echo", Source(str(src)), [Step("topic", TopicClassifier())])
    llm = OpenAIResource(
        base_url=echo_url,
        model="echo",
        api_key=EnvVar("ECHO_TEST_API_KEY"),
        structured_output="json_object",
        max_retries=0,
    )  # type: ignore[arg-type]
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with DagsterInstance.get() as instance:
        run_job(defs_for([pipe], tmp_path / "store", llm=llm), "echo_job", instance)
    out = capsys.readouterr()
    leaks = [str(p) for p in tmp_path.rglob("*") if p.is_file() and KEY.encode() in p.read_bytes()]
    assert not leaks, leaks
    assert KEY not in out.out + out.err
    errors = list((tmp_path / "store").rglob("*errors*"))
    assert errors, "the failed rows must be recorded (as redacted errors), not dropped"
