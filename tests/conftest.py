"""Shared fixtures: real DuckDB files in tmp dirs, the real embedded model, real local servers."""

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dataflow_dagster.core.storage import Storage
from dataflow_dagster.llm.local import LlamaCppClient, default_model_path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data" / "dataflow-examples"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout_s: float = 120.0, proc: subprocess.Popen | None = None) -> None:
    import urllib.request

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


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    return Storage(tmp_path / ".dataflow")


@pytest.fixture(scope="session")
def local_llm() -> LlamaCppClient:
    """The embedded SmolLM2 model, loaded once per test session."""
    return LlamaCppClient()


@contextlib.contextmanager
def start_llama_server(log: Path, *extra: str) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server with the embedded model on 127.0.0.1.

    Yields the base URL (``http://127.0.0.1:PORT/v1``); the served model name is ``smollm2``.
    ``extra`` adds server flags (e.g. ``--logits_all true`` for prompt log-probabilities).
    """
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(default_model_path()),
        "--model_alias",
        "smollm2",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
        "--seed",
        "0",
        *extra,
    ]
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env={**os.environ})
    try:
        wait_http(f"http://127.0.0.1:{port}/v1/models", 120, proc)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The llama.cpp server with default settings (chat completions); see ``start_llama_server``."""
    with start_llama_server(tmp_path_factory.mktemp("llama_server") / "server.log") as url:
        yield url


@pytest.fixture(scope="session")
def llama_scoring_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A llama.cpp server that returns prompt log-probabilities (``echo`` + ``logprobs``)."""
    log = tmp_path_factory.mktemp("llama_scoring_server") / "server.log"
    with start_llama_server(log, "--logits_all", "true") as url:
        yield url


@pytest.fixture(params=["native", "sql"])
def text_engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a rule-filter test twice: through the C kernels (required: a silent fallback to SQL would
    make this pass vacuously) and through the plain-SQL definitions."""
    monkeypatch.setenv("DATAFLOW_NATIVE", "require" if request.param == "native" else "0")
    return str(request.param)
