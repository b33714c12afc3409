"""DataFlow's one-step reasoning operators on a real DuckDB through the runner: the fused ground-truth
filter agrees with math-verify, the root filter routes by ground truth, the pretraining conversion and
the dataset-level statistics (step stats) are what DataFlow computes on the same rows."""

import json
from pathlib import Path

from operators.reasoning.dataset_stats import (
    ReasoningCategoryDatasetEvaluator,
    ReasoningDifficultyDatasetEvaluator,
    ReasoningTokenDatasetEvaluator,
)
from operators.reasoning.ground_truth import (
    ReasoningAnswerGroundTruthFilter,
    ReasoningAnswerPipelineRootFilter,
    ReasoningPretrainFormatConvertGenerator,
)
from tests.helpers import run_op, run_steps

COTS = [
    {"generated_cot": r"So the result is \boxed{\frac{1}{2}}.", "golden_answer": "0.5"},  # equal by math-verify only
    {"generated_cot": r"Thus \boxed{3}.", "golden_answer": "4"},
    {"generated_cot": "The answer is 12.", "golden_answer": "12"},
    {"generated_cot": r"\boxed{7}", "golden_answer": None},
]


def test_ground_truth_filter_math_verify(tmp_path: Path):
    op = ReasoningAnswerGroundTruthFilter(**{"input_test_answer_key": "generated_cot"})
    kept, rejected, _ = run_op(tmp_path, COTS, op)
    assert [r["row_no"] for r in kept] == [0, 2]
    assert "extracted" not in " ".join(kept[0])  # helper columns stay hidden
    reasons = {r["row_no"]: r["_reason"] for r in rejected}
    assert "answer 3 is not 4" in reasons[1] and "no golden answer" in reasons[3]


def test_ground_truth_filter_exact(tmp_path: Path):
    op = ReasoningAnswerGroundTruthFilter(**{"compare_method": "exact"})
    kept, _, _ = run_op(tmp_path, COTS, op)
    assert [r["row_no"] for r in kept] == [2]  # \frac{1}{2} is not the string 0.5


def test_pipeline_root_filter_fills_and_routes(tmp_path: Path):
    rows = [
        {"output": r"so \boxed{9}", "golden_answer": None},
        {"output": "no number here", "golden_answer": ""},
        {"output": r"\boxed{1}", "golden_answer": "2"},
    ]
    op = ReasoningAnswerPipelineRootFilter(**{"input_answer_key": "output", "input_gt_key": "golden_answer"})
    kept, rejected, lineage = run_op(tmp_path, rows, op)
    assert not rejected
    assert [(r["golden_answer"], r["answer_branch"]) for r in kept] == [
        ("9", "with_gt"),
        (None, "without_gt"),
        ("2", "with_gt"),
    ]
    assert lineage["stats"] == {"with_gt": 2, "without_gt": 1}


def test_pretrain_format_convert(tmp_path: Path):
    rows = [{"question": "What is 2+2?", "answer": "4", "extra": 1}, {"question": "Q only", "answer": None}]
    op = ReasoningPretrainFormatConvertGenerator(**{"input_read_key_answer": "answer"})
    out = run_steps(tmp_path, rows, [op])["s0"]["table"]
    assert [r["text"] for r in out] == ["What is 2+2?\n4", "Q only\n"]
    assert "extra" not in out[0] and out[0]["_parent_ids"]


def test_dataset_level_statistics(tmp_path: Path):
    rows = [
        {"primary_category": "algebra", "secondary_category": "linear", "difficulty_score": 3, "q": "x+1=2", "a": "1"},
        {"primary_category": "algebra", "secondary_category": "quadratic", "difficulty_score": 5, "q": "", "a": "2"},
        {"primary_category": "geometry", "secondary_category": "area", "difficulty_score": 3, "q": "a b c", "a": "x"},
    ]
    ops = [
        ReasoningCategoryDatasetEvaluator(),
        ReasoningDifficultyDatasetEvaluator(**{"input_diffulty_key": "difficulty_score"}),
        ReasoningTokenDatasetEvaluator(**{"input_question_key": "q", "input_answer_key": "a"}),
    ]
    out = run_steps(tmp_path, rows, ops)
    assert len(out["s2"]["table"]) == 3  # rows pass through
    cats = json.loads(out["s0"]["_stats"][0]["category_info"])
    assert cats == {
        "algebra": {"primary_num": 2, "linear": 1, "quadratic": 1},
        "geometry": {"primary_num": 1, "area": 1},
    }
    assert json.loads(out["s1"]["_stats"][0]["difficulty_info"]) == {"3": 2, "5": 1}
    tokens = out["s2"]["_stats"][0]
    assert tokens["questions_zeros_count"] == 1 and tokens["questions_min"] == 0
    assert 0 < tokens["questions_max"] <= 6 and tokens["answers_zeros_count"] == 0
