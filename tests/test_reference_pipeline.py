"""The reference pipeline end to end on the embedded model, in process."""

from pathlib import Path

import duckdb
import pytest

from assets.reference import reference_pipeline
from dataflow_dagster.core.storage import Storage
from tests.helpers import check_results, defs_for, materialized, run_job

STEPS = ["load", "content_null", "word_count", "symbol_ratio", "dedup", "qa", "judge", "keep_good", "topic"]
FILTERS = ["content_null", "word_count", "symbol_ratio", "dedup", "keep_good"]
LLM_STEPS = ["qa", "judge", "topic"]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("ref") / ".dataflow"
    defs = defs_for([reference_pipeline()], root)
    first = run_job(defs, "pretrain_qa_job")
    second = run_job(defs, "pretrain_qa_job")
    return root, first, second


def test_every_step_materialises_and_checks_pass(two_runs):
    _, first, _ = two_runs
    assert first.success
    mats = materialized(first)
    assert sorted(mats) == sorted(f"pretrain_qa/{s}" for s in STEPS)
    checks = check_results(first)
    expected = {
        "pretrain_qa/judge:parsed_share",
        "pretrain_qa/topic:parsed_share",
        *(f"pretrain_qa/{s}:error_share" for s in LLM_STEPS),
    }
    assert expected <= set(checks), checks
    assert all(checks.values()), checks


def test_filters_drop_the_crafted_rows(two_runs):
    _, first, _ = two_runs
    mats = materialized(first)
    rows = {s: mats[f"pretrain_qa/{s}"]["dagster/row_count"] for s in STEPS}
    assert rows["load"] == 13
    assert rows["word_count"] == rows["content_null"] - 2  # "Too short..." and one more short row
    assert rows["symbol_ratio"] == rows["word_count"] - 1  # the '###' spam row
    assert rows["dedup"] < rows["symbol_ratio"]  # the appended duplicate of row 1 (and any in the data)
    assert mats["pretrain_qa/dedup"]["rejected_rows"] == rows["symbol_ratio"] - rows["dedup"]
    assert rows["qa"] + mats["pretrain_qa/qa"]["errors_rows"] == rows["dedup"]


def test_catalog_has_one_view_per_step_and_rejected_per_filter(two_runs):
    root, _, _ = two_runs
    con = duckdb.connect(str(root / "catalog.duckdb"), read_only=True)
    names = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
    for s in STEPS:
        assert f"pretrain_qa__{s}" in names
    for s in FILTERS:
        assert f"pretrain_qa__{s}__rejected" in names
        reasons = con.execute(f"SELECT count(*), count(_reason) FROM pretrain_qa__{s}__rejected").fetchall()[0]
        assert reasons[0] == reasons[1]
    for s in LLM_STEPS:
        assert f"pretrain_qa__{s}__errors" in names
    dup = con.execute("SELECT _duplicate_of FROM pretrain_qa__dedup__rejected").fetchall()
    kept = {r[0] for r in con.execute("SELECT _id FROM pretrain_qa__dedup").fetchall()}
    assert dup and all(d[0] in kept for d in dup)
    qa = con.execute("SELECT _parent_ids, question, answer FROM pretrain_qa__qa").fetchall()
    assert all(len(p) == 1 and p[0] in kept and q and a for p, q, a in qa)
    con.close()


def test_second_run_is_all_cache_hits_with_identical_hashes(two_runs):
    _, first, second = two_runs
    assert second.success
    m1, m2 = materialized(first), materialized(second)
    for s in STEPS:
        assert m1[f"pretrain_qa/{s}"]["content_hash"] == m2[f"pretrain_qa/{s}"]["content_hash"], s
    for s in LLM_STEPS:
        assert m1[f"pretrain_qa/{s}"]["cache_misses"] > 0
        assert m2[f"pretrain_qa/{s}"]["cache_misses"] == 0
        # rows seen before are reused from the row memo without even a cache lookup; only rows whose
        # answer failed are processed again (answered by the cache, so still no model call)
        inc = m2[f"pretrain_qa/{s}"]["lineage"]["incremental"]
        failed = m1[f"pretrain_qa/{s}"]["lineage"]["error_rows"]
        assert inc["mode"] == "delta" and inc["rows_processed"] == m2[f"pretrain_qa/{s}"]["cache_hits"] == failed


def test_lineage_metadata_is_complete(two_runs):
    root, first, _ = two_runs
    mats = materialized(first)
    judge = mats["pretrain_qa/judge"]
    lin = judge["lineage"]
    assert lin["operator"] == "QAJudgeEvaluator" and lin["prompt"]["hash"] == judge["prompt_hash"]
    assert lin["model"]["id"].startswith("llama.cpp/") and lin["model"]["params"]["seed"] == 0
    assert lin["upstream"] == {"pretrain_qa__qa": mats["pretrain_qa/qa"]["content_hash"]}
    assert lin["tokens"]["prompt"] > 0 and lin["tokens"]["completion"] > 0
    assert "| _id |" in judge["preview"]
    storage = Storage(root)
    ref = storage.current_ref("pretrain_qa__judge")
    assert Path(ref.path).exists()
    con = duckdb.connect()
    assert storage.describe_file(con, ref.path).content_hash == judge["content_hash"]
