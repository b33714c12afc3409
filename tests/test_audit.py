"""Lineage audits: a materialised chain verifies and replays; tampering and recipe drift are named."""

import json
import os
from pathlib import Path

import duckdb
import pytest
from dagster import instance_for_test

from dataflow_dagster.core.audit import audit_asset
from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from dataflow_dagster.core.storage import Storage
from operators.general_text.dedup import ExactDedupFilter
from operators.general_text.heuristics import ContentNullFilter, WordNumberFilter
from tests.helpers import defs_for, run_job

TEXTS = [
    "the quick brown fox jumps over the lazy dog",
    "too short",
    "",
    "the quick brown fox jumps over the lazy dog",
    "a reproducible audit replays every step of the chain",
    "pack my box with five dozen liquor jugs now",
]


@pytest.fixture
def src(tmp_path: Path) -> Path:
    f = tmp_path / "rows.jsonl"
    f.write_text("".join(json.dumps({"text": t, "n": i}) + "\n" for i, t in enumerate(TEXTS)))
    return f


def rule_pipeline(src: Path, min_words: int = 3) -> Pipeline:
    return Pipeline(
        "aud",
        Source(str(src), required_columns=["text"]),
        [
            Step("nonnull", ContentNullFilter()),
            Step("words", WordNumberFilter(min_words=min_words)),
            Step("dedup", ExactDedupFilter()),
        ],
    )


def _instance(tmp_path: Path):
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    return instance_for_test(temp_dir=str(home))


def _tamper(path: str) -> None:
    tmp = path + ".tmp.parquet"
    con = duckdb.connect()
    sql = f"SELECT * REPLACE (upper(text) AS text) FROM read_parquet('{path}')"
    con.execute(f"COPY ({sql}) TO '{tmp}' (FORMAT parquet)")
    con.close()
    os.replace(tmp, path)


def test_audit_passes_then_names_the_tampered_table(tmp_path: Path, src: Path):
    root = tmp_path / ".dataflow"
    pipe = rule_pipeline(src)
    with _instance(tmp_path) as instance:
        assert run_job(defs_for([pipe], root), "aud_job", instance).success
        result = audit_asset(pipe, "dedup", Storage(root), instance=instance)
        assert result.ok, result.render(plain=True)
        assert [s.step for s in result.steps] == ["load", "nonnull", "words", "dedup"]
        assert all(s.origin == "event_log" and s.reproduced and s.stored_hash == s.recorded_hash for s in result.steps)
        assert result.exit_code == 0
        from dataflow_dagster.cli.lineage_cmds import audit_definitions

        via_defs = audit_definitions(defs_for([pipe], root), "aud/dedup", instance=instance)
        assert via_defs.ok and [s.recorded_hash for s in via_defs.steps] == [s.recorded_hash for s in result.steps]

        _tamper(result.steps[2].snapshot)
        bad = audit_asset(pipe, "dedup", Storage(root), instance=instance)
        assert not bad.ok and bad.exit_code == 1
        # nonnull and words run as one fused stage: one snapshot file holds both tables (views over it),
        # so tampering with it changes both, and the audit names both
        assert [(f.asset, f.check) for f in bad.failures()] == [
            ("aud__nonnull", "stored_table"),
            ("aud__words", "stored_table"),
        ]
        assert bad.first_divergence is None  # the recorded chain still reproduces: only the stored file changed
        js, md = bad.write(tmp_path / "reports")
        assert json.loads(js.read_text())["ok"] is False
        assert "aud__words" in md.read_text() and "aud__words" in bad.render(plain=True)
        assert "aud__words" in bad.summary()


def test_config_change_names_the_step_and_cause(tmp_path: Path, src: Path):
    root = tmp_path / ".dataflow"
    with _instance(tmp_path) as instance:
        assert run_job(defs_for([rule_pipeline(src)], root), "aud_job", instance).success
        result = audit_asset(rule_pipeline(src, min_words=10), "dedup", Storage(root), instance=instance)
    assert not result.ok
    div = result.first_divergence
    assert div is not None and div.asset == "aud__words"
    assert result.causes(div) == ["config"]
    assert [s.reproduced for s in result.steps] == [True, True, False, False]


def test_changed_source_file_is_named_without_dagster(tmp_path: Path, src: Path):
    from dataflow_dagster.core.runner import run_source, run_step

    storage = Storage(tmp_path / ".dataflow")
    pipe = rule_pipeline(src)
    run_source(storage, pipe)
    for s in pipe.steps:
        run_step(storage, pipe, s.name)
    assert audit_asset(pipe, "words", storage).ok  # from <root>/history when there is no event log
    with open(src, "a") as fh:
        fh.write(json.dumps({"text": "one more row arrives after the materialisation", "n": 99}) + "\n")
    result = audit_asset(pipe, "words", storage)
    assert not result.ok
    assert result.first_divergence.asset == "aud__load"
    assert result.causes(result.first_divergence) == ["source_file"]


def test_missing_upstream_version_breaks_the_chain(tmp_path: Path, src: Path):
    from dataflow_dagster.core.runner import run_source, run_step

    storage = Storage(tmp_path / ".dataflow")
    pipe = rule_pipeline(src)
    run_source(storage, pipe)
    run_step(storage, pipe, "nonnull")
    (storage.root / "history" / "aud__load.jsonl").unlink()
    result = audit_asset(pipe, "nonnull", storage)
    assert not result.ok
    assert [(f.asset, f.check) for f in result.failures()] == [("aud__load", "chain")]


class Counting:
    """The real client, counting the requests that reach it."""

    def __init__(self, inner) -> None:
        self.inner, self.calls = inner, 0

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    def generate(self, requests):
        self.calls += len(requests)
        return self.inner.generate(requests)


def llm_pipeline(src: Path, prompt=None) -> Pipeline:
    from operators.general_text.llm_qa import TopicClassifier

    return Pipeline(
        "audllm",
        Source(str(src), required_columns=["text"]),
        [
            Step("words", WordNumberFilter(min_words=9)),
            Step("topic", TopicClassifier(input_key="text", min_parsed_share=0.0), prompt=prompt),
        ],
    )


def test_llm_chain_replays_from_cache_and_a_prompt_edit_is_named(tmp_path: Path, src: Path, local_llm):
    from operators.general_text.llm_qa import TOPIC_PROMPT

    root = tmp_path / ".dataflow"
    pipe = llm_pipeline(src)
    with _instance(tmp_path) as instance:
        assert run_job(defs_for([pipe], root), "audllm_job", instance).success
        counting = Counting(local_llm)
        result = audit_asset(pipe, "topic", Storage(root), instance=instance, llm=counting)
        assert result.ok, result.render(plain=True)
        assert [s.reproduced for s in result.steps] == [True, True, True]
        assert counting.calls == 0 and result.llm_calls == 0

        edited = TOPIC_PROMPT.with_text(TOPIC_PROMPT.template + "\nAnswer with the closest subject.")
        drift = audit_asset(llm_pipeline(src, prompt=edited), "topic", Storage(root), instance=instance, llm=counting)
    assert counting.calls == 0
    assert not drift.ok
    assert drift.first_divergence.asset == "audllm__topic"
    assert drift.causes(drift.first_divergence) == ["prompt"]
    assert "prompt" in drift.to_markdown()


def test_auditing_definitions_a_never_reads_definitions_b(tmp_path: Path):
    """Two code locations in one process with a pipeline of the same name: the audit of A uses A's
    pipeline and source, even when B was built last (a process-global table resolved B's)."""
    from dataflow_dagster.cli.lineage_cmds import audit_definitions

    a_src, b_src = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a_src.write_text("".join(json.dumps({"text": t}) + "\n" for t in ["one two three four", "alpha beta gamma"]))
    a_root, b_root = tmp_path / "a_store", tmp_path / "b_store"
    with _instance(tmp_path) as instance:
        defs_a = defs_for([rule_pipeline(a_src)], a_root)
        assert run_job(defs_a, "aud_job", instance).success
        defs_b = defs_for([rule_pipeline(b_src)], b_root)  # built later; b.jsonl does not even exist
        result = audit_definitions(defs_a, "aud/dedup", instance=instance)
        assert result.ok, result.render(plain=True)
        assert not b_root.exists() and not b_src.exists()
        assert defs_b is not None
