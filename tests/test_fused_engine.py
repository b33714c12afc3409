"""Fused stages in the engine: same kept/rejected rows and content hashes as running step by step.

Each pipeline runs twice on real DuckDB storage: every step on its own (``run_step``, the unfused
path) and planned into stages (``run_chain`` for fused stages). Every step's table and
``__rejected`` table must hold the same rows (compared row by row, not counted) and have the same
content hash; a kill -9 in the middle of a stage leaves the previous versions current.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from assets.reference import reference_pipeline
from assets.text_pt_filter import synthetic_corpus, text_pt_filter_pipeline
from dataflow_dagster.core.fused import publish_outcomes, run_chain
from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from dataflow_dagster.core.runner import run_source, run_step
from dataflow_dagster.core.stages import plan_stages
from dataflow_dagster.core.storage import Storage
from operators.core.generic import ThresholdFilter
from operators.general_text.evaluators import TextMetricEvaluator
from operators.general_text.heuristics import WordNumberFilter
from operators.general_text.refiners import LowercaseRefiner, RemoveExtraSpacesRefiner


def _rule_steps(p: Pipeline) -> Pipeline:
    """The pipeline up to its first LLM step (the rule part this test compares)."""
    steps = []
    for s in p.steps:
        if s.op.needs_llm:
            break
        steps.append(s)
    return Pipeline(p.name, p.source, steps, base_dir=p.base_dir)


def _run(p: Pipeline, root: Path, fused: bool) -> Storage:
    storage = Storage(root)
    run_source(storage, p)
    for stage in plan_stages(p):
        if fused and stage.fused:
            publish_outcomes(storage, run_chain(storage, p, stage.steps))
        else:
            for name in stage.steps:
                run_step(storage, p, name, incremental=False)
    return storage


def _rows(storage: Storage, ref) -> list[str]:
    con = duckdb.connect()
    try:
        return sorted(r[0] for r in con.execute(f"SELECT to_json(t)::VARCHAR FROM {ref.read_sql()} t").fetchall())
    finally:
        con.close()


def _assert_same(p: Pipeline, tmp_path: Path) -> dict[str, int]:
    plain, fused = _run(p, tmp_path / "plain", False), _run(p, tmp_path / "fused", True)
    assert any(s.fused for s in plan_stages(p)), "the pipeline has no fused stage: nothing compared"
    rejected = {}
    for step in p.steps:
        asset = p.asset_name(step.name)
        a, b = plain.current_refs(asset), fused.current_refs(asset)
        assert set(a) == set(b), asset
        for part in a:
            assert _rows(plain, a[part]) == _rows(fused, b[part]), f"{asset} {part}: rows differ"
            assert a[part].content_hash == b[part].content_hash, f"{asset} {part}: content hash differs"
            assert a[part].columns == b[part].columns, f"{asset} {part}: schema differs"
            assert a[part].row_count == b[part].row_count
        rejected[step.name] = a["rejected"].row_count if "rejected" in a else -1
        doc_a, doc_b = plain.current(asset), fused.current(asset)
        assert doc_a["lineage"]["code_version"] == doc_b["lineage"]["code_version"]
        assert doc_a["lineage"]["upstream"] == doc_b["lineage"]["upstream"]
    return rejected


def test_reference_pipeline_fused_equals_unfused(tmp_path: Path):
    p = _rule_steps(reference_pipeline())
    assert next(s.steps for s in plan_stages(p)) == ("content_null", "word_count", "symbol_ratio")
    rejected = _assert_same(p, tmp_path)
    assert sum(v for v in rejected.values() if v > 0) > 0


def test_text_pt_filter_fused_equals_unfused(tmp_path: Path):
    src = synthetic_corpus(tmp_path / "pt.jsonl", 600, seed=3)
    p = text_pt_filter_pipeline(src)
    stages = plan_stages(p)
    assert [len(s.steps) for s in stages] == [3, 1, 19]
    rejected = _assert_same(p, tmp_path)
    # the corpus exercises the chain: most filters drop something
    assert sum(1 for v in rejected.values() if v > 0) >= 12, rejected


def test_refiners_and_evaluators_between_filters_keep_each_steps_columns(tmp_path: Path):
    """Versions of a rewritten column: a filter before a refiner shows the old text, one after the new."""
    src = tmp_path / "in.jsonl"
    texts = ["  Hello   World  " * k for k in range(6)] + ["one two three", None, "A  B  C  D  E  F  G  H"]
    src.write_text("".join(json.dumps({"text": t, "n": i}) + "\n" for i, t in enumerate(texts)), encoding="utf-8")
    p = Pipeline(
        "mix",
        Source(str(src)),
        [
            Step("words", WordNumberFilter(min_words=2, max_words=40)),
            Step("spaces", RemoveExtraSpacesRefiner()),
            Step("score", TextMetricEvaluator(filter="WordNumberFilter", output_prefix="wc_")),
            Step("lower", LowercaseRefiner()),
            Step("rescore", TextMetricEvaluator(filter="WordNumberFilter", output_prefix="wc_")),
            Step("enough", ThresholdFilter(input_key="wc_words", min_value=3)),
            Step("more", WordNumberFilter(min_words=4, max_words=20)),
        ],
    )
    assert [s.steps for s in plan_stages(p)] == [tuple(s.name for s in p.steps)]
    _assert_same(p, tmp_path)


def test_fuse_false_and_boundaries_split_stages(tmp_path: Path):
    p = text_pt_filter_pipeline(tmp_path / "x.jsonl")
    p.step("colon_end").fuse = False
    sizes = [len(s.steps) for s in plan_stages(p)]
    assert sizes == [3, 1, 2, 1, 16]
    ref = _rule_steps(reference_pipeline())
    assert [s.steps for s in plan_stages(ref)][-1] == ("dedup",)  # dedup is set-wise: never fused


_KILL_SCRIPT = """
import sys, logging
from assets.text_pt_filter import text_pt_filter_pipeline
from dataflow_dagster.core.fused import publish_outcomes, run_chain
from dataflow_dagster.core.stages import plan_stages
from dataflow_dagster.core.storage import Storage
p = text_pt_filter_pipeline(sys.argv[2])
storage = Storage(sys.argv[1])
stage = plan_stages(p)[-1]
print("started", flush=True)
publish_outcomes(storage, run_chain(storage, p, stage.steps))
print("finished", flush=True)
"""


def test_kill_9_mid_stage_leaves_previous_versions_current(tmp_path: Path):
    small = synthetic_corpus(tmp_path / "small.jsonl", 200, seed=1)
    p = text_pt_filter_pipeline(small)
    storage = _run(p, tmp_path / "s", fused=True)
    # a bigger source for the same upstream, so the stage runs long enough to be killed mid-query
    big = synthetic_corpus(tmp_path / "big.jsonl", 60_000, seed=2)
    pb = text_pt_filter_pipeline(big)
    run_source(storage, pb)
    for name in plan_stages(pb)[0].steps + plan_stages(pb)[1].steps:
        run_step(storage, pb, name, incremental=False)
    before = {s.name: storage.current(p.asset_name(s.name)) for s in p.steps}
    stage_steps = plan_stages(p)[-1].steps
    stage_dir = storage.root / "snapshots" / f"{p.asset_name(stage_steps[0])}__stage"
    existing = {f for f in stage_dir.glob("*.parquet") if not f.name.startswith(".")}
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILL_SCRIPT, str(storage.root), str(big)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
        deadline = time.monotonic() + 120
        while not list(stage_dir.glob(".tmp-*")) and time.monotonic() < deadline:  # the stage query is writing
            assert proc.poll() is None, "the stage finished before it could be killed; use a bigger corpus"
            time.sleep(0.02)
        assert list(stage_dir.glob(".tmp-*")), "stage never started writing"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    for name in stage_steps:
        assert storage.current(p.asset_name(name)) == before[name], f"{name} changed after kill -9"
        ref = storage.require_ref(p.asset_name(name))
        assert _rows(storage, ref)  # the previous version still reads
    assert {f for f in stage_dir.glob("*.parquet") if not f.name.startswith(".")} == existing  # none published


@pytest.mark.parametrize("bad", ["_dropped_at", "_reason"])
def test_reserved_columns_refused_with_advice(tmp_path: Path, bad: str):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"text": "a b c d", bad: 1}) + "\n", encoding="utf-8")
    p = Pipeline("r", Source(str(src)), [Step("a", WordNumberFilter(min_words=1)), Step("b", LowercaseRefiner())])
    storage = Storage(tmp_path / "s")
    run_source(storage, p)
    with pytest.raises(Exception, match="fuse=False"):
        run_chain(storage, p, ("a", "b"))


def test_previews_are_each_steps_first_rows(tmp_path: Path):
    """A fused stage reads previews from the head of its file; a step whose survivors all lie past
    the head (the first 400 rows are dropped) still shows its first five rows, as its view gives them."""
    src = tmp_path / "in.jsonl"
    short, long = "too short", "one two three four five six seven eight nine ten"
    texts = [short] * 400 + [f"{long} {i}" for i in range(30)]
    src.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    p = Pipeline(
        "heads",
        Source(str(src)),
        [
            Step("spaces", RemoveExtraSpacesRefiner()),
            Step("words", WordNumberFilter(min_words=5, max_words=40)),
            Step("more", WordNumberFilter(min_words=11, max_words=40)),
        ],
    )
    storage = Storage(tmp_path / "store")
    run_source(storage, p)
    outcomes = run_chain(storage, p, [s.name for s in p.steps])
    con = duckdb.connect()
    for out in outcomes:
        expected = con.sql(f"SELECT * FROM {out.table.read_sql()} LIMIT 5").to_arrow_table().to_pylist()
        assert out.preview == expected, out.asset
    assert [r["text"] for r in outcomes[1].preview] == [f"{long} {i}" for i in range(5)]
