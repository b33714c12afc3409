"""Mean negative log-likelihood of a text (optionally given a prefix), from either model source.

Both sources answer the same question, "how surprised is the model by ``text`` after ``prefix``":
the embedded/GGUF model by a forward pass (``local.continuation_logprobs``), an endpoint by the
legacy completions API with ``echo: true, logprobs: 0, max_tokens: 1``, which returns the prompt's
own tokens with their log-probabilities and character offsets; the tokens at or past
``len(prefix)``, or overlapping it, and inside the prompt are the continuation. Perplexity is ``exp(mean NLL)``.
"""

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from operators.core.contract import OperatorError
from operators.scoring.local import continuation_logprobs
from operators.scoring.source import ModelSourceConfig, post_json


def _endpoint_logprobs(c: ModelSourceConfig, prefix: str, text: str) -> np.ndarray:
    prompt = prefix + text
    doc = post_json(
        c,
        "/completions",
        {"model": c.model, "prompt": prompt, "max_tokens": 1, "echo": True, "logprobs": 0, "temperature": 0},
    )
    try:
        lp = doc["choices"][0]["logprobs"]
        tokens, values, offsets = lp["tokens"], lp["token_logprobs"], lp["text_offset"]
    except (KeyError, IndexError, TypeError):
        raise OperatorError(
            f"{c.base_url} returned no prompt log-probabilities: the server must support `echo` with `logprobs` "
            "on /v1/completions (vLLM does; llama.cpp's Python server needs --logits_all true)"
        ) from None
    start = len(prefix)
    # a token overlapping the boundary (merged across it) belongs to the continuation, as in the
    # local scorer; tokens at or past len(prompt) are the generated one
    picked = [
        v
        for i, (tok, v, off) in enumerate(zip(tokens, values, offsets, strict=False))
        if v is not None and i > 0 and tok and off + len(tok) > start and off < len(prompt)
    ]
    return np.asarray(picked, dtype=np.float64)


def mean_nll(c: ModelSourceConfig, pairs: list[tuple[str, str]], workers: int = 8) -> list[float | None]:
    """Mean negative log-likelihood per (prefix, text) pair; None where the text has no scored token."""

    def one(pair: tuple[str, str]) -> float | None:
        prefix, text = pair
        if not text:
            return None
        lp = (
            _endpoint_logprobs(c, prefix, text)
            if c.base_url
            else continuation_logprobs(c.model_path, c.n_ctx, prefix, text)
        )
        return float(-lp.mean()) if lp.size else None

    if c.base_url:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(one, pairs))
    return [one(p) for p in pairs]


def perplexity(nll: float | None) -> float | None:
    return None if nll is None else math.exp(min(nll, 700.0))
