"""SFT selection and pretraining quality judges, and benchmark answer/evaluation, on a real DuckDB
through the runner, with the embedded model (two rows each; the runner's response cache answers a
filter that repeats its evaluator's requests).

The model is weak: the tests check that every score lands in its declared range under DataFlow's
column names, that filters keep exactly the rows whose scores fall in their ranges, and that the
benchmark evaluator scores against the references by rule.
"""

from pathlib import Path

import pytest

from operators.benchmark.answers import BenchAnswerGenerator
from operators.benchmark.evaluate import UnifiedBenchDatasetEvaluator
from operators.text_pt import quality_judges as pt
from operators.text_sft import selection_judges as sft
from tests.helpers import run_steps

SFT_ROWS = [
    {"instruction": "Name the capital of France.", "output": "The capital of France is Paris."},
    {"instruction": "Write a haiku about autumn leaves.", "output": "asdf qwer zxcv"},
]
PT_ROWS = [
    {"text": "Photosynthesis is the process by which green plants use sunlight to make glucose from water."},
    {"text": "click here buy now!!! best deals $$$ click click"},
]


def test_sft_selection_judges(tmp_path: Path, local_llm):
    evaluators = [
        sft.AlpagasusSampleEvaluator(),
        sft.DeitaComplexitySampleEvaluator(),
        sft.DeitaQualitySampleEvaluator(),
        sft.InstagSampleEvaluator(),
        sft.TreeinstructSampleEvaluator(),
        sft.RMSampleEvaluator(),
        sft.AlpagasusFilter(min_score=0, max_score=3),
    ]
    out = run_steps(tmp_path, SFT_ROWS, evaluators, llm=local_llm)
    ranges = {
        "AlpagasusScore": (0, 5),
        "DeitaComplexityScore": (1, 6),
        "DeitaQualityScore": (1, 6),
        "InstagScore": (0, 10),
        "TreeinstructScore": (1, 40),
        "RMScore": (0, 1),
    }
    last = out["s5"]["table"]
    assert len(last) == 2
    for col, (lo, hi) in ranges.items():
        values = [r[col] for r in last]
        assert all(v is None or lo <= v <= hi for v in values), (col, values)
        assert any(v is not None for v in values), col
    scores = [r["AlpagasusScore"] for r in out["s0"]["table"]]
    kept = [r["instruction"] for r in out["s6"]["table"]]
    assert kept == [r["instruction"] for r, s in zip(SFT_ROWS, scores, strict=True) if s is not None and s <= 3]
    assert all(
        "outside the keep range" in r["_reason"] or "no usable answer" in r["_reason"] for r in out["s6"]["rejected"]
    )
    assert out["s6"]["_cache"][0]["hits"] == 2  # the filter re-asked exactly the evaluator's questions


def test_pretraining_quality_judges(tmp_path: Path, local_llm):
    ops = [
        pt.FineWebEduSampleEvaluator(),
        pt.QuratingSampleEvaluator(),
        pt.TextbookSampleEvaluator(),
        pt.DebertaV3SampleEvaluator(),
        pt.PairQualSampleEvaluator(),
        pt.MetaSampleEvaluator(),
        pt.DebertaV3Filter(allowed_scores=["High"]),
        pt.QuratingFilter(min_scores={"educational_value": 5}),
    ]
    out = run_steps(tmp_path, PT_ROWS, ops, llm=local_llm)
    row = out["s5"]["table"]
    assert len(row) == 2
    for r in row:
        assert r["FinewebEduScore"] is None or 0 <= r["FinewebEduScore"] <= 5
        assert r["TextbookScore"] is None or 0 <= r["TextbookScore"] <= 1
        assert r["Debertav3Score"] in (None, "Low", "Medium", "High")
        assert r["PairQualScore"] is None or 0 <= r["PairQualScore"] <= 10
        for c in ("QuratingWritingStyleScore", "QuratingEducationalValueScore"):
            assert r[c] is None or 0 <= r[c] <= 9
        for dim in pt.META_DIMENSIONS:
            assert r[dim] is None or 1 <= r[dim] <= 5
    labels = {r["text"]: r["Debertav3Score"] for r in out["s3"]["table"]}
    assert sorted(r["text"] for r in out["s6"]["table"]) == sorted(t for t, lab in labels.items() if lab == "High")
    edu = {r["text"]: r["QuratingEducationalValueScore"] for r in out["s1"]["table"]}
    assert sorted(r["text"] for r in out["s7"]["table"]) == sorted(
        t for t, v in edu.items() if v is not None and v >= 5
    )


def test_bench_answer_generation_and_unified_evaluation(tmp_path: Path, local_llm):
    qa = [
        {"question": "What is 2 + 3?", "target": "5"},
        {"question": "What is 10 / 4?", "target": "2.5"},
        {"question": "Capital of Italy?", "target": "Rome"},
    ]
    out = run_steps(
        tmp_path,
        qa,
        [BenchAnswerGenerator(), UnifiedBenchDatasetEvaluator(input_target_key="target", min_accuracy=0.0)],
        llm=local_llm,
    )
    gen, ev = out["s0"]["table"], out["s1"]
    failed = {r["_id"] for r in out["s0"]["errors"]}  # a small model's answer may not parse: recorded there
    assert len(gen) == 3 and len(failed) < 3
    assert all(bool(r["generated_ans"]) != (r["_id"] in failed) for r in gen)
    stats = ev["_stats"][0]
    assert stats["total_samples"] == 3 and stats["valid_samples"] == 3 - len(failed)
    scores = [r["eval_score"] for r in ev["table"] if r["eval_valid"]]
    assert stats["accuracy"] == pytest.approx(sum(scores) / len(scores))
    assert [r["eval_valid"] for r in ev["table"]] == [r["_id"] not in failed for r in gen]

    pairs = [{"question": "Q: What colour is grass?\nA:", "better": " Grass is green.", "rejected": " qq zz xx vv."}]
    pref = UnifiedBenchDatasetEvaluator(
        eval_type="key3_q_a_rejected", input_better_key="better", input_rejected_key="rejected"
    )
    res = run_steps(tmp_path / "pw", pairs, [pref])["s0"]
    assert res["table"][0]["eval_score"] == 1.0
