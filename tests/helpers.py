"""Small helpers shared by tests (not fixtures): running jobs in-process against a tmp storage."""

import contextlib
import http.server
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout_s: float = 120.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except Exception:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout_s}s")


@contextlib.contextmanager
def llama_cpp_server(log: Path, alias: str = "smollm2") -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server with the embedded model on 127.0.0.1, serving it as
    ``alias``; yields the base URL (``http://127.0.0.1:PORT/v1``). Its access log goes to ``log``."""
    from dataflow_dagster.llm.local import default_model_path

    port = free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(default_model_path()), "--model_alias", alias]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--seed", "0"]
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        wait_http(f"http://127.0.0.1:{port}/v1/models", 120, proc)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
