"""Benchmark scoring by rule on a real DuckDB: references decide, not a model."""

from pathlib import Path

import pytest

from operators.benchmark.evaluate import UnifiedBenchDatasetEvaluator, parse_choice
from operators.core.contract import OperatorError
from tests.helpers import run_steps


def test_bench_match_evaluators(tmp_path: Path):
    from operators.benchmark.match import BenchDatasetEvaluator, BenchDatasetEvaluatorQuestion

    rows = [
        {"generated_cot": "So the result is \\boxed{\\frac{1}{2}}", "golden_answer": "0.5"},
        {"generated_cot": "I think it is 7", "golden_answer": "8"},
        {"generated_cot": "", "golden_answer": "3"},
    ]
    out = run_steps(tmp_path, rows, [BenchDatasetEvaluator(), BenchDatasetEvaluatorQuestion(input_question_key=None)])
    assert [r["answer_match_result"] for r in out["s1"]["table"]] == [True, False, False]
    assert out["s0"]["_stats"][0] == {"total_samples": 3, "matched": 1, "accuracy": pytest.approx(1 / 3, abs=1e-5)}
    with pytest.raises(OperatorError, match="compare_method 'semantic'"):
        BenchDatasetEvaluator(compare_method="semantic")


def test_unified_bench_evaluator_scores_against_references(tmp_path: Path):
    rows = [
        {"question": "q", "target": "\\frac{1}{2}", "generated_ans": "The answer is 0.5"},
        {"question": "q", "target": "7", "generated_ans": "8"},
        {"question": "q", "target": "Rome", "generated_ans": ""},
    ]
    res = run_steps(tmp_path / "rule", rows, [UnifiedBenchDatasetEvaluator(input_target_key="target")])["s0"]
    assert [r["eval_score"] for r in res["table"]] == [1.0, 0.0, None]
    assert [r["eval_valid"] for r in res["table"]] == [True, True, False]
    assert res["_stats"][0]["accuracy"] == 0.5

    mc = [
        {"question": "Color of the sky?", "choices": ["green", "blue"], "label": 1, "generated_ans": "B"},
        {"question": "2+2?", "choices": ["4", "5", "6"], "label": "A", "generated_ans": "Answer: 3"},
        {
            "question": "Pick fruits",
            "choices": ["apple", "rock", "pear"],
            "labels": ["A", "C"],
            "generated_ans": "A, C",
        },
    ]
    single = UnifiedBenchDatasetEvaluator(
        eval_type="key3_q_choices_a", input_choices_key="choices", input_label_key="label"
    )
    res = run_steps(tmp_path / "mc", mc[:2], [single])["s0"]
    assert [r["eval_score"] for r in res["table"]] == [1.0, 0.0]  # "3" is the third option, C
    multi = UnifiedBenchDatasetEvaluator(
        eval_type="key3_q_choices_as", input_choices_key="choices", input_labels_key="labels"
    )
    res = run_steps(tmp_path / "ms", mc[2:], [multi])["s0"]
    assert res["table"][0]["eval_score"] == 1.0 and res["table"][0]["eval_pred"] == "A,C"
    assert parse_choice("b", 2) == 1 and parse_choice("Z", 3) is None
    with pytest.raises(OperatorError, match="needs input_target_key"):
        UnifiedBenchDatasetEvaluator().input_columns()
