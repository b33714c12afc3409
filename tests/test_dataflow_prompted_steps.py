"""DataFlow's prompted reasoning, SFT and pretraining steps under DataFlow's names, on a real DuckDB
through the runner with the embedded model (two rows, small max_tokens), and QAExtractor's rule.

The 135M model is weak: the tests check DataFlow's columns and row semantics (which rows are sent,
kept, rewritten or made), not the model's judgement.
"""

from pathlib import Path

from operators.knowledge.qa_extract import QAExtractor
from operators.rag.depth import AgenticRAGDepthQAGenerator
from operators.reasoning.prompted_steps import (
    ReasoningAnswerModelJudgeFilter,
    ReasoningQuestionFusionGenerator,
    ReasoningQuestionSolvableSampleEvaluator,
)
from operators.text_sft.seeded import CondorRefiner, Phi4QAGenerator, SFTGeneratorSeed
from tests.helpers import run_steps


def test_reasoning_prompted_steps(tmp_path: Path, local_llm):
    rows = [
        {"question": "What is 2 + 3?", "answer": "5", "reference_answer": "5", "q2": "What is 4 * 2?"},
        {"question": "What is 10 - 4?", "answer": "6", "reference_answer": "", "q2": "What is 9 / 3?"},
    ]
    ops = [
        ReasoningQuestionSolvableSampleEvaluator(input_key="question", output_key="solvable", max_tokens=12),
        ReasoningQuestionFusionGenerator(input_problem_1="question", input_problem_2="q2", max_tokens=120),
        ReasoningAnswerModelJudgeFilter(keep_all_samples=True, max_tokens=12),
        ReasoningAnswerModelJudgeFilter(max_tokens=12),
    ]
    out = run_steps(tmp_path, rows, ops, llm=local_llm)
    assert {r["solvable"] for r in out["s0"]["table"]} <= {"True", "False", None}
    assert any(r["solvable"] for r in out["s0"]["table"])
    fused = out["s1"]["table"]
    assert fused and all(len(r["fused_problem"]) >= 10 and r["_parent_ids"] for r in fused)
    judged = out["s2"]["table"]
    assert len(judged) == len(fused)  # keep_all_samples keeps every row
    no_ref = [r for r in judged if not r["reference_answer"]]
    assert all(r["answer_match_result"] is False for r in no_ref)
    assert out["s2"]["_stats"][0]["llm_rows"] == len(judged) - len(no_ref)  # rows without a reference are not sent
    kept, rejected = out["s3"]["table"], out["s3"]["rejected"]
    assert all(r["answer_match_result"] is True for r in kept)
    assert any("no reference answer" in r["_reason"] for r in rejected)
    assert len(kept) + len(rejected) == len(fused)


def test_sft_and_pretrain_prompted_steps(tmp_path: Path, local_llm):
    rows = [
        {"raw_content": "The Nile is the longest river in Africa. It flows north into the Mediterranean Sea."},
        {"raw_content": "Bees make honey from flower nectar and store it in wax combs inside the hive."},
    ]
    ops = [
        SFTGeneratorSeed(custom_prompt="Write one question about this text and its answer.", max_tokens=160),
        CondorRefiner(input_instruction_key="instruction", input_output_key="output", max_tokens=220),
        Phi4QAGenerator(input_key="raw_content", max_tokens=160),
    ]
    out = run_steps(tmp_path, rows, ops, llm=local_llm)
    made = out["s0"]["table"]
    assert made and all(r["instruction"] and r["output"] and r["raw_content"] for r in made)
    refined = out["s1"]["table"]
    assert len(refined) == len(made)  # a refiner keeps its rows
    assert any(r["output"] != m["output"] for r, m in zip(refined, made, strict=True))
    phi = out["s2"]["table"]
    texts = [r["generated_content"] for r in phi if r["generated_content"]]
    assert texts and all("Question:" in t and "Answer:" in t for t in texts)
    assert len(phi) == len(refined)


def test_qa_extractor_flattens_pairs(tmp_path: Path):
    rows = [
        {"QA_pairs": [{"question": "Q1?", "answer": "A1"}, {"question": "Q2?", "answer": " "}]},
        {"QA_pairs": {"qa_pairs": [{"question": "Q3?", "answer": "A3"}]}},
        {"QA_pairs": {"other": 1}},
        {"QA_pairs": None},
    ]
    kept = run_steps(tmp_path, rows, [QAExtractor(input_qa_key="QA_pairs", input_instruction="Answer it.")])["s0"][
        "table"
    ]
    got = [(r["instruction"], r["input"], r["output"]) for r in kept]
    assert got == [("Answer it.", "Q1?", "A1"), ("Answer it.", "Q3?", "A3")]


def test_agentic_rag_depth_rounds(tmp_path: Path, local_llm):
    rows = [{"question": "Who wrote Hamlet?"}, {"question": "What is the capital of Japan?"}]
    op = AgenticRAGDepthQAGenerator(n_rounds=1, max_tokens=200)
    out = run_steps(tmp_path, rows, [op], llm=local_llm)["s0"]
    made, errors = out["table"], out["errors"]
    assert len(made) + len(errors) == len(rows)  # every row is either deepened or an __errors row
    assert made, errors
    for r in made:
        assert r["new_identifier_1"] and r["relation_1"] and len(r["depth_question_1"]) >= 10
        assert r["question"] in [x["question"] for x in rows] and "depth_question_2" not in r
