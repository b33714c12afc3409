"""Which failures are worth another try, and how long to wait before it.

Our own loop rather than the SDK's: every retry is counted by reason (429, 5xx, timeout, connection,
garbage), which is what the step's metadata and the reliability figures report. Backoff is
exponential with full jitter (AWS architecture blog): many concurrent requests that failed together
do not come back together. A 429's ``Retry-After`` is honoured when the server sends one.
"""

import asyncio
import json
import random
from dataclasses import dataclass

import aiohttp


class GarbageResponse(Exception):
    """A 200 answer that is not JSON or lacks the fields an OpenAI response must have."""


class HTTPStatusError(Exception):
    """A non-2xx answer; ``message`` is the server's error text (never our request headers)."""

    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status, self.message, self.retry_after = status, message, retry_after


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 5
    base_s: float = 0.5
    cap_s: float = 30.0

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        ceiling = min(self.cap_s, self.base_s * (2**attempt))
        wait = rng.uniform(0, ceiling)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.cap_s))
        return wait


def classify(exc: BaseException) -> str | None:
    """Reason label for a retryable failure, or None when retrying cannot help (400, 401, 404...)."""
    if isinstance(exc, HTTPStatusError):
        if exc.status == 429:
            return "429"
        if exc.status >= 500:
            return "5xx"
        return str(exc.status) if exc.status in (408, 409) else None
    if isinstance(exc, asyncio.TimeoutError | TimeoutError | aiohttp.ServerTimeoutError):
        return "timeout"
    if isinstance(exc, aiohttp.ClientConnectionError | aiohttp.ClientPayloadError | ConnectionError):
        return "connection"
    if isinstance(exc, GarbageResponse | json.JSONDecodeError | UnicodeDecodeError):
        return "garbage"
    return None


def parse_retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: ignore it, exponential backoff still applies
