"""An answer that arrives but is unusable (a greedy loop cut off by max_tokens mid-JSON) is asked
again, sampled with a seed of its own and a frequency penalty, instead of becoming an error row.

The model is the real embedded one behind llama.cpp's OpenAI-compatible server; a proxy in front of it
only injects the fault: it cuts every greedy (penalty-free) answer in half, as a loop hitting
max_tokens does. The client's own schema repair is switched off so the operator's re-ask is what is
tested.
"""

import http.server
import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from dataflow_dagster.llm.openai_client import OpenAICompatClient
from operators.conversations.tasks import AtomTaskGenerator
from tests.helpers import llama_cpp_server, loopback_server, run_steps, send_json

ROWS = [
    {"scenario": "A traveller whose flight to Lisbon was cancelled needs a new flight and a hotel note."},
    {"scenario": "Someone converts 250 US dollars to euros and emails the amount to a relative."},
]


def truncating_proxy(upstream: str, seen: list[dict[str, Any]]) -> type[http.server.BaseHTTPRequestHandler]:
    class _Proxy(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            body = json.loads(raw)
            seen.append(body)
            req = urllib.request.Request(
                upstream + "/chat/completions", raw, {"content-type": "application/json"}, method="POST"
            )
            with urllib.request.urlopen(req, timeout=120) as resp:
                answer = json.loads(resp.read())
            if body.get("frequency_penalty") is None:  # the fault: a greedy answer cut off mid-string
                msg = answer["choices"][0]["message"]
                msg["content"] = msg["content"][: max(1, len(msg["content"]) // 2)]
                answer["choices"][0]["finish_reason"] = "length"
            send_json(self, answer)

        def log_message(self, *args: object) -> None:
            pass

    return _Proxy


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with llama_cpp_server(tmp_path_factory.mktemp("srv") / "server.log") as url:
        yield url


@pytest.mark.parametrize("reasks", [0, 1])
def test_cut_off_answers_are_asked_again(upstream: str, tmp_path: Path, reasks: int) -> None:
    seen: list[dict[str, Any]] = []
    with loopback_server(truncating_proxy(upstream, seen)) as url:
        client = OpenAICompatClient(url, "smollm2", max_reasks=0, structured_output="json_object", timeout_s=600)
        out = run_steps(tmp_path, ROWS, [AtomTaskGenerator(input_key="scenario", reask_unusable=reasks)], client)
    table, errors = out["s0"]["table"], out["s0"]["errors"]
    firsts = [b for b in seen if b.get("frequency_penalty") is None]
    assert len(firsts) == len(ROWS) and all(b["temperature"] == 0.0 and b["seed"] == 0 for b in firsts)
    if reasks == 0:  # the attack: without the re-ask every cut-off answer is an error row
        assert table == [] and len(errors) == len(ROWS)
        assert all("not JSON" in e["_error"] for e in errors)
        return
    again = [b for b in seen if b.get("frequency_penalty") is not None]
    assert len(again) == len(ROWS)
    assert all(b["temperature"] >= 0.7 and b["seed"] == 1 and b["frequency_penalty"] > 0 for b in again)
    assert len(table) + len(errors) == len(ROWS) and len(table) >= 1
    assert all(isinstance(r["atom_task"], str) and r["atom_task"] for r in table)
