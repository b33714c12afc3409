"""LLM steps under Dagster: error-share check, cost and dispatch metadata, and no secret anywhere."""

import json
from pathlib import Path
from typing import Any

import pytest
from dagster import AssetKey, DagsterInstance, EnvVar
from fault_server import fault_server

from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from dataflow_dagster.defs.factory import build_definitions
from dataflow_dagster.defs.resources import OpenAIResource, StorageResource
from operators.general_text.llm_qa import TopicClassifier

CANARY = "sk-canary-7f3e9b21d4c8a6e0-DO-NOT-LEAK"


def _pipe(tmp_path: Path, n: int, max_error_share: float) -> Pipeline:
    f = tmp_path / "in.jsonl"
    f.write_text("".join(json.dumps({"text": f"Passage {i} about enzymes and cells."}) + "\n" for i in range(n)))
    return Pipeline("llmchk", Source(str(f)), [Step("topic", TopicClassifier(max_error_share=max_error_share))])


def _run(pipe: Pipeline, root: Path, llm: OpenAIResource, instance: DagsterInstance | None = None) -> Any:
    defs = build_definitions([pipe], llm=llm, storage=StorageResource(root=str(root)))
    job = defs.resolve_job_def("llmchk_job")
    return job.execute_in_process(instance=instance or DagsterInstance.ephemeral(), raise_on_error=False)


def _meta(result: Any, key: str) -> dict[str, Any]:
    for ev in result.get_asset_materialization_events():
        m = ev.event_specific_data.materialization
        if m.asset_key.to_user_string() == key:
            return {k: getattr(v, "value", v) for k, v in m.metadata.items()}
    raise KeyError(key)


def _checks(result: Any) -> dict[str, Any]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


@pytest.mark.parametrize(("threshold", "passes"), [(0.02, False), (0.9, True)])
def test_error_share_check_and_cost_metadata(tmp_path, threshold, passes):
    pipe = _pipe(tmp_path, 60, threshold)
    with fault_server(fault_rate=0.3, latency=0.0, hang_s=1.0, seed=3) as fs:
        llm = OpenAIResource(
            base_url=fs.base_url,
            model="fault",
            max_retries=0,
            max_reasks=0,
            timeout_s=0.3,
            prices={"fault": [2.0, 6.0]},
        )
        result = _run(pipe, tmp_path / ".dataflow", llm)
    meta = _meta(result, "llmchk/topic")
    assert meta["errors_rows"] > 0  # 30% faults, no retries: some rows failed for good
    share = _checks(result)["error_share"]
    assert share.passed is passes
    assert share.metadata["value"].value == pytest.approx(meta["errors_rows"] / 60)
    expected = (meta["prompt_tokens"] * 2.0 + meta["completion_tokens"] * 6.0) / 1e6
    assert meta["cost_usd"] == pytest.approx(expected) and meta["cost_usd"] > 0
    # every error row is a failed request; a garbled answer asked again once may have failed twice
    reasked = meta["lineage"]["stats"]["llm_reasked_rows"]
    assert meta["errors_rows"] <= meta["llm_failed"] <= meta["errors_rows"] + reasked
    assert meta["llm_attempts"] >= 60
    assert meta["lineage"]["model"]["price_per_1m"] == {"input": 2.0, "output": 6.0}


def test_unpriced_model_says_so(tmp_path):
    pipe = _pipe(tmp_path, 5, 0.5)
    with fault_server(fault_rate=0.0, latency=0.0) as fs:
        result = _run(pipe, tmp_path / ".dataflow", OpenAIResource(base_url=fs.base_url, model="fault"))
    assert result.success
    meta = _meta(result, "llmchk/topic")
    assert meta["cost_usd"] == "unpriced" and _checks(result)["error_share"].passed


def test_fleet_spreads_load_over_servers(tmp_path):
    pipe = _pipe(tmp_path, 40, 0.5)
    with fault_server(fault_rate=0.0, latency=0.02) as a, fault_server(fault_rate=0.0, latency=0.02) as b:
        llm = OpenAIResource(base_urls=[a.base_url, b.base_url], model="fault", max_concurrency=8)
        result = _run(pipe, tmp_path / ".dataflow", llm)
        na, nb = len(a.stats()["prompts"]), len(b.stats()["prompts"])
    assert result.success and na + nb == 40
    assert min(na, nb) >= 10  # least-in-flight routing uses both


def test_api_key_never_lands_in_event_log_logs_tables_or_cache(tmp_path, monkeypatch, caplog, capfd):
    import hashlib
    import logging

    monkeypatch.setenv("DF_CANARY_KEY", CANARY)
    caplog.set_level(logging.DEBUG)
    home = tmp_path / "dagster_home"
    home.mkdir()
    pipe = _pipe(tmp_path, 8, 0.5)
    root = tmp_path / ".dataflow"
    with DagsterInstance.local_temp(str(home)) as instance, fault_server(fault_rate=0.25, latency=0.0) as fs:
        llm = OpenAIResource(
            base_url=fs.base_url,
            model="fault",
            api_key=EnvVar("DF_CANARY_KEY"),
            max_retries=3,
            backoff_base_s=0.01,
            timeout_s=0.5,
        )
        result = _run(pipe, root, llm, instance)
        seen_auth = fs.stats()["auth_sha256"]
        mats = instance.fetch_materializations(AssetKey(["llmchk", "topic"]), limit=10).records
        all_logs = instance.all_logs(result.run_id)
    assert result.success
    # the key was really used...
    assert hashlib.sha256(f"Bearer {CANARY}".encode()).hexdigest() in seen_auth
    # ...and is nowhere we keep anything
    assert mats and all(CANARY not in repr(m.asset_materialization.metadata) for m in mats)
    assert len(all_logs) > 10 and all(CANARY not in repr(e) for e in all_logs)
    assert CANARY not in caplog.text
    out, err = capfd.readouterr()
    assert CANARY not in out and CANARY not in err
    needle = CANARY.encode()
    files = [p for p in [*home.rglob("*"), *root.rglob("*")] if p.is_file()]
    assert any(p.name == "llm_cache.sqlite" for p in files) and any(p.suffix == ".parquet" for p in files)
    assert any(p.suffix == ".db" for p in files)  # the sqlite event log of the instance
    leaked = [str(p) for p in files if needle in p.read_bytes()]
    assert leaked == []


def test_managed_vllm_server_that_cannot_start_fails_the_run_with_its_log(tmp_path):
    """This venv has no vllm: the server process dies at once and the error quotes its log."""
    import sys

    from dataflow_dagster.defs.resources import VLLMServerResource

    pipe = _pipe(tmp_path, 2, 0.5)
    llm = VLLMServerResource(
        model="smollm2",
        model_path=str(tmp_path / "weights"),
        python=sys.executable,
        log_dir=str(tmp_path / "logs"),
        startup_timeout_s=60,
    )
    result = _run(pipe, tmp_path / ".dataflow", llm)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_failure)
    text = str(failure.event_specific_data.error)
    assert "exited with code" in text and "vllm" in text.lower()
    logs = list((tmp_path / "logs").glob("vllm-server-*.log"))
    assert logs and "No module named" in logs[0].read_text()
