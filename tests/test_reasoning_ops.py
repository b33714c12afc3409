"""Reasoning operators without the LLM: extraction, normalisation, verification, votes, filters.

Each operator runs through the real runner on a real snapshot (tmp storage), so the SQL is
exercised exactly as a pipeline step would run it.
"""

import json
from pathlib import Path

import duckdb
import pytest

from operators.core.contract import Operator
from operators.reasoning.answers import AnswerExtractor, AnswerFormatFilter, ReasoningLengthFilter
from operators.reasoning.contamination import DEFAULT_BENCHMARK, NgramContaminationFilter, load_benchmark
from operators.reasoning.verify import AnswerVerifier, PseudoAnswerGenerator, VerifiedAnswerFilter, answers_equivalent
from tests import helpers


def run_op(tmp_path: Path, rows: list[dict], op: Operator) -> tuple[list[dict], list[dict]]:
    """(kept/output rows, rejected rows) of one operator over ``rows``, in input order."""
    kept, rejected, _ = helpers.run_op(tmp_path, rows, op)
    return kept, rejected


@pytest.mark.parametrize(
    ("gold", "pred", "expected"),
    [
        ("1/2", "0.5", True),
        ("\\frac{2}{4}", "1/2", True),
        ("\\frac{2}{4}", "0.5", True),
        ("\\dfrac{1}{2}", "\\frac12", True),
        ("(1,2]", "(1, 2]", True),
        ("[1,2)", "(1,2]", False),
        ("(-\\infty, 3)", "(-\\infty,3)", True),
        ("3", "4", False),
        ("0.5", "\\frac{1}{3}", False),
        ("5\\text{ cm}", "5", True),
        ("12 cm", "12", True),
        ("12", "13 cm", False),
        ("\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt{2}}", True),
        ("x=3", "3", True),
        ("\\boxed{7}", "7", True),
        ("2", "\\boxed{3}", False),
        ("12", "12.0", True),
        ("15", None, None),
    ],
)
def test_answers_equivalent(gold, pred, expected):
    assert answers_equivalent(gold, pred) is expected


def test_extractor_prefers_boxed_then_structured_then_phrase_then_number(tmp_path):
    rows = [
        {"generated_cot": "First 2+2=4, so \\boxed{\\frac{2}{4}} wait no \\boxed{\\frac{1}{2}}.", "model_answer": "9"},
        {"generated_cot": "Adding gives 7.", "model_answer": "$5\\text{ cm}$"},
        {"generated_cot": "Thus the answer is 42.", "model_answer": None},
        {"generated_cot": "We get 3, then 4 and finally 1,234 dollars", "model_answer": ""},
        {"generated_cot": "no numbers here", "model_answer": None},
    ]
    kept, _ = run_op(tmp_path, rows, AnswerExtractor())
    assert [r["extracted_answer"] for r in kept] == ["\\frac{1}{2}", "$5\\text{ cm}$", "42", "1,234", None]
    assert [r["normalized_answer"] for r in kept] == ["\\frac{1}{2}", "5", "42", "1234", None]


def test_format_and_length_filters(tmp_path):
    rows = [
        {"generated_cot": "so \\boxed{3}", "extracted_answer": "3"},
        {"generated_cot": "it is 3", "extracted_answer": "3"},
        {"generated_cot": "nothing", "extracted_answer": None},
    ]
    kept, rej = run_op(tmp_path / "a", rows, AnswerFormatFilter())
    assert len(kept) == 2 and rej[0]["_reason"].startswith("AnswerFormatFilter")
    kept, rej = run_op(tmp_path / "b", rows, AnswerFormatFilter(require_boxed=True))
    assert [r["generated_cot"] for r in kept] == ["so \\boxed{3}"] and len(rej) == 2
    kept, rej = run_op(
        tmp_path / "c",
        [{"instruction": "What is 2 + 2 in base ten?"}, {"instruction": "2+2"}],
        ReasoningLengthFilter(min_chars=10, min_words=3),
    )
    assert len(kept) == 1 and "words=1" in rej[0]["_reason"]


def test_majority_vote_then_verification(tmp_path):
    rows = [  # q1 has a golden answer; q2 has none: its samples vote 0.5 / 1/2 (as strings) / 0.5
        {"question_id": "q1", "sample_idx": 0, "golden_answer": "1/2", "extracted_answer": "0.5"},
        {"question_id": "q1", "sample_idx": 1, "golden_answer": "1/2", "extracted_answer": "3"},
        {"question_id": "q2", "sample_idx": 0, "golden_answer": None, "extracted_answer": "7 cm"},
        {"question_id": "q2", "sample_idx": 1, "golden_answer": None, "extracted_answer": "8"},
        {"question_id": "q2", "sample_idx": 2, "golden_answer": None, "extracted_answer": "7"},
        {"question_id": "q3", "sample_idx": 0, "golden_answer": None, "extracted_answer": None},
    ]
    from operators.reasoning.answers import normalize_sql

    con = duckdb.connect()
    for r in rows:
        r["normalized_answer"] = con.execute(f"SELECT {normalize_sql('?')}", [r["extracted_answer"]]).fetchall()[0][0]
    voted, _ = run_op(tmp_path / "v", rows, PseudoAnswerGenerator())
    # q1's 1:1 tie is no majority (no pseudo answer; its golden answer decides below)
    assert [r["pseudo_answer"] for r in voted] == [None, None, "7 cm", "7 cm", "7 cm", None]
    assert [r["pseudo_answer_votes"] for r in voted][2:5] == [2, 2, 2]
    assert voted[2]["pseudo_answer_share"] == pytest.approx(2 / 3)
    checked, _ = run_op(tmp_path / "c", voted, AnswerVerifier())
    assert [r["answer_correct"] for r in checked] == [True, False, True, False, True, None]
    assert [r["reference_source"] for r in checked] == ["golden", "golden", "pseudo", "pseudo", "pseudo", None]
    kept, rej = run_op(tmp_path / "f", checked, VerifiedAnswerFilter())
    assert len(kept) == 3
    assert sorted(r["_reason"] for r in rej) == ["VerifiedAnswerFilter: answer not equivalent to the reference"] * 2 + [
        "VerifiedAnswerFilter: no reference answer to verify"
    ]


def test_single_vote_is_no_majority_and_cannot_verify_itself(tmp_path):
    """A question with one usable sample (the others failed extraction) used to get that sample as its
    pseudo answer with share 1.0 and then "verify" it against itself."""
    from operators.reasoning.answers import normalize_sql

    rows = [
        {"question_id": "lone", "golden_answer": None, "extracted_answer": "41"},
        {"question_id": "split", "golden_answer": None, "extracted_answer": "1"},
        {"question_id": "split", "golden_answer": None, "extracted_answer": "2"},
        {"question_id": "split", "golden_answer": None, "extracted_answer": "2"},
        {"question_id": "split", "golden_answer": None, "extracted_answer": "3"},
    ]
    con = duckdb.connect()
    for r in rows:
        r["normalized_answer"] = con.execute(f"SELECT {normalize_sql('?')}", [r["extracted_answer"]]).fetchall()[0][0]
    voted, _ = run_op(tmp_path / "v", rows, PseudoAnswerGenerator())
    assert [r["pseudo_answer"] for r in voted] == [None] * 5  # 1 vote; 2 of 4 is no majority
    checked, _ = run_op(tmp_path / "c", voted, AnswerVerifier())
    kept, _ = run_op(tmp_path / "f", checked, VerifiedAnswerFilter())
    assert kept == []


def test_contamination_filter_rejects_benchmark_questions(tmp_path):
    bench = load_benchmark(DEFAULT_BENCHMARK)
    assert len(bench) == 100
    rows = [
        {"instruction": bench[0]},  # verbatim benchmark question
        {"instruction": "  " + bench[1].upper() + "!! "},  # case/punctuation changes only
        {"instruction": bench[2][: len(bench[2]) * 3 // 4] + " Then add 17 to the result and explain."},
        {"instruction": "A baker sells 12 muffins for 3 dollars each. How much money does she make?"},
    ]
    kept, rej = run_op(tmp_path, rows, NgramContaminationFilter(n=5, max_overlap=0.5))
    assert [r["instruction"] for r in kept] == [rows[3]["instruction"]]
    assert len(rej) == 3 and all(r["_benchmark_overlap"] >= 0.5 for r in rej)
    assert "5-grams in benchmark" in rej[0]["_reason"]


def test_contamination_filter_custom_list_and_bad_file(tmp_path):
    bench = tmp_path / "bench.jsonl"
    bench.write_text(json.dumps({"question": "What is the sum of the first ten odd numbers?"}) + "\n")
    kept, rej = run_op(
        tmp_path / "a",
        [
            {"instruction": "what is the SUM of the first ten odd numbers"},
            {"instruction": "What is the product of two even numbers?"},
        ],
        NgramContaminationFilter(benchmark_path=str(bench), n=3, max_overlap=0.6),
    )
    assert len(kept) == 1 and len(rej) == 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"q": 1}\n')
    from operators.core.contract import OperatorError

    with pytest.raises(OperatorError, match="line 1"):
        run_op(tmp_path / "b", [{"instruction": "x y z"}], NgramContaminationFilter(benchmark_path=str(bad)))


def test_pipelines_dry_run_checks_keys():
    from assets.code import FILE_COLUMNS, code_pipeline
    from assets.reasoning import reasoning_pipeline

    cols = reasoning_pipeline().check(["instruction", "golden_answer", "source"])
    assert {"question_id", "sample_idx", "synth_or_input", "pseudo_answer", "answer_correct"} <= set(cols["verify"])
    cols = code_pipeline().check(FILE_COLUMNS)
    assert {"generated_code", "test_code", "exec_status"} <= set(cols["execute"])
    from operators.core.contract import OperatorError

    with pytest.raises(OperatorError, match="content_null"):
        reasoning_pipeline().check(["question"])  # wrong input key: refused before anything runs
