"""Perplexity of a text under a causal language model, from its token log-probabilities.

DataFlow's PerplexitySampleEvaluator loads GPT-2 from the Hugging Face hub and computes
``exp(mean token NLL)`` per text; PerplexityFilter keeps ``min_score <= ppl <= max_score``
(10 and 500 by default). Same formula here, with the model the project can run offline: the
embedded SmolLM2 GGUF (default), a GGUF of the user's (``model_path``), or any endpoint that returns
prompt log-probabilities (``base_url``: vLLM, llama.cpp server with ``--logits_all true``). Scores
depend on the model: GPT-2's thresholds are a starting point, not a calibration for SmolLM2.
"""

from typing import Any, ClassVar

from operators.core.contract import Kind
from operators.core.registry import register
from operators.scoring.logprobs import mean_nll, perplexity
from operators.scoring.score_ops import BatchScoreOperator, RangeMixin
from operators.scoring.source import ModelSourceConfig


class PerplexityConfig(ModelSourceConfig):
    input_key: str = "raw_content"
    output_key: str = "PerplexityScore"


class PerplexityFilterConfig(PerplexityConfig, RangeMixin):
    min_score: float | None = 10.0
    max_score: float | None = 500.0


@register
class PerplexitySampleEvaluator(BatchScoreOperator):
    """Writes each text's perplexity under the scoring model (lower = more fluent/typical text)."""

    Config = PerplexityConfig
    domain = "text_pt"
    tags = ("model", "perplexity", "logprobs", "pretrain", "score")

    def score_inputs(self) -> list[str]:
        return [self.config.input_key]

    def score_batch(self, rows: list[dict[str, Any]]) -> list[float | None]:
        nll = mean_nll(self.config, [("", r[self.config.input_key] or "") for r in rows])
        return [perplexity(x) for x in nll]


@register
class PerplexityFilter(PerplexitySampleEvaluator):
    """Keeps texts whose perplexity lies in [min_score, max_score] (DataFlow: 10-500 under GPT-2)."""

    kind: ClassVar[Kind] = Kind.FILTER
    Config = PerplexityFilterConfig
