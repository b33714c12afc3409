"""Token log-probabilities from a GGUF model run in-process by llama.cpp.

The model is loaded with ``logits_all=True`` so one forward pass over a text yields the logits at
every position; log-softmax over the vocabulary (numpy, all positions at once) gives the
log-probability of each actual next token. One instance per (path, n_ctx) per process, behind a
lock, as llama.cpp contexts are not re-entrant.
"""

import threading
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from operators.core.contract import OperatorError
from operators.general_text.dedup_semantic import bundled_model_path

_LOCK = threading.Lock()


def resolve_model_path(model_path: str | None) -> Path:
    path = Path(model_path) if model_path else bundled_model_path()
    if not path.is_file():
        raise OperatorError(f"model file '{path}' does not exist; set model_path to a GGUF file")
    return path


@cache
def _scorer(path: str, n_ctx: int) -> Any:
    try:
        import llama_cpp
    except ImportError as exc:
        raise OperatorError("llama-cpp-python is not installed; install the `local` extra (see README)") from exc
    return llama_cpp.Llama(model_path=path, n_ctx=n_ctx, n_batch=n_ctx, logits_all=True, verbose=False, seed=0)


def _tokens(llm: Any, text: str) -> list[int]:
    return list(llm.tokenize(text.encode("utf-8"), add_bos=True, special=False))


def continuation_logprobs(model_path: str | None, n_ctx: int, prefix: str, text: str) -> np.ndarray:
    """Log-probabilities of the tokens of ``text`` given ``prefix`` (which may be empty).

    Tokens are those of ``prefix + text`` past the longest common token prefix with ``prefix``
    alone, so a token merged across the boundary counts as continuation. Texts are truncated at
    ``n_ctx`` tokens (the prefix is kept, the continuation cut).
    """
    llm = _scorer(str(resolve_model_path(model_path)), n_ctx)
    with _LOCK:
        full = _tokens(llm, prefix + text)[:n_ctx]
        pre = _tokens(llm, prefix) if prefix else full[:1]
        start = 0
        while start < min(len(pre), len(full)) and pre[start] == full[start]:
            start += 1
        start = max(start, 1)  # the first token has nothing before it to be predicted from
        if start >= len(full):
            return np.zeros(0, dtype=np.float64)
        llm.reset()
        llm.eval(full)
        logits = np.asarray(llm.scores[: len(full) - 1], dtype=np.float64)  # position i predicts token i+1
    rows = logits[start - 1 :]
    peak = rows.max(axis=1, keepdims=True)
    lse = np.log(np.exp(rows - peak).sum(axis=1)) + peak[:, 0]
    targets = np.asarray(full[start:], dtype=np.int64)
    return rows[np.arange(len(targets)), targets] - lse
