"""Client for any OpenAI-compatible chat endpoint (vLLM serve, llama.cpp server, OpenAI, ...).

Requests of a batch go out concurrently (bounded by ``max_concurrency``) on one event loop; the
openai SDK retries 429/5xx/timeouts/connection errors with exponential backoff and jitter. A row that
still fails is returned as an error response, never raised, so one bad row cannot lose a batch of
paid answers. The API key is held only inside the SDK client and never logged or returned.
"""

import asyncio
import json
from collections.abc import Sequence
from typing import Any, Literal

from operators.core.llm import LLMRequest, LLMResponse

StructuredMode = Literal["json_schema", "json_object", "none"]


class OpenAICompatClient:
    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str = "not-needed",
        max_concurrency: int = 16,
        timeout_s: float = 60.0,
        max_retries: int = 5,
        structured_output: StructuredMode = "json_schema",
        model_id: str | None = None,
    ) -> None:
        self.base_url, self.model = base_url.rstrip("/"), model
        self._api_key = api_key
        self.max_concurrency, self.timeout_s, self.max_retries = max_concurrency, timeout_s, max_retries
        self.structured_output = structured_output
        self._model_id = model_id or f"openai/{model}"

    @property
    def model_id(self) -> str:
        return self._model_id

    def __repr__(self) -> str:  # never show the key
        return f"OpenAICompatClient(base_url={self.base_url!r}, model={self.model!r})"

    def _response_format(self, schema: dict[str, Any] | None) -> dict[str, Any] | None:
        if schema is None or self.structured_output == "none":
            return None
        if self.structured_output == "json_object":
            return {"type": "json_object", "schema": schema}
        return {"type": "json_schema", "json_schema": {"name": "output", "schema": schema, "strict": True}}

    async def _one(self, client: Any, sem: asyncio.Semaphore, req: LLMRequest) -> LLMResponse:
        p = req.params
        kwargs: dict[str, Any] = {}
        fmt = self._response_format(req.schema_dict())
        if fmt is not None:
            kwargs["response_format"] = fmt
        async with sem:
            try:
                res = await client.chat.completions.create(
                    model=self.model, messages=req.message_dicts(), temperature=p.temperature,
                    top_p=p.top_p, max_tokens=p.max_tokens, seed=p.seed, **kwargs,
                )
            except Exception as exc:
                return LLMResponse(text=None, error=_describe(exc), model=self.model_id)
        try:
            text = res.choices[0].message.content
        except (AttributeError, IndexError, TypeError):
            return LLMResponse(text=None, error="malformed response: no choices[0].message.content",
                               model=self.model_id)
        usage = getattr(res, "usage", None)
        return LLMResponse(
            text=text,
            error=None if text is not None else "empty completion",
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            model=self.model_id,
        )

    async def agenerate(self, requests: Sequence[LLMRequest]) -> list[LLMResponse]:
        from openai import AsyncOpenAI

        client = AsyncOpenAI(base_url=self.base_url, api_key=self._api_key, timeout=self.timeout_s,
                             max_retries=self.max_retries)
        sem = asyncio.Semaphore(self.max_concurrency)
        try:
            return list(await asyncio.gather(*(self._one(client, sem, r) for r in requests)))
        finally:
            await client.close()

    def generate(self, requests: Sequence[LLMRequest]) -> list[LLMResponse]:
        return asyncio.run(self.agenerate(requests))


def _describe(exc: Exception) -> str:
    """Error text for the errors table: type and status, never request headers (the key)."""
    status = getattr(exc, "status_code", None)
    msg = str(getattr(exc, "message", "") or exc)
    if isinstance(getattr(exc, "body", None), dict):
        msg = json.dumps(exc.body)[:300]  # type: ignore[attr-defined]
    return f"{type(exc).__name__}{f' {status}' if status else ''}: {msg[:300]}"
