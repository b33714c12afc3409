"""The one LLM protocol every serving backend implements.

Operators depend on this protocol only; the embedded llama.cpp model, OpenAI-compatible endpoints
and vLLM live in ``dataflow_dagster.llm`` and all satisfy it. Requests are plain data so the
response cache can key them by content.
"""

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol, TypeVar, runtime_checkable

T = TypeVar("T")


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 0.0
    max_tokens: int = 256
    top_p: float = 1.0
    seed: int = 0
    # OpenAI's frequency penalty; None (the default) sends none and leaves the cache key as it was
    frequency_penalty: float | None = None

    def sent(self) -> dict[str, Any]:
        """The fields a request carries: unset optional ones are left out (also of the cache key)."""
        return {k: v for k, v in asdict(self).items() if v is not None}


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
                "params": self.params.sent(),
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


# A greedy answer that loops ("1.1.1.1...") until max_tokens is cut off mid-JSON; asking again with the
# same settings returns the same loop, so a re-ask samples (a fixed seed keeps it reproducible and cached).
REASK_TEMPERATURE = 0.7
REASK_FREQUENCY_PENALTY = 0.8


def reask_request(req: LLMRequest, attempt: int) -> LLMRequest:
    """The request sent again after an unusable answer: sampled, with a seed of its own per attempt."""
    p = req.params
    params = replace(
        p,
        temperature=max(p.temperature, REASK_TEMPERATURE),
        seed=p.seed + attempt,
        frequency_penalty=max(p.frequency_penalty or 0.0, REASK_FREQUENCY_PENALTY),
    )
    return replace(req, params=params)


def generate_judged(
    llm: LLMClient,
    requests: Sequence[LLMRequest],
    judge: Callable[[int, LLMResponse], T],
    usable: Callable[[T], bool],
    reasks: int,
) -> tuple[list[T], int]:
    """``judge`` every answer; answers that arrived but are unusable (not JSON, off-schema, degenerate)
    are asked again up to ``reasks`` times, one batched call per round. Transport failures are not: the
    client has already retried those. The last verdict stands, so a row that never works still reports
    why. Also returns how many requests were sent again (they are cache lookups of their own)."""
    responses = llm.generate(requests) if requests else []
    verdicts = [judge(i, r) for i, r in enumerate(responses)]
    # only an answer that came back (text, even if the client judged it off-schema) is asked for again
    arrived = [r.text is not None for r in responses]
    sent_again = 0
    for attempt in range(1, reasks + 1):
        again = [i for i, v in enumerate(verdicts) if arrived[i] and not usable(v)]
        if not again:
            break
        sent_again += len(again)
        answers = llm.generate([reask_request(requests[i], attempt) for i in again])
        for i, resp in zip(again, answers, strict=True):
            arrived[i] = resp.text is not None
            if arrived[i]:
                verdicts[i] = judge(i, resp)
    return verdicts, sent_again
