"""Agentic RAG multi-hop QA synthesis on DataFlow's AgenticRAG example documents.

load (id, contents) -> atomic -> doc_answer -> atomic_f1 -> verified -> link -> multihop
    -> multihop_answer -> multihop_f1 -> multihop_em
(``no_echo`` after doc_answer and ``multihop_no_echo`` after multihop_answer drop QA whose question
contains its answer or its document answer: such a pair would score F1 = 1.0 against itself.)

Sized for the embedded model: DataFlow's 9 example documents, ~30 calls. Checks: every LLM step
blocks when more than 10% of its calls fail for good and the document-answer steps when fewer than
half parse; ``atomic_f1`` blocks when the mean F1 of document answers against the generated answers
falls under 0.15 (the shipped run on the embedded model measured 0.33 over 5 pairs; a doc-answer step
that answers nothing, or answers from the wrong document, scores about 0). The multi-hop F1/EM means
are recorded but not gated (``min_mean`` 0): the 135M model's two-hop answers scored 0.0 on the one
pair that survived, so any positive gate would fail a correct pipeline on the default model; set
``min_mean`` on them when a capable model serves the pipeline.

Scale up: ``agentic_rag_pipeline(source_path=...)`` with ``id``/``contents`` rows; the linker is
quadratic in the number of documents.
"""

from pathlib import Path

from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from operators.core.generic import ThresholdFilter
from operators.rag.echo import QAEchoFilter
from operators.rag.metrics import QAExactMatchEvaluator, QAF1Evaluator
from operators.rag.multihop import AtomicQAGenerator, DocAnswerGenerator, HopDocumentLinker, MultiHopQAGenerator

DATA_DIR = Path(__file__).parent / "data" / "agentic_rag"


def agentic_rag_pipeline(
    source_path: str | Path | None = None, name: str = "agentic_rag", min_atomic_f1: float = 0.3
) -> Pipeline:
    return Pipeline(
        name=name,
        description="Documents to verified atomic QA, then two-hop QA across linked documents, with F1/EM",
        source=Source(path=str(source_path or DATA_DIR / "eval_test_data.jsonl"), required_columns=["id", "contents"]),
        steps=[
            Step("atomic", AtomicQAGenerator(input_key="contents")),
            Step(
                "doc_answer",
                DocAnswerGenerator(
                    input_key="question",
                    document_keys=["contents"],
                    output_key="golden_doc_answer",
                    min_parsed_share=0.5,
                ),
            ),
            Step("no_echo", QAEchoFilter(question_key="question", answer_keys=["answer", "golden_doc_answer"])),
            Step(
                "atomic_f1",
                QAF1Evaluator(
                    prediction_key="golden_doc_answer", golden_key="answer", output_key="atomic_f1", min_mean=0.15
                ),
            ),
            Step("verified", ThresholdFilter(input_key="atomic_f1", min_value=min_atomic_f1)),
            Step("link", HopDocumentLinker(doc_id_key="id", contents_key="contents")),
            Step("multihop", MultiHopQAGenerator()),
            Step(
                "multihop_answer",
                DocAnswerGenerator(
                    input_key="multihop_question",
                    document_keys=["contents", "hop2_contents"],
                    output_key="multihop_doc_answer",
                    min_parsed_share=0.5,
                ),
            ),
            Step(
                "multihop_no_echo",
                QAEchoFilter(question_key="multihop_question", answer_keys=["multihop_answer", "multihop_doc_answer"]),
            ),
            Step(
                "multihop_f1",
                QAF1Evaluator(
                    prediction_key="multihop_doc_answer", golden_key="multihop_answer", output_key="multihop_f1"
                ),
            ),
            Step(
                "multihop_em",
                QAExactMatchEvaluator(
                    prediction_key="multihop_doc_answer", golden_key="multihop_answer", output_key="multihop_em"
                ),
            ),
        ],
    )
