"""Asset factory behaviour: code versions follow prompts, blocking checks stop downstream."""

import json
from pathlib import Path

import pytest

from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from operators.core.generic import ThresholdFilter
from operators.general_text.heuristics import WordNumberFilter
from operators.general_text.llm_qa import QA_PROMPT, PassageQAGenerator, QAJudgeEvaluator
from tests.helpers import check_results, defs_for, materialized, run_job

PASSAGES = [
    "Photosynthesis converts light energy into chemical energy stored in glucose inside plant cells.",
    "The Pacific Ocean is the largest and deepest of the oceanic divisions on planet Earth.",
    "A binary search halves the search interval each step, so it needs logarithmic time.",
]


@pytest.fixture
def source_file(tmp_path: Path) -> Path:
    f = tmp_path / "passages.jsonl"
    f.write_text("".join(json.dumps({"text": t}) + "\n" for t in PASSAGES))
    return f


def _pipe(src: Path, qa_prompt=None, min_share: float = 0.5) -> Pipeline:
    return Pipeline(
        "mini",
        Source(str(src), required_columns=["text"]),
        [
            Step("words", WordNumberFilter(min_words=5)),
            Step("qa", PassageQAGenerator(), prompt=qa_prompt),
            Step("judge", QAJudgeEvaluator(min_parsed_share=min_share)),
            Step("keep", ThresholdFilter(input_key="qa_score", min_value=1)),
        ],
    )


def _code_versions(defs) -> dict[str, str]:
    graph = defs.resolve_asset_graph()
    return {k.to_user_string(): graph.get(k).code_version for k in graph.get_all_asset_keys()}


def test_prompt_edit_changes_only_that_assets_code_version(tmp_path: Path, source_file: Path):
    before = _code_versions(defs_for([_pipe(source_file)], tmp_path))
    edited = QA_PROMPT.with_text(QA_PROMPT.template + "\nKeep the answer under ten words.")
    after = _code_versions(defs_for([_pipe(source_file, qa_prompt=edited)], tmp_path))
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {"mini/qa"}
    assert before["mini/qa"].split("-")[-1] == QA_PROMPT.content_hash[:12]
    assert after["mini/qa"].split("-")[-1] == edited.content_hash[:12]


def test_config_change_changes_code_version(tmp_path: Path, source_file: Path):
    a = _code_versions(defs_for([_pipe(source_file)], tmp_path))
    b = _code_versions(defs_for([_pipe(source_file, min_share=0.6)], tmp_path))
    assert {k for k in a if a[k] != b[k]} == {"mini/judge"}


def test_failing_blocking_check_stops_downstream(tmp_path: Path, source_file: Path):
    # A share above 1.0 can never be met: the judge's blocking check must fail and `keep` must not run.
    defs = defs_for([_pipe(source_file, min_share=1.01)], tmp_path / ".dataflow")
    result = run_job(defs, "mini_job")
    assert not result.success
    checks = check_results(result)
    assert checks["mini/judge:parsed_share"] is False
    assert {k for k, ok in checks.items() if not ok} == {"mini/judge:parsed_share"}
    mats = materialized(result)
    assert "mini/judge" in mats
    assert "mini/keep" not in mats
    assert not (tmp_path / ".dataflow" / "refs" / "mini__keep.json").exists()
