"""Client for OpenAI-compatible chat endpoints (vLLM serve, llama.cpp server, OpenAI, a fleet of them).

Built to keep a remote model busy: one persistent event loop per client (connections and rate-limit
buckets survive across batches), up to ``max_concurrency`` requests in flight, each request sent to
the endpoint with the fewest in flight. It speaks the chat-completions wire format over aiohttp
rather than through the ``openai`` SDK: the SDK spends ~5 ms of CPU per request on parameter
transforms and httpx bookkeeping (measured on this 2-core machine), which caps a step at ~100-200
requests/s whatever the server could do; aiohttp costs ~0.6 ms.

Failures are data: 429/5xx/timeouts/connection errors/garbage are retried by our own loop (counted
per reason in ``stats``); a row that still fails comes back as an error response, never an exception,
so one bad row cannot lose a batch of paid answers. ``on_result`` is called as each answer lands,
which is how the response cache commits them while the batch runs. The API key lives only in the
session's Authorization header; it is never logged, returned or put in an error.
"""

import asyncio
import atexit
import contextlib
import dataclasses
import json
import random
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from dataflow_dagster.llm.limits import RateLimits, estimate_tokens
from dataflow_dagster.llm.redact import Redactor
from dataflow_dagster.llm.retry import GarbageResponse, HTTPStatusError, RetryPolicy, classify, parse_retry_after
from dataflow_dagster.llm.stats import DispatchStats
from dataflow_dagster.llm.structured import (
    StructuredMode,
    looks_like_schema_refusal,
    reask_messages,
    response_format,
    schema_problem,
)
from operators.core.llm import LLMRequest, LLMResponse

OnResult = Callable[[int, LLMResponse], None]
_LIVE: "weakref.WeakSet[OpenAICompatClient]" = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for client in list(_LIVE):
        client.close()


@dataclass
class _Endpoint:
    url: str
    mode: str  # structured-output mode this endpoint is known to accept
    in_flight: int = 0
    sent: int = 0


class _LoopThread:
    """A daemon thread running one event loop, so async state outlives a single ``generate`` call."""

    def __init__(self) -> None:
        try:  # uvloop (optional) halves the per-request CPU of the loop; the stdlib loop works the same
            import uvloop

            self.loop = uvloop.new_event_loop()
        except ImportError:
            self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="llm-dispatch", daemon=True)
        self.thread.start()

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class OpenAICompatClient:
    accepts_on_result = True

    def __init__(
        self,
        base_url: str | Sequence[str],
        model: str,
        api_key: str = "not-needed",
        max_concurrency: int = 16,
        timeout_s: float = 60.0,
        max_retries: int = 5,
        structured_output: StructuredMode = "auto",
        model_id: str | None = None,
        rpm: float | None = None,
        tpm: float | None = None,
        max_reasks: int = 1,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 30.0,
        seed: int = 0,
        extra_headers: dict[str, str] | None = None,
    ) -> None:
        urls = [base_url] if isinstance(base_url, str) else list(base_url)
        if not urls:
            raise ValueError("OpenAICompatClient needs at least one base_url")
        self.base_urls = [u.rstrip("/") for u in urls]
        self.model = model
        self._api_key = api_key
        self._redactor = Redactor([api_key])
        self.max_concurrency, self.timeout_s = max_concurrency, timeout_s
        self.structured_output = structured_output
        self.policy = RetryPolicy(max_retries, backoff_base_s, backoff_cap_s)
        self.max_reasks = max_reasks
        self._model_id = model_id or f"openai/{model}"
        self._rpm, self._tpm = rpm, tpm
        self._rng = random.Random(seed)
        self.stats = DispatchStats()
        self._runner: _LoopThread | None = None
        self._pid = -1
        self._endpoints: list[_Endpoint] = []
        self._limits: RateLimits | None = None
        self._sem: asyncio.Semaphore | None = None
        self._session: aiohttp.ClientSession | None = None
        self._headers = {"Content-Type": "application/json", **(extra_headers or {})}

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def preferred_batch(self) -> int:
        """Rows per operator batch that keep every slot busy between batches."""
        return max(256, self.max_concurrency * 16)

    def __repr__(self) -> str:  # never show the key
        return f"OpenAICompatClient(base_urls={self.base_urls!r}, model={self.model!r})"

    # ---- lifecycle --------------------------------------------------------------------------
    def _ensure_loop(self) -> _LoopThread:
        import os

        if self._runner is None or self._pid != os.getpid():  # a forked child needs its own loop
            self._runner, self._pid = _LoopThread(), os.getpid()
            self._endpoints, self._session = [], None
            _LIVE.add(self)
        return self._runner

    async def _setup(self) -> None:
        if self._endpoints:
            return
        start_mode = "json_schema" if self.structured_output == "auto" else self.structured_output
        self._endpoints = [_Endpoint(u, start_mode) for u in self.base_urls]
        self._limits = RateLimits(self._rpm, self._tpm)
        self._sem = asyncio.Semaphore(self.max_concurrency)
        headers = dict(self._headers)
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        self._session = aiohttp.ClientSession(
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            connector=aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=60),
        )

    async def _teardown(self) -> None:
        if self._session is not None:
            await self._session.close()
        self._session = None
        self._endpoints = []

    def close(self) -> None:
        """Close connections and stop the loop thread (also done at interpreter exit)."""
        runner, self._runner = self._runner, None
        if runner is not None and runner.thread.is_alive():
            with contextlib.suppress(Exception):
                runner.run(self._teardown())
            runner.stop()

    def __enter__(self) -> "OpenAICompatClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    # ---- dispatch ---------------------------------------------------------------------------
    def generate(self, requests: Sequence[LLMRequest], on_result: OnResult | None = None) -> list[LLMResponse]:
        started = time.monotonic()
        try:
            return self._ensure_loop().run(self.agenerate(requests, on_result))
        finally:
            self.stats.busy_s += time.monotonic() - started

    async def agenerate(self, requests: Sequence[LLMRequest], on_result: OnResult | None = None) -> list[LLMResponse]:
        await self._setup()
        self.stats.requests += len(requests)

        async def one(i: int, req: LLMRequest) -> LLMResponse:
            assert self._sem is not None
            async with self._sem:
                resp = await self._answer(req)
            if resp.ok:
                self.stats.succeeded += 1
            else:
                self.stats.failed += 1
            if on_result is not None:
                on_result(i, resp)
            return resp

        return list(await asyncio.gather(*(one(i, r) for i, r in enumerate(requests))))

    async def _answer(self, req: LLMRequest) -> LLMResponse:
        """One row: call (with retries), validate against the schema, re-ask a bounded number of times."""
        schema = req.schema_dict()
        messages = req.message_dicts()
        pt = ct = 0
        text: str | None = None
        problem: str | None = None
        for reask in range(self.max_reasks + 1):
            if reask:
                self.stats.reasks += 1
                messages = reask_messages(messages, text, problem or "invalid", schema or {})
            try:
                text, usage = await self._call(req, messages, schema)
            except _Failed as exc:
                return self._clean(
                    LLMResponse(text=None, error=str(exc), prompt_tokens=pt, completion_tokens=ct, model=self.model_id)
                )
            pt, ct = pt + usage[0], ct + usage[1]
            if text is None:
                return self._clean(
                    LLMResponse(
                        text=None,
                        error="empty completion (no message content)",
                        prompt_tokens=pt,
                        completion_tokens=ct,
                        model=self.model_id,
                    )
                )
            problem = schema_problem(text, req.schema) if req.schema is not None else None
            if problem is None:
                return self._clean(LLMResponse(text=text, prompt_tokens=pt, completion_tokens=ct, model=self.model_id))
        return self._clean(
            LLMResponse(
                text=text,
                error=f"answer {problem} (after {self.max_reasks} re-asks)",
                prompt_tokens=pt,
                completion_tokens=ct,
                model=self.model_id,
            )
        )

    def _clean(self, resp: LLMResponse) -> LLMResponse:
        """The response with every secret removed from its text and error (servers echo keys)."""
        text, error = self._redactor.clean(resp.text), self._redactor.clean(resp.error)
        if text == resp.text and error == resp.error:
            return resp
        return dataclasses.replace(resp, text=text, error=error)

    def _pick(self) -> _Endpoint:
        low = min(ep.in_flight for ep in self._endpoints)
        candidates = [ep for ep in self._endpoints if ep.in_flight == low]
        return min(candidates, key=lambda ep: ep.sent)

    async def _call(
        self, req: LLMRequest, messages: list[dict[str, str]], schema: dict[str, Any] | None
    ) -> tuple[str | None, tuple[int, int]]:
        """One chat completion with retries; raises ``_Failed`` when it gives up."""
        assert self._limits is not None
        p = req.params
        attempt = 0
        while True:
            self.stats.rate_limit_wait_s += await self._limits.acquire(estimate_tokens(req))
            ep = self._pick()
            used_mode = ep.mode
            fmt = response_format(used_mode, schema)
            ep.in_flight += 1
            ep.sent += 1
            self.stats.attempts += 1
            body: dict[str, Any] = {
                "model": self.model,
                "messages": messages,
                "temperature": p.temperature,
                "top_p": p.top_p,
                "max_tokens": p.max_tokens,
                "seed": p.seed,
            }
            if p.frequency_penalty is not None:
                body["frequency_penalty"] = p.frequency_penalty
            if fmt:
                body["response_format"] = fmt
            try:
                text, usage = await self._post(ep.url, body)
                self.stats.prompt_tokens += usage[0]
                self.stats.completion_tokens += usage[1]
                return text, usage
            except Exception as exc:
                status = getattr(exc, "status", None)
                if (
                    self.structured_output == "auto"
                    and used_mode == "json_schema"
                    and schema is not None
                    and looks_like_schema_refusal(status, _describe(exc))
                ):
                    if ep.mode == "json_schema":  # concurrent refusals of one endpoint count once
                        ep.mode = "json_object"  # it does not do json_schema: fall back, no retry spent
                        self.stats.format_fallbacks += 1
                    continue
                reason = classify(exc)
                if reason is None or attempt >= self.policy.max_retries:
                    tries = f" after {attempt} retries" if attempt else ""
                    raise _Failed(f"{_describe(exc)}{tries}") from None
                self.stats.retries += 1
                self.stats.retry_reasons[reason] += 1
                await asyncio.sleep(self.policy.delay(attempt, self._rng, getattr(exc, "retry_after", None)))
                attempt += 1
            finally:
                ep.in_flight -= 1

    async def _post(self, url: str, body: dict[str, Any]) -> tuple[str | None, tuple[int, int]]:
        assert self._session is not None
        async with self._session.post(f"{url}/chat/completions", data=json.dumps(body)) as resp:
            raw = await resp.read()
            if resp.status >= 400:
                raise HTTPStatusError(resp.status, _error_text(raw), parse_retry_after(resp.headers.get("retry-after")))
        try:
            doc = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise GarbageResponse(f"response body is not JSON: {raw[:80]!r}") from None
        return _content(doc)


class _Failed(Exception):
    pass


def _content(doc: Any) -> tuple[str | None, tuple[int, int]]:
    try:
        text = doc["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise GarbageResponse("malformed response: no choices[0].message.content") from None
    usage = doc.get("usage") or {}
    return text, (int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))


def _error_text(raw: bytes) -> str:
    try:
        doc = json.loads(raw)
        msg = doc.get("error", doc) if isinstance(doc, dict) else doc
        if isinstance(msg, dict):
            msg = msg.get("message", msg)
        return str(msg)[:300]
    except (json.JSONDecodeError, UnicodeDecodeError):
        return raw[:300].decode("utf-8", "replace")


def _describe(exc: BaseException) -> str:
    """Error text for the errors table: type and status, never request headers (the key)."""
    if isinstance(exc, HTTPStatusError):
        return str(exc)
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return "timeout: no answer within the request timeout"
    if isinstance(exc, aiohttp.ClientConnectionError | ConnectionError):
        return f"Connection error ({type(exc).__name__}): {str(exc)[:300]}"
    return f"{type(exc).__name__}: {str(exc)[:300]}"
