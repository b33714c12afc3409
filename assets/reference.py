"""The reference pipeline: pretraining passages -> cleaned, deduplicated, judged QA pairs.

load -> content_null -> word_count -> symbol_ratio -> dedup -> qa (LLM generator)
     -> judge (LLM evaluator, blocking parsed-share check) -> keep_good (score filter)
and, beside the main chain, dedup -> topic (LLM evaluator), so two LLM steps read the same upstream
table and run at the same time under the multiprocess executor.

Sized for the embedded model: 13 passages (10 of DataFlow's + 3 that exercise the filters), 8 reach
the LLM, ~24 calls. Checks: every LLM step blocks when more than 10% of its calls fail for good (a
dead endpoint, a schema the model cannot meet); ``judge`` and ``topic`` block when fewer than 80% of
their answers parse (a judge that stopped answering would otherwise pass every row to keep_good).
Scale up: ``reference_pipeline(source_path=...)`` on your own JSONL with a ``raw_content`` column.
"""

from pathlib import Path

from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from operators.core.generic import ThresholdFilter
from operators.general_text.dedup import ExactDedupFilter
from operators.general_text.heuristics import ContentNullFilter, SymbolWordRatioFilter, WordNumberFilter
from operators.general_text.llm_qa import PassageQAGenerator, QAJudgeEvaluator, TopicClassifier

DATA_DIR = Path(__file__).parent / "data"
TEXT = "raw_content"


def reference_pipeline(source_path: str | Path | None = None, name: str = "pretrain_qa") -> Pipeline:
    return Pipeline(
        name=name,
        description="Pretraining passages to judged QA pairs (DataFlow GeneralTextPipeline example data)",
        source=Source(path=str(source_path or DATA_DIR / "pt_input.jsonl"), required_columns=[TEXT]),
        steps=[
            Step("content_null", ContentNullFilter(input_key=TEXT)),
            Step("word_count", WordNumberFilter(input_key=TEXT, min_words=10, max_words=100000)),
            Step("symbol_ratio", SymbolWordRatioFilter(input_key=TEXT, threshold=0.4)),
            Step("dedup", ExactDedupFilter(input_key=TEXT)),
            Step("qa", PassageQAGenerator(input_key=TEXT)),
            Step("judge", QAJudgeEvaluator(min_parsed_share=0.8)),
            Step("keep_good", ThresholdFilter(input_key="qa_score", min_value=2)),
            Step("topic", TopicClassifier(input_key=TEXT), after="dedup"),
        ],
    )
