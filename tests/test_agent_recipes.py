"""Domain recipes of issue 20 beyond code/math/SQL: multi-hop RAG QA, knowledge extraction from files,
function-calling dialogues, SFT synthesis and named selection methods; clean-up clauses composed in
front of a recipe; synthesised SQL row rules. Every case builds the pipeline through the agent as a
user would (``build_pipeline``, no model: the rule path), reloads the written file and checks the
exact operator chain, its key bindings and that the dry run keeps rows. Data: bench/agent_data and
small CSVs written here. Request wordings differ from the bench's held-out file on purpose."""

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner

from dataflow_dagster.agent import build_pipeline
from dataflow_dagster.cli import cli
from dataflow_dagster.core.yaml_loader import load_pipeline_file
from tests.helpers import agent_chain

DATA = Path(__file__).resolve().parents[1] / "bench" / "agent_data"


def chain(res) -> list[tuple[str, dict]]:
    """(operator, config) of the file the agent wrote, loaded back from disk."""
    loaded = load_pipeline_file(res.path)
    return [(s.op.name, s.op.config_dict()) for s in loaded.steps]


def keeps_rows(res) -> bool:
    """Rows survive the dry run, or the step that ends at 0 judges placeholder LLM answers (dialogues
    that never reach a final turn, a verdict on a placeholder solution): the agent says so."""
    if not res.plan.ok or not res.plan.steps:
        return False
    if (res.plan.steps[-1].rows_out or 0) > 0:
        return True
    return any("survivors not judged" in n and "placeholder answers" in n for n in res.notes)


@pytest.mark.parametrize(
    ("req", "data", "want", "keys"),
    [
        (
            "compose two-hop questions that link these documents",
            "docs.jsonl",
            ["AtomicQAGenerator", "HopDocumentLinker", "MultiHopQAGenerator"],
            {"AtomicQAGenerator": {"input_key": "contents"}, "HopDocumentLinker": {"doc_id_key": "id"}},
        ),
        (
            "split the documents listed here into 50-word chunks and generate question-answer pairs from each chunk",
            "kb/docs.jsonl",
            ["FileIngestor", "TextChunker", "ChunkQAExtractor"],
            {"FileIngestor": {"input_key": "path"}, "TextChunker": {"input_key": "text", "size": 50}},
        ),
        (
            "make tool-use conversations out of these chats",
            "chats.jsonl",
            [
                "ScenarioExtractGenerator",
                "AtomTaskGenerator",
                "SequentialTaskGenerator",
                "FunctionGenerator",
                "MultiTurnConversationGenerator",
            ],
            {"ScenarioExtractGenerator": {"input_key": "chat"}},
        ),
        (
            "keep only the samples Deita rates as complex",
            "sft.jsonl",
            ["DeitaComplexityFilter"],
            {"DeitaComplexityFilter": {"input_instruction_key": "instruction"}},
        ),
        (
            "score the instruction pairs with Alpagasus",
            "sft.jsonl",
            ["AlpagasusSampleEvaluator"],
            {"AlpagasusSampleEvaluator": {"input_instruction_key": "instruction", "input_output_key": "output"}},
        ),
        (
            "create instruction/response pairs from the passages and select them with superfiltering",
            "texts.jsonl",
            ["InstructionResponseGenerator", "SuperfilteringFilter"],
            {
                "InstructionResponseGenerator": {"input_key": "text"},
                "SuperfilteringFilter": {"input_output_key": "output"},
            },
        ),
        (
            "split the listed files into pieces of 120 words",
            "kb/docs.jsonl",
            ["FileIngestor", "TextChunker"],
            {"TextChunker": {"input_key": "text", "size": 120}},
        ),
        (  # a reference column: verified against it, no majority vote
            "answer each math question step by step and keep answers equal to the reference answer",
            "math.jsonl",
            ["CoTAnswerGenerator", "AnswerExtractor", "AnswerVerifier", "VerifiedAnswerFilter"],
            {"AnswerVerifier": {"reference_key": "answer"}},
        ),
        (  # a clean-up clause before a recipe is composed in front of it, on the recipe's column
            "deduplicate the math questions and then solve them with chain-of-thought",
            "math.jsonl",
            ["ExactDedupFilter", "CoTAnswerGenerator"],
            {"ExactDedupFilter": {"input_key": "question"}, "CoTAnswerGenerator": {"input_key": "question"}},
        ),
        (
            "remove blank documents before building multi-hop QA from them",
            "docs.jsonl",
            ["ContentNullFilter", "AtomicQAGenerator", "HopDocumentLinker", "MultiHopQAGenerator"],
            {"ContentNullFilter": {"input_key": "contents"}},
        ),
    ],
)
def test_domain_request_builds_the_exact_chain(req: str, data: str, want: list[str], keys: dict, tmp_path: Path):
    res = build_pipeline(req, DATA / data, tmp_path)
    agent_chain(res, want, keys)
    assert keeps_rows(res), res.plan.steps


def test_rag_verification_keeps_pairs_whose_document_answer_scores_f1(tmp_path: Path) -> None:
    req = "generate atomic QA per document, verify each answer against its document by F1, then make multi-hop QA"
    got = chain(build_pipeline(req, DATA / "docs.jsonl", tmp_path))
    assert [n for n, _ in got] == [
        "AtomicQAGenerator",
        "DocAnswerGenerator",
        "QAF1Evaluator",
        "ThresholdFilter",
        "HopDocumentLinker",
        "MultiHopQAGenerator",
    ]
    cfg = dict(got)
    assert cfg["QAF1Evaluator"]["golden_key"] == "answer" and cfg["ThresholdFilter"]["input_key"] == "F1Score"


@pytest.fixture
def products(tmp_path: Path) -> Path:
    path = tmp_path / "products.csv"
    rows = [
        ("Blue kettle", "A stainless steel kettle that boils a litre of water in three minutes flat.", 24.5),
        ("Refund adjustment for order 991", "Credit note issued after the customer returned a broken lamp.", -12.0),
        ("Desk lamp", "An adjustable LED desk lamp with three brightness levels and a USB port.", 31.0),
        (
            "Very long promotional title that goes on and on about many amazing features for sure",
            "A notebook with dotted pages and a hard cover.",
            7.25,
        ),
    ]
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["title", "description", "price"])
        w.writerows(rows)
    return path


def test_a_rule_on_a_named_numeric_column_is_a_synthesised_sql_filter(products: Path, tmp_path: Path) -> None:
    res = build_pipeline("drop the products whose price is below 0", products, tmp_path / "out")
    got = chain(res)
    assert [n for n, _ in got] == ["GeneralFilter"]
    assert got[0][1]["filter_rules"] == ['coalesce(NOT ("price" < 0), true)']
    assert res.pipeline.steps[0].name == "synthesised_filter"
    assert "synthesised SQL rule" in res.path.read_text()  # labelled in the YAML header
    assert res.plan.steps[-1].rows_in == 4 and res.plan.steps[-1].rows_out == 3  # validated on the rows
    shown = CliRunner().invoke(cli, ["plan", str(res.path)])
    assert shown.exit_code == 0 and "synthesised_filter" in shown.output  # and in `plan`


def test_keep_rule_with_a_number_keeps_matching_rows(products: Path, tmp_path: Path) -> None:
    res = build_pipeline("keep only products with a price above 20", products, tmp_path / "out")
    assert [(n, c["filter_rules"]) for n, c in chain(res)] == [("GeneralFilter", ['"price" > 20'])]
    assert res.plan.steps[-1].rows_out == 2


def test_a_limit_on_a_named_text_column_binds_that_column(products: Path, tmp_path: Path) -> None:
    res = build_pipeline("keep rows where the title has fewer than 12 words", products, tmp_path / "out")
    (name, cfg), *rest = chain(res)
    assert not rest and name == "WordNumberFilter"
    assert (cfg["input_key"], cfg["max_words"]) == ("title", 12)  # the main text column is `description`
    assert res.plan.steps[-1].rows_out == 3
