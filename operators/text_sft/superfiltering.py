"""Superfiltering: the instruction-following difficulty (IFD) of an SFT pair, from a small model.

IFD = ppl(response | prompt) / ppl(response): how much the instruction helps the model predict the
response. Near or above 1, the instruction barely helps (the pair is noisy or misaligned); small
values mean the response is easy to predict from the instruction alone. Superfiltering (Li et al.,
2024) shows a weak model's IFD selects data for a strong one, which is why a 135M model is a fair
scorer here. DataFlow uses GPT-2 with the Alpaca prompt; this uses the same prompt wording in
spirit with the embedded SmolLM2 (or ``model_path`` / ``base_url``, see ``operators.scoring``).
SuperfilteringFilter keeps 0 <= IFD <= 1 by default, as DataFlow does.
"""

import math
from typing import Any, ClassVar

from operators.core.contract import Kind
from operators.core.registry import register
from operators.scoring.logprobs import mean_nll
from operators.scoring.score_ops import BatchScoreOperator, RangeMixin
from operators.scoring.source import ModelSourceConfig

PROMPT_NO_INPUT = (
    "Below is an instruction that describes a task. Write a response that appropriately completes the request."
    "\n\n### Instruction:\n{instruction}\n\n### Response:\n"
)
PROMPT_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n### Instruction:\n{instruction}\n\n"
    "### Input:\n{input}\n\n### Response:\n"
)


class SuperfilteringConfig(ModelSourceConfig):
    input_instruction_key: str = "instruction"
    input_input_key: str | None = None  # optional context column ("input" in Alpaca data)
    input_output_key: str = "output"
    output_key: str = "SuperfilteringScore"


class SuperfilteringFilterConfig(SuperfilteringConfig, RangeMixin):
    min_score: float | None = 0.0
    max_score: float | None = 1.0


def ifd(cond_nll: float | None, alone_nll: float | None) -> float | None:
    """ppl(out | prompt) / ppl(out) from the two mean NLLs (None when either is missing)."""
    if cond_nll is None or alone_nll is None:
        return None
    return math.exp(min(cond_nll - alone_nll, 700.0))


@register
class SuperfilteringSampleEvaluator(BatchScoreOperator):
    """Writes the IFD score ppl(response | instruction) / ppl(response) of each SFT pair."""

    Config = SuperfilteringConfig
    domain = "text_sft"
    tags = ("model", "ifd", "superfiltering", "logprobs", "sft", "score")

    def score_inputs(self) -> list[str]:
        c = self.config
        return [c.input_instruction_key, c.input_output_key]

    def optional_inputs(self) -> list[str]:
        return [self.config.input_input_key] if self.config.input_input_key else []

    def score_batch(self, rows: list[dict[str, Any]]) -> list[float | None]:
        c = self.config
        prompts, outputs = [], []
        for r in rows:
            extra = r.get(c.input_input_key) if c.input_input_key else None
            instruction = r.get(c.input_instruction_key) or ""
            prompts.append(
                PROMPT_INPUT.format(instruction=instruction, input=extra)
                if extra
                else PROMPT_NO_INPUT.format(instruction=instruction)
            )
            outputs.append(r.get(c.input_output_key) or "")
        cond = mean_nll(c, list(zip(prompts, outputs, strict=True)))
        alone = mean_nll(c, [("", o) for o in outputs])
        return [ifd(a, b) for a, b in zip(cond, alone, strict=True)]


@register
class SuperfilteringFilter(SuperfilteringSampleEvaluator):
    """Keeps SFT pairs whose IFD lies in [min_score, max_score] (DataFlow: 0-1)."""

    kind: ClassVar[Kind] = Kind.FILTER
    Config = SuperfilteringFilterConfig
