"""DataFlow's prompted code / core-text operators on a real DuckDB with the embedded model:
CodeQualityScoreFilter, CodeInstructionGenerator, RandomDomainKnowledgeRowGenerator and
Text2MultiHopQAGenerator. The model is weak, so the tests check the structure DataFlow defines
(rows, keys, parents, keep ranges, which texts qualify), not the prose."""

import json
from pathlib import Path

import pytest

from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from dataflow_dagster.core.plan import plan
from dataflow_dagster.core.runner import run_source, run_step
from operators.code.instruction_pool import CodeInstructionGenerator
from operators.code.quality_filter import CodeQualityScoreFilter
from operators.core.contract import OperatorError
from operators.prompted.domain_rows import RandomDomainKnowledgeRowGenerator
from operators.rag.text_multihop import PAIR_FIELDS, Text2MultiHopQAGenerator
from tests.helpers import run_steps

CODE_ROWS = [
    {"task": "Write a Python function add(a, b) that returns a + b.", "code": "def add(a, b):\n    return a + b"},
    {"task": "Write a Python function add(a, b) that returns a + b.", "code": "print('hello')"},
]
POOL = [
    {"prompt": "Write a function that reverses a string."},
    {"prompt": "Write a function that returns the sum of a list of integers."},
    {"prompt": "Write a function that checks whether a number is prime."},
    {"prompt": "Write a function that counts the vowels in a string."},
]
GOOD_TEXT = (
    "Marie Curie was born in Warsaw in 1867. She moved to Paris to study physics at the Sorbonne. "
    "In Paris she met Pierre Curie, whom she married in 1895. Together they discovered polonium and radium."
)
TEXTS = [
    {"cleaned_chunk": GOOD_TEXT},
    {"cleaned_chunk": "Too short. Really."},  # under min_text_length
    {"cleaned_chunk": "#### $$$$ %%%% &&&& **** (((( )))) ++++ ==== ~~~~. <<<< >>>> //// ;;;; ::::. ok ok ok ok ok."},
]


def test_code_quality_score_filter_keeps_its_range(tmp_path: Path, local_llm):
    dataflow_keys = {"input_instruction_key": "task", "input_code_key": "code", "output_score_key": "q"}
    steps = [
        CodeQualityScoreFilter(min_score=1, max_score=10, **dataflow_keys),
        CodeQualityScoreFilter(min_score=11, max_score=20, **dataflow_keys),
    ]
    out = run_steps(tmp_path, CODE_ROWS, steps, llm=local_llm)
    wide, narrow = out["s0"], out["s1"]
    judged = [r for r in wide["table"] if r["q"] is not None]
    assert len(wide["table"]) + len(wide["rejected"]) == 2 and judged, "the judge must score the rows"
    assert all(1 <= r["q"] <= 10 and r["quality_score_filter_label"] == 1 for r in wide["table"])
    assert all(isinstance(r["quality_feedback"], str) for r in wide["table"])
    assert narrow["table"] == []  # no 1-10 score lies in [11, 20]
    assert all(r["quality_score_filter_label"] == 0 and "outside [11" in r["_reason"] for r in narrow["rejected"])


def test_code_instruction_generator_samples_the_pool(tmp_path: Path, local_llm):
    op = CodeInstructionGenerator(num_generate=3, num_few_shot=2)
    first = run_steps(tmp_path / "a", POOL, [op], llm=local_llm)["s0"]
    again = run_steps(tmp_path / "b", POOL, [op], llm=local_llm)["s0"]
    assert len(first["table"]) + len(first["errors"]) == 3
    for row in first["table"]:
        assert len(set(row["_parent_ids"])) == 2 and row["generated_instruction"].strip()
        assert set(row.keys()) == {"_id", "_parent_ids", "generated_instruction"}
    assert [r["_parent_ids"] for r in first["table"]] == [r["_parent_ids"] for r in again["table"]]  # seeded
    assert len({tuple(r["_parent_ids"]) for r in first["table"]}) > 1  # examples differ per request
    with pytest.raises(Exception, match="num_few_shot=5"):
        run_steps(tmp_path / "d", POOL, [CodeInstructionGenerator(num_generate=1, num_few_shot=5)], llm=local_llm)


def test_random_domain_rows(tmp_path: Path, local_llm):
    op = RandomDomainKnowledgeRowGenerator(generation_num=2, domain_keys="cooking, astronomy")
    out = run_steps(tmp_path, [{"text": "unused"}], [op], llm=local_llm)["s0"]
    assert len(out["table"]) + len(out["errors"]) == 2 and out["table"]
    for row in out["table"]:
        sample = json.loads(row["generated_content"])
        assert {k: row[k] for k in ("instruction", "input", "output", "domain")} == sample
        assert "text" not in row  # input rows are not read


def dataflow_windows(text: str, num_q: int) -> int:
    """DataFlow's qualifying texts and sentence windows, restated (capped at num_q requests here)."""
    t = text.strip()
    special = sum(not (c.isalnum() or c.isspace()) for c in t) / max(len(t), 1)
    if not 100 <= len(t) <= 200_000 or t.count(".") < 2 or special > 0.3:
        return 0
    s = [x.strip() for x in t.split(".") if x.strip()]
    return min(num_q, sum(len(s[i]) > 10 and len(s[i + 1]) > 10 for i in range(len(s) - 2)))


def test_text2multihop_windows_and_pairs(tmp_path: Path, local_llm):
    out = run_steps(tmp_path, TEXTS, [Text2MultiHopQAGenerator(num_q=2)], llm=local_llm)["s0"]
    expected = [dataflow_windows(r["cleaned_chunk"], 2) for r in TEXTS]
    assert expected == [2, 0, 0]
    assert out["_stats"][0]["requests"] == sum(expected)
    assert [r["cleaned_chunk"] for r in out["table"]] == [GOOD_TEXT]  # texts without pairs are dropped
    row = out["table"][0]
    assert 1 <= len(row["QA_pairs"]) <= 2 and row["QA_metadata"]["windows"] == 2
    assert all(set(p) == set(PAIR_FIELDS) and p["question"] for p in row["QA_pairs"])


def test_generators_refuse_bad_settings():
    with pytest.raises(OperatorError):
        CodeInstructionGenerator(num_few_shot=0)
    with pytest.raises(OperatorError):
        Text2MultiHopQAGenerator(lang="fr")


def test_plan_renders_the_derived_requests(tmp_path: Path, storage, local_llm):
    """`plan` counts the requests these steps really send (not one per input row): after a run they
    are all cache hits, so the plan rendered them exactly as the step did."""
    src = tmp_path / "pool.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in POOL))
    multihop = tmp_path / "texts.jsonl"
    multihop.write_text("".join(json.dumps(r) + "\n" for r in TEXTS))
    pipe = Pipeline("p", Source(str(src)), [Step("gen", CodeInstructionGenerator(num_generate=2, num_few_shot=2))])
    texts = Pipeline("t", Source(str(multihop)), [Step("qa", Text2MultiHopQAGenerator(num_q=2))])
    assert [(s.rows, s.calls) for s in plan(pipe, storage, local_llm.model_id).steps] == [(4, 2)]
    assert [(s.rows, s.calls) for s in plan(texts, storage, local_llm.model_id).steps] == [(3, 2)]
    run_source(storage, pipe)
    run_step(storage, pipe, "gen", llm=local_llm)
    assert [(s.calls, s.cache_hits) for s in plan(pipe, storage, local_llm.model_id).steps] == [(0, 2)]


def test_text2multihop_parsed_share_check_reads_the_pairs_column(tmp_path: Path) -> None:
    """The step's parsed-share check (a Dagster asset check, and part of `plan`) read the per-request
    `question` field, which the step's table does not have: every check and every dry run failed."""
    from dataflow_dagster.core.dryrun import dry_run
    from dataflow_dagster.core.pipeline import Pipeline, Source, Step

    src = tmp_path / "chunks.jsonl"
    src.write_text(json.dumps({"chunk": GOOD_TEXT}) + "\n")
    step = Step("pairs", Text2MultiHopQAGenerator(input_key="chunk"))
    report = dry_run(Pipeline(name="kbc", description="", source=Source(path=str(src)), steps=[step]), 5)
    assert report.ok, report.first_failure()
    assert "parsed_share" in report.steps[0].checks
