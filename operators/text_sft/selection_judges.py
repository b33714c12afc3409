"""SFT data-selection scorers after DataFlow's text_sft family, as prompted judges.

Same semantics as DataFlow (it also asks its ``llm_serving``): Alpagasus (0-5 rating), Treeinstruct
(node count of a semantic tree). Approximations of a fine-tuned model by a prompted judge on the same
scale: Deita complexity/quality (DataFlow: the hkust-nlp Deita scorers, 1-6), Instag (InsTagger;
score = number of tags), RM (the OpenAssistant DeBERTa reward model; here a 0-10 judge / 10).
The table with DataFlow's models is in docs/operators_families.md.

Every judge takes ``base_url`` + ``model`` to send its prompt to the user's own endpoint.
"""

from typing import Any, ClassVar

from pydantic import Field

from operators.core.registry import register
from operators.scoring.judges import JudgeConfig, RangeJudge, ScoreJudge, int_scale, judge_prompt

PAIR = "Instruction:\n{instruction}\n\nInput:\n{input}\n\nResponse:\n{output}\n\n"

ALPAGASUS = judge_prompt(
    "alpagasus_rating",
    PAIR + "Rate the accuracy and helpfulness of the response to the instruction from 0 (useless) to 5 (perfect).",
    {"score": int_scale(0, 5)},
)
DEITA_COMPLEXITY = judge_prompt(
    "deita_complexity",
    "Instruction:\n{instruction}\n\nRate the complexity of this instruction from 1 (trivial) to 6 (needs deep, "
    "multi-step expertise).",
    {"score": int_scale(1, 6)},
)
DEITA_QUALITY = judge_prompt(
    "deita_quality",
    "Instruction:\n{instruction}\n\nResponse:\n{output}\n\nRate the quality of the response from 1 (poor) to 6 "
    "(excellent: correct, complete, helpful, well written).",
    {"score": int_scale(1, 6)},
)
INSTAG = judge_prompt(
    "instag_tags",
    "Instruction:\n{instruction}\n\nList the user's intentions in this instruction as short tags (for example: "
    "coding, summarisation, math, creative writing), one tag per distinct intention.",
    {
        "tags": {
            "type": "array",
            "minItems": 0,
            "maxItems": 10,
            "items": {"type": "string", "minLength": 2, "maxLength": 30},
        }
    },
)
TREEINSTRUCT = judge_prompt(
    "treeinstruct_tree",
    "Instruction:\n{instruction}\n\nParse this instruction into a semantic tree: list every node (the main "
    "action, its objects, constraints, conditions and modifiers) as short phrases.",
    {
        "nodes": {
            "type": "array",
            "minItems": 1,
            "maxItems": 40,
            "items": {"type": "string", "minLength": 1, "maxLength": 30},
        }
    },
)
RM = judge_prompt(
    "reward_model_judge",
    "Question:\n{instruction}\n\nAnswer:\n{output}\n\nAs a reward model, rate how helpful, correct and harmless "
    "this answer is from 0 to 10.",
    {"score": int_scale(0, 10)},
)

SFT_FIELDS = {"instruction": "input_instruction_key", "input": "input_input_key", "output": "input_output_key"}


class SFTJudgeConfig(JudgeConfig):
    input_instruction_key: str = "instruction"
    input_input_key: str | None = None  # optional context column ("input" in Alpaca data)
    input_output_key: str = "output"


class AlpagasusConfig(SFTJudgeConfig):
    output_key: str = "AlpagasusScore"


class AlpagasusFilterConfig(AlpagasusConfig):
    min_score: float | None = 3
    max_score: float | None = 5


@register
class AlpagasusSampleEvaluator(ScoreJudge):
    """Alpagasus 0-5 rating of an instruction/response pair by the judge LLM (DataFlow's semantics)."""

    Config = AlpagasusConfig
    default_prompt = ALPAGASUS
    fields = SFT_FIELDS
    domain = "text_sft"
    tags = ("llm", "judge", "sft", "selection", "score")


@register
class AlpagasusFilter(RangeJudge, AlpagasusSampleEvaluator):
    """Keeps pairs with Alpagasus rating in [min_score, max_score] (DataFlow: 3-5)."""

    Config = AlpagasusFilterConfig


class DeitaComplexityConfig(SFTJudgeConfig):
    output_key: str = "DeitaComplexityScore"


class DeitaComplexityFilterConfig(DeitaComplexityConfig):
    min_score: float | None = 3.0
    max_score: float | None = 5.0


@register
class DeitaComplexitySampleEvaluator(ScoreJudge):
    """Instruction complexity 1-6. Approximation: DataFlow uses the fine-tuned Deita complexity scorer;
    here a prompted judge on the same scale (``base_url``/``model`` for your own judge endpoint)."""

    Config = DeitaComplexityConfig
    default_prompt = DEITA_COMPLEXITY
    fields = {"instruction": "input_instruction_key"}
    domain = "text_sft"
    tags = ("llm", "judge", "sft", "selection", "complexity", "score")


@register
class DeitaComplexityFilter(RangeJudge, DeitaComplexitySampleEvaluator):
    """Keeps instructions with Deita complexity in [min_score, max_score] (DataFlow: 3-5)."""

    Config = DeitaComplexityFilterConfig


class DeitaQualityConfig(SFTJudgeConfig):
    output_key: str = "DeitaQualityScore"


class DeitaQualityFilterConfig(DeitaQualityConfig):
    min_score: float | None = 2.5
    max_score: float | None = 10000.0


@register
class DeitaQualitySampleEvaluator(ScoreJudge):
    """Response quality 1-6. Approximation: DataFlow uses the fine-tuned Deita quality scorer; here a
    prompted judge on the same scale (``base_url``/``model`` for your own judge endpoint)."""

    Config = DeitaQualityConfig
    default_prompt = DEITA_QUALITY
    fields = {"instruction": "input_instruction_key", "output": "input_output_key"}
    domain = "text_sft"
    tags = ("llm", "judge", "sft", "selection", "quality", "score")


@register
class DeitaQualityFilter(RangeJudge, DeitaQualitySampleEvaluator):
    """Keeps pairs with Deita quality in [min_score, max_score] (DataFlow: >= 2.5)."""

    Config = DeitaQualityFilterConfig


class InstagConfig(SFTJudgeConfig):
    output_key: str = "InstagScore"
    max_tokens: int = 160


class InstagFilterConfig(InstagConfig):
    min_score: float | None = 0.0
    max_score: float | None = 1.0


class _CountJudge(ScoreJudge):
    """Score = number of items the judge listed (tags, tree nodes)."""

    count_property: ClassVar[str] = ""

    def outputs(self) -> dict[str, str]:
        return {self.count_property: self.config.output_key}

    def transform(self, values: dict[str, Any]) -> dict[str, Any]:
        key = self.config.output_key
        items = values.get(key) or []
        return {key: len({str(i).strip().lower() for i in items})}


@register
class InstagSampleEvaluator(_CountJudge):
    """Intention-tag count of an instruction (diversity/complexity). Approximation: DataFlow uses the
    fine-tuned InsTagger; here a prompted tagger, score = number of distinct tags."""

    Config = InstagConfig
    default_prompt = INSTAG
    fields = {"instruction": "input_instruction_key"}
    count_property = "tags"
    domain = "text_sft"
    tags = ("llm", "judge", "sft", "selection", "tags", "score")


@register
class InstagFilter(RangeJudge, InstagSampleEvaluator):
    """Keeps instructions whose tag count lies in [min_score, max_score] (DataFlow's defaults: 0-1)."""

    Config = InstagFilterConfig


class TreeinstructConfig(SFTJudgeConfig):
    output_key: str = "TreeinstructScore"
    max_tokens: int = 400


class TreeinstructFilterConfig(TreeinstructConfig):
    min_score: float | None = Field(7)
    max_score: float | None = Field(100)


@register
class TreeinstructSampleEvaluator(_CountJudge):
    """Instruction complexity as the node count of its semantic tree, built by the judge LLM
    (DataFlow's semantics: its llm_serving builds the tree, the score counts nodes)."""

    Config = TreeinstructConfig
    default_prompt = TREEINSTRUCT
    fields = {"instruction": "input_instruction_key"}
    count_property = "nodes"
    domain = "text_sft"
    tags = ("llm", "judge", "sft", "selection", "complexity", "score")


@register
class TreeinstructFilter(RangeJudge, TreeinstructSampleEvaluator):
    """Keeps instructions whose tree has [min_score, max_score] nodes (DataFlow: 7-100)."""

    Config = TreeinstructFilterConfig


class RMConfig(SFTJudgeConfig):
    output_key: str = "RMScore"


class RMFilterConfig(RMConfig):
    min_score: float | None = 0.2
    max_score: float | None = 0.8


@register
class RMSampleEvaluator(ScoreJudge):
    """Reward in [0, 1]. Approximation: DataFlow uses the OpenAssistant DeBERTa reward model (raw
    logits); here a prompted 0-10 helpfulness/harmlessness judge divided by 10."""

    Config = RMConfig
    default_prompt = RM
    fields = {"instruction": "input_instruction_key", "output": "input_output_key"}
    domain = "text_sft"
    tags = ("llm", "judge", "sft", "selection", "reward", "score")

    def transform(self, values: dict[str, Any]) -> dict[str, Any]:
        key = self.config.output_key
        return {key: None if values.get(key) is None else values[key] / 10}


@register
class RMFilter(RangeJudge, RMSampleEvaluator):
    """Keeps pairs whose reward lies in [min_score, max_score] (DataFlow: 0.2-0.8)."""

    Config = RMFilterConfig
