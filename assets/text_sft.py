"""Text SFT: pretraining passages -> synthesised instruction/response pairs, judged and filtered;
beside it, the same passages turned into continuation pairs by rule.

load -> not_empty -> synth -> judge -> keep_good
                 \\-> continuation

Sized for the embedded model: the 13 passages of pt_input.jsonl, ~26 calls. Checks: ``synth`` and
``judge`` block when more than 10% of calls fail for good; ``judge`` blocks when fewer than half of
its scores parse (without scores keep_good would silently drop everything). Scale up:
``text_sft_pipeline(source_path=...)``; ``min_quality`` is the keep threshold (1-5).
"""

from pathlib import Path

from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from operators.core.generic import ThresholdFilter
from operators.general_text.heuristics import ContentNullFilter
from operators.sft.synthesis import InstructionResponseGenerator, PretrainToSFTConverter, SFTQualityJudge

DATA_DIR = Path(__file__).parent / "data"
TEXT = "raw_content"


def text_sft_pipeline(source_path: str | Path | None = None, name: str = "text_sft", min_quality: int = 3) -> Pipeline:
    return Pipeline(
        name=name,
        description="Pretraining text to judged instruction/response pairs and rule-made continuation pairs",
        source=Source(path=str(source_path or DATA_DIR / "pt_input.jsonl"), required_columns=[TEXT]),
        steps=[
            Step("not_empty", ContentNullFilter(input_key=TEXT)),
            Step("synth", InstructionResponseGenerator(input_key=TEXT)),
            Step("judge", SFTQualityJudge(min_parsed_share=0.5)),
            Step("keep_good", ThresholdFilter(input_key="sft_quality", min_value=min_quality)),
            Step("continuation", PretrainToSFTConverter(input_key=TEXT), after="not_empty"),
        ],
    )
