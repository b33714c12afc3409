"""The one LLM protocol every serving backend implements.

Operators depend on this protocol only; the embedded llama.cpp model, OpenAI-compatible endpoints
and vLLM live in ``dataflow_dagster.llm`` and all satisfy it. Requests are plain data so the
response cache can key them by content.
"""

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 0.0
    max_tokens: int = 256
    top_p: float = 1.0
    seed: int = 0


@dataclass(frozen=True)
class LLMRequest:
    messages: tuple[tuple[str, str], ...]  # (role, content) pairs; tuples keep the request hashable
    params: SamplingParams = field(default_factory=SamplingParams)
    schema: str | None = None  # JSON schema as canonical JSON text, or None for free text

    @classmethod
    def chat(
        cls,
        user: str,
        system: str | None = None,
        params: SamplingParams | None = None,
        schema: dict[str, Any] | None = None,
    ) -> "LLMRequest":
        msgs: list[tuple[str, str]] = []
        if system:
            msgs.append(("system", system))
        msgs.append(("user", user))
        return cls(
            messages=tuple(msgs),
            params=params or SamplingParams(),
            schema=json.dumps(schema, sort_keys=True) if schema is not None else None,
        )

    def message_dicts(self) -> list[dict[str, str]]:
        return [{"role": r, "content": c} for r, c in self.messages]

    def schema_dict(self) -> dict[str, Any] | None:
        return json.loads(self.schema) if self.schema else None

    def cache_key(self, model_id: str) -> str:
        """sha256 over model, rendered prompt, sampling params (seed included) and schema."""
        payload = json.dumps(
            {
                "model": model_id,
                "messages": self.messages,
                "params": asdict(self.params),
                "schema": self.schema,
            },
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode()).hexdigest()


@dataclass
class LLMResponse:
    text: str | None
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False
    model: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None and self.text is not None


@runtime_checkable
class LLMClient(Protocol):
    """Generates one response per request, in order. Failures are responses with ``error`` set."""

    @property
    def model_id(self) -> str: ...

    def generate(self, requests: Sequence[LLMRequest]) -> list[LLMResponse]: ...
