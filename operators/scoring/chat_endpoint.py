"""A judge's own endpoint: chat requests to ``base_url`` instead of the pipeline's LLM resource.

Judges that DataFlow runs on a specific fine-tuned model (Deita scorers, a reward model, quality
classifiers) can be pointed at a user's own OpenAI-compatible server with ``base_url`` + ``model``
(the operator config), e.g. a stronger judge served by vLLM, while the rest of the pipeline keeps the
default model. Requests go out one at a time with retries (``source.post_json``); these answers do
not pass through the pipeline resource's response cache, so a re-run asks the endpoint again.
"""

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from operators.core.contract import OperatorError
from operators.core.llm import LLMRequest, LLMResponse
from operators.scoring.source import EndpointConfig, post_json


class EndpointChat:
    """LLMClient over ``/chat/completions`` of the configured endpoint (JSON-object mode with schema)."""

    def __init__(self, cfg: EndpointConfig, workers: int = 8) -> None:
        self.cfg, self.workers = cfg, workers

    @property
    def model_id(self) -> str:
        return f"endpoint:{(self.cfg.base_url or '').rstrip('/')}#{self.cfg.model}"

    def _one(self, req: LLMRequest) -> LLMResponse:
        p = req.params
        body: dict = {
            "model": self.cfg.model,
            "messages": req.message_dicts(),
            "temperature": p.temperature,
            "max_tokens": p.max_tokens,
            "seed": p.seed,
        }
        schema = req.schema_dict()
        if schema is not None:
            body["response_format"] = {"type": "json_object", "schema": schema}
        try:
            doc = post_json(self.cfg, "/chat/completions", body)
            text = doc["choices"][0]["message"]["content"]
        except (OperatorError, KeyError, IndexError, TypeError) as exc:
            return LLMResponse(text=None, error=str(exc), model=self.model_id)
        usage = doc.get("usage") or {}
        return LLMResponse(
            text=text,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            model=self.model_id,
        )

    def generate(self, requests: Sequence[LLMRequest]) -> list[LLMResponse]:
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            return list(pool.map(self._one, requests))
