"""Small helpers shared by tests (not fixtures): running jobs in-process against a tmp storage."""

import contextlib
import http.server
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from dagster import DagsterInstance, Definitions

from dataflow_dagster.core.pipeline import Pipeline
from dataflow_dagster.defs.factory import build_definitions
from dataflow_dagster.defs.resources import LLMResource, StorageResource


def defs_for(pipelines: list[Pipeline], root: Path, llm: LLMResource | None = None) -> Definitions:
    return build_definitions(pipelines, llm=llm, storage=StorageResource(root=str(root)))


def run_job(defs: Definitions, job_name: str, instance: DagsterInstance | None = None, **kwargs: Any) -> Any:
    job = defs.resolve_job_def(job_name)
    return job.execute_in_process(instance=instance or DagsterInstance.ephemeral(), raise_on_error=False, **kwargs)


def materialized(result: Any) -> dict[str, Any]:
    """asset key string -> metadata dict of its materialisation in ``result``."""
    out = {}
    for ev in result.get_asset_materialization_events():
        m = ev.event_specific_data.materialization
        out[m.asset_key.to_user_string()] = {k: getattr(v, "value", v) for k, v in m.metadata.items()}
    return out


def check_results(result: Any) -> dict[str, bool]:
    return {f"{e.asset_key.to_user_string()}:{e.check_name}": e.passed for e in result.get_asset_check_evaluations()}


@contextlib.contextmanager
def loopback_server(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """A threaded HTTP server for ``handler`` on 127.0.0.1; yields its ``/v1`` base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()


def scripted_chat_handler(answer: Callable[[str], dict[str, Any]]) -> type[http.server.BaseHTTPRequestHandler]:
    """An OpenAI-compatible /chat/completions handler whose JSON answer is ``answer(last user message)``.

    For injecting degenerate but schema-valid model output (a parroted prompt, an echoed answer) that
    the embedded model produces only by chance, so the guards against it can be tested every time.
    """

    class _Scripted(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            prompt = str(body.get("messages", [{}])[-1].get("content", ""))
            content = json.dumps(answer(prompt))
            data = json.dumps(
                {
                    "id": "x",
                    "object": "chat.completion",
                    "model": body.get("model", "scripted"),
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                    ],
                    "usage": {"prompt_tokens": len(prompt) // 4, "completion_tokens": len(content) // 4},
                }
            ).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    return _Scripted
