"""End-to-end: the math reasoning pipeline materialised by Dagster on the embedded model.

Small N (one seed question, one benchmark leak, one empty row; one synthesised question; two CoT
samples each) because every LLM call costs seconds on the shared CPU. The 135M model's answers are
mostly wrong: the test proves the pipeline's shape (every asset materialised, every check
evaluated and recorded, lineage and errors kept), not the model's mathematics.
"""

import json
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance

from assets.reasoning import reasoning_pipeline
from dataflow_dagster.core.storage import Storage
from dataflow_dagster.defs.factory import build_definitions
from dataflow_dagster.defs.resources import LocalLLMResource, StorageResource

DATA = Path(__file__).resolve().parents[1] / "assets" / "data"


@pytest.mark.slow
def test_reasoning_pipeline_end_to_end(tmp_path):
    seeds = [json.loads(line) for line in (DATA / "reasoning_math_seed.jsonl").read_text().splitlines()]
    seed = next(r for r in seeds if r["instruction"] and r["instruction"].startswith("Let i be"))
    leak = next(r for r in seeds if r["source"] == "MATH_leak")
    src = tmp_path / "seed.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in [seed, leak, {**seed, "instruction": "   "}]))
    p = reasoning_pipeline(
        src, num_samples=2, synth_per_seed=1, min_parsed_share=0.0, solution_chars=160, question_chars=120
    )
    root = tmp_path / ".df"
    defs = build_definitions([p], llm=LocalLLMResource(n_threads=1), storage=StorageResource(root=str(root)))
    result = defs.resolve_job_def("math_reasoning_job").execute_in_process(
        instance=DagsterInstance.ephemeral(), raise_on_error=False
    )
    assert result.success

    materialised = {e.asset_key.path[-1] for e in result.get_asset_materialization_events()}
    assert materialised == {"load", *[s.name for s in p.steps]}

    checks = {(e.asset_key.path[-1], e.check_name): e for e in result.get_asset_check_evaluations()}
    expected_checks = {
        ("difficulty", "parsed_share"),
        ("category", "parsed_share"),
        ("verify", "verified_share"),
        ("verify", "reference_coverage"),
    }
    assert expected_checks <= set(checks)
    for key in expected_checks:
        assert "value" in checks[key].metadata and "threshold" in checks[key].metadata, key

    st = Storage(root)
    con = duckdb.connect()

    def rows(step: str, part: str = "table") -> list[dict]:
        ref = st.current_ref(p.asset_name(step), part)
        assert ref is not None, f"{step} has no {part} table"
        return con.sql(f"SELECT * FROM {ref.read_sql()}").to_arrow_table().to_pylist()

    assert [r["_reason"] for r in rows("content_null", "rejected")] == ["ContentNullFilter: stripped_chars=0"]
    leaked = rows("decontaminate", "rejected")
    assert [r["source"] for r in leaked] == ["MATH_leak"] and leaked[0]["_benchmark_overlap"] >= 0.5

    synth = rows("synthesize")
    assert sum(r["synth_or_input"] == "input" for r in synth) == 1
    for r in synth:
        if r["synth_or_input"] == "synth":
            assert r["golden_answer"] is None and r["_parent_ids"] == [seed_id(synth)]

    cot = rows("cot")
    questions = rows("category")
    assert {r["question_id"] for r in cot} <= {q["_id"] for q in questions}
    assert {r["sample_idx"] for r in cot} <= {0, 1}
    cot_errors = rows("cot", "errors")
    assert len(cot) + len(cot_errors) == 2 * len(questions)  # n samples per question, each answered or logged

    verified = rows("verify")
    assert all(r["reference_source"] in ("golden", "pseudo", None) for r in verified)
    assert all(r["answer_correct"] in (True, False, None) for r in verified)
    kept = rows("keep_verified")
    assert all(r["answer_correct"] is True for r in kept)


def seed_id(synth_rows: list[dict]) -> str:
    return next(r["_id"] for r in synth_rows if r["synth_or_input"] == "input")
