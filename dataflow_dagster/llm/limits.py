"""Request-per-minute and token-per-minute limits for async dispatch.

Providers enforce per-minute quotas; sending a minute's quota in the first second earns a wall of
429s and backoff. So both buckets are leaky buckets (aiolimiter) sized to one second of the quota:
the rate is the same, the bursts are small. Tokens are estimated before the call (prompt characters
/ 4 + ``max_tokens``): the limiter must decide before the server reports usage.
"""

import asyncio
import math

from aiolimiter import AsyncLimiter

from operators.core.llm import LLMRequest


def estimate_tokens(req: LLMRequest) -> int:
    """Upper-ish estimate used for TPM budgeting and dry-run plans; ~4 characters per token."""
    chars = sum(len(c) for _, c in req.messages) + len(req.schema or "")
    return math.ceil(chars / 4) + 4 * len(req.messages) + req.params.max_tokens


def _bucket(per_minute: float) -> AsyncLimiter:
    per_second = per_minute / 60.0
    if per_second >= 1:
        return AsyncLimiter(per_second, 1.0)
    return AsyncLimiter(1, 1.0 / per_second)  # slower than 1/s: one request per interval


class RateLimits:
    """Both limits together; ``acquire`` returns how long it waited (for the dispatch stats)."""

    def __init__(self, rpm: float | None = None, tpm: float | None = None) -> None:
        self.rpm, self.tpm = rpm, tpm
        self._rpm = _bucket(rpm) if rpm else None
        self._tpm = _bucket(tpm) if tpm else None

    async def acquire(self, tokens: int) -> float:
        if self._rpm is None and self._tpm is None:
            return 0.0
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        if self._rpm is not None:
            await self._rpm.acquire()
        if self._tpm is not None:  # a request bigger than one second's budget takes the whole bucket
            await self._tpm.acquire(min(float(tokens), self._tpm.max_rate))
        return loop.time() - t0
