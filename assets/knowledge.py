"""Knowledge cleaning: local documents -> cleaned chunks -> QA pairs -> an instruction/input/output table.

load (paths) -> ingest -> rule_clean -> chunk -> llm_clean -> qa -> no_echo -> sft -> judge

Sized for the embedded model: three small documents (markdown, HTML, text), 4 chunks, ~12 calls.
Checks: every LLM step blocks when more than 10% of its calls fail for good. ``llm_clean`` refuses
rewrites that copy the prompt's instructions or keep under half of the chunk's words (the chunk keeps
its text, the refusal is listed in ``__errors``); their share is reported by a non-blocking
``refused_share`` check, because the 135M model has most rewrites refused. ``no_echo`` drops QA
pairs whose question contains its answer. ``judge`` blocks when fewer than half of its scores parse.
Scale up: ``knowledge_pipeline(source_path=..., base_dir=...)`` on a table of your documents' paths.
"""

from pathlib import Path

from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from operators.knowledge.chunk import TextChunker
from operators.knowledge.clean import LLMKnowledgeCleaner, RuleKnowledgeCleaner
from operators.knowledge.ingest import FileIngestor
from operators.knowledge.sft_table import ChunkQAExtractor, SFTTableAssembler
from operators.rag.echo import QAEchoFilter
from operators.sft.synthesis import SFTQualityJudge

DATA_DIR = Path(__file__).parent / "data" / "knowledge"


def knowledge_pipeline(
    source_path: str | Path | None = None,
    base_dir: str | Path | None = None,
    name: str = "knowledge",
    chunk_words: int = 80,
    overlap_words: int = 10,
) -> Pipeline:
    return Pipeline(
        name=name,
        description="Knowledge-base cleaning: ingest txt/md/HTML/PDF/docx, chunk, clean, extract QA, SFT table",
        source=Source(path=str(source_path or DATA_DIR / "docs.jsonl"), required_columns=["path"]),
        steps=[
            Step("ingest", FileIngestor(input_key="path", base_dir=str(base_dir or DATA_DIR))),
            Step("rule_clean", RuleKnowledgeCleaner(input_key="text")),
            Step("chunk", TextChunker(input_key="text", unit="words", size=chunk_words, overlap=overlap_words)),
            Step("llm_clean", LLMKnowledgeCleaner(input_key="chunk")),
            Step("qa", ChunkQAExtractor(input_key="chunk")),
            Step("no_echo", QAEchoFilter(question_key="question", answer_keys=["answer"])),
            Step(
                "sft",
                SFTTableAssembler(
                    instruction_key="question", output_key="answer", input_key="chunk", keep_columns=["source_path"]
                ),
            ),
            Step("judge", SFTQualityJudge(instruction_key="instruction", response_key="output", min_parsed_share=0.5)),
        ],
    )
