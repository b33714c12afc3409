"""Fused stages in Dagster: one execution step, one asset (event, metadata, checks) per step.

Runs real jobs in-process against real DuckDB storage: the reference pipeline's rule stage from
``assets/reference.py``, and small pipelines with a column-schema check in the middle of a stage.
"""

import json
from pathlib import Path

from dagster import AssetKey, AssetSelection, DagsterInstance

from assets.reference import reference_pipeline
from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from dataflow_dagster.core.stages import plan_stages
from dataflow_dagster.defs.factory import build_definitions
from dataflow_dagster.defs.resources import StorageResource
from operators.general_text.dedup import ExactDedupFilter
from operators.general_text.evaluators import TextMetricEvaluator
from operators.general_text.heuristics import CharNumberFilter, WordNumberFilter
from tests.helpers import check_results, materialized

STAGE1 = ["content_null", "word_count", "symbol_ratio"]


def _materialize(p: Pipeline, root: Path, steps: list[str], instance: DagsterInstance | None = None):
    defs = build_definitions([p], storage=StorageResource(root=str(root)))
    keys = [AssetKey([p.name, s]) for s in steps]
    selected_checks = AssetSelection.checks_for_assets(*keys).resolve_checks(defs.resolve_asset_graph())
    job = defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection=set(keys), asset_check_selection=selected_checks
    )
    return job.execute_in_process(instance=instance or DagsterInstance.ephemeral(), raise_on_error=False)


def _step_keys(result) -> list[str]:
    return sorted({e.step_key for e in result.all_events if e.step_key})


def test_fused_stage_is_one_step_and_materialises_every_asset(tmp_path: Path):
    p = reference_pipeline()
    assert plan_stages(p)[0].steps == tuple(STAGE1)
    result = _materialize(p, tmp_path, ["load", *STAGE1])
    assert result.success
    # one execution step (one process) for the source import and the rule steps after it
    assert _step_keys(result) == ["pretrain_qa__stage1_to_stage2"]
    mats = materialized(result)
    from dataflow_dagster.core.storage import Storage

    storage = Storage(tmp_path)
    hashes = set()
    for name in STAGE1:
        md = mats[f"pretrain_qa/{name}"]
        ref = storage.current_ref(p.asset_name(name))
        assert md["content_hash"] == ref.content_hash
        assert md["dagster/row_count"] == ref.row_count
        assert md["lineage"]["stage"]["steps"] == STAGE1
        assert "rejected_rows" in md and md["rejected_table"] == f"pretrain_qa__{name}__rejected"
        hashes.add(md["content_hash"])
    assert mats["pretrain_qa/word_count"]["rejected_rows"] > 0
    # one snapshot file behind the three tables; the catalog shows each step and its rejected rows
    assert len({storage.current_ref(p.asset_name(n)).path for n in STAGE1}) == 1
    import duckdb

    con = duckdb.connect(str(storage.catalog_path), read_only=True)
    try:
        for name in STAGE1:
            for view in (p.asset_name(name), f"{p.asset_name(name)}__rejected"):
                n = con.execute(f'SELECT count(*) FROM "{view}"').fetchall()[0][0]
                want = storage.current_ref(p.asset_name(name), "rejected" if view.endswith("rejected") else "table")
                assert n == want.row_count
    finally:
        con.close()
    defs = build_definitions([p], storage=StorageResource(root=str(tmp_path)))
    spec = defs.resolve_assets_def(AssetKey(["pretrain_qa", "word_count"])).specs_by_key[
        AssetKey(["pretrain_qa", "word_count"])
    ]
    assert "Stage: stage1 (fused: content_null .. symbol_ratio, 3 steps)" in (spec.description or "")


def test_one_step_of_a_stage_alone(tmp_path: Path):
    p = reference_pipeline()
    assert _materialize(p, tmp_path, ["load", *STAGE1]).success
    from dataflow_dagster.core.storage import Storage

    storage = Storage(tmp_path)
    before = {n: storage.current(p.asset_name(n)) for n in STAGE1}
    result = _materialize(p, tmp_path, ["word_count"])
    assert result.success
    assert set(materialized(result)) == {"pretrain_qa/word_count"}
    after = storage.current(p.asset_name("word_count"))
    assert after["published_at"] > before["word_count"]["published_at"]
    assert after["tables"]["table"]["content_hash"] == before["word_count"]["tables"]["table"]["content_hash"]
    assert after["lineage"]["upstream"] == {
        "pretrain_qa__content_null": before["content_null"]["lineage"]["content_hash"]
    }
    for other in ("content_null", "symbol_ratio"):
        assert storage.current(p.asset_name(other)) == before[other]


def _checked_pipeline(tmp_path: Path, max_words: int) -> Pipeline:
    src = tmp_path / "in.jsonl"
    texts = ["Some Words Here And There " * k for k in range(1, 8)] + ["x", "Some Words Here And There "]
    src.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    return Pipeline(
        "gate",
        Source(str(src)),
        [
            Step("words", WordNumberFilter(min_words=5, max_words=1000)),
            Step(
                "lower",
                TextMetricEvaluator(filter="WordNumberFilter", output_prefix="wc_"),
                schema={"wc_words": {"type": "integer", "non_nullable": True, "max_value": max_words}},
            ),
            Step("chars", CharNumberFilter(threshold=10)),
            Step("dedup", ExactDedupFilter()),
        ],
    )


def test_checks_of_a_fused_step_run_inside_the_stage(tmp_path: Path):
    p = _checked_pipeline(tmp_path, 10_000)
    assert plan_stages(p)[0].steps == ("words", "lower", "chars")
    result = _materialize(p, tmp_path, ["load", "words", "lower", "chars", "dedup"])
    assert result.success
    assert check_results(result) == {"gate/lower:output_schema": True}
    assert set(materialized(result)) == {f"gate/{s}" for s in ("load", "words", "lower", "chars", "dedup")}


def test_blocking_check_mid_stage_stops_the_steps_after_it(tmp_path: Path):
    p = _checked_pipeline(tmp_path, 6)  # documents have up to 35 words: the check fails
    result = _materialize(p, tmp_path, ["load", "words", "lower", "chars", "dedup"])
    assert not result.success
    assert check_results(result) == {"gate/lower:output_schema": False}
    assert set(materialized(result)) == {"gate/load", "gate/words", "gate/lower"}
    from dataflow_dagster.core.storage import Storage

    storage = Storage(tmp_path)
    assert storage.current("gate__chars") is None and storage.current("gate__dedup") is None
    assert storage.current("gate__lower") is not None  # published, then judged, as an unfused step


def test_audit_and_diff_read_fused_steps_through_their_views(tmp_path: Path):
    """The event log records each fused step's view; the audit re-hashes it and replays the chain
    step by step (unfused) to the same hashes; a diff between two runs reads the views."""
    from dagster import instance_for_test

    from dataflow_dagster.core.audit import audit_asset
    from dataflow_dagster.core.diff import diff_asset
    from dataflow_dagster.core.storage import Storage

    p = reference_pipeline()
    src = tmp_path / "pt.jsonl"
    rows = Path(p.source.path).read_text(encoding="utf-8").splitlines()
    src.write_text("\n".join(rows[:8]) + "\n", encoding="utf-8")
    p.source.path = str(src)
    (tmp_path / "home").mkdir()
    with instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        assert _materialize(p, tmp_path / "s", ["load", *STAGE1], instance).success
        src.write_text("\n".join(rows) + "\n", encoding="utf-8")
        assert _materialize(p, tmp_path / "s", ["load", *STAGE1], instance).success
        storage = Storage(tmp_path / "s")
        result = audit_asset(p, "symbol_ratio", storage, instance=instance, scratch_dir=tmp_path / "scratch")
        assert result.ok, result.to_markdown()
        assert [a.step for a in result.steps] == ["load", *STAGE1]
        assert all(a.origin == "event_log" and a.reproduced and a.stored_hash == a.recorded_hash for a in result.steps)
        d = diff_asset(
            storage, "pretrain_qa__word_count", instance=instance, asset_key=AssetKey(["pretrain_qa", "word_count"])
        )
        assert d.added > 0 and d.removed == 0
        assert d.added + d.unchanged == storage.current_ref("pretrain_qa__word_count").row_count


def test_rule_stages_share_one_execution_step_and_a_failed_check_between_them_stops_the_rest(tmp_path: Path):
    """source + words/lower (fused stage 1) + dedup (stage 2, never fused) + chars (stage 3) are one
    group: one execution step. dedup's blocking check fails, so stage 3 is neither published nor
    reported, as when dedup was an execution step of its own."""
    src = tmp_path / "in.jsonl"
    texts = ["Some Words Here And There " * k for k in range(1, 6)] + ["Some Words Here And There "]
    src.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")

    def pipe(max_words: int) -> Pipeline:
        return Pipeline(
            "grp",
            Source(str(src)),
            [
                Step("words", WordNumberFilter(min_words=1, max_words=1000)),
                Step("lower", TextMetricEvaluator(filter="WordNumberFilter", output_prefix="wc_")),
                Step(
                    "dedup",
                    ExactDedupFilter(),
                    schema={"wc_words": {"type": "integer", "non_nullable": True, "max_value": max_words}},
                ),
                Step("chars", CharNumberFilter(threshold=10)),
            ],
        )

    from dataflow_dagster.core.stages import plan_groups

    ok = pipe(10_000)
    (group,) = plan_groups(ok)
    assert group.with_source and group.steps == ("words", "lower", "dedup", "chars")
    steps = ["load", "words", "lower", "dedup", "chars"]
    result = _materialize(ok, tmp_path / "ok", steps)
    assert result.success and _step_keys(result) == ["grp__stage1_to_stage3"]
    assert set(materialized(result)) == {f"grp/{s}" for s in steps}
    assert check_results(result) == {"grp/dedup:output_schema": True}

    bad = pipe(6)  # kept texts have up to 25 words: dedup's check fails
    result = _materialize(bad, tmp_path / "bad", steps)
    assert not result.success
    assert check_results(result) == {"grp/dedup:output_schema": False}
    assert set(materialized(result)) == {"grp/load", "grp/words", "grp/lower", "grp/dedup"}
    from dataflow_dagster.core.storage import Storage

    storage = Storage(tmp_path / "bad")
    assert storage.current("grp__dedup") is not None and storage.current("grp__chars") is None
