"""Shared fixtures: real DuckDB files in tmp dirs, the real embedded model, real local servers."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from dataflow_dagster.core.storage import Storage
from dataflow_dagster.llm.local import LlamaCppClient
from tests.helpers import free_port, llama_cpp_server  # noqa: F401  (free_port: re-exported for tests)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data" / "dataflow-examples"


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    return Storage(tmp_path / ".dataflow")


@pytest.fixture(scope="session")
def local_llm() -> LlamaCppClient:
    """The embedded SmolLM2 model, loaded once per test session."""
    return LlamaCppClient()


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server with the embedded model on 127.0.0.1.

    Yields the base URL (``http://127.0.0.1:PORT/v1``); the served model name is ``smollm2``.
    """
    with llama_cpp_server(tmp_path_factory.mktemp("llama_server") / "server.log") as url:
        yield url


@pytest.fixture(params=["native", "sql"])
def text_engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a rule-filter test twice: through the C kernels (required: a silent fallback to SQL would
    make this pass vacuously) and through the plain-SQL definitions."""
    monkeypatch.setenv("DATAFLOW_NATIVE", "require" if request.param == "native" else "0")
    return str(request.param)
