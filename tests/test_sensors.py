"""Freshness: a sensor turns dropped files into runs of exactly the new partition (or rows);
schedules and sensors are stopped by default; eager automation makes downstream follow upstream."""

import datetime
import json
import os
from pathlib import Path

from dagster import (
    AssetKey,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    build_schedule_context,
    build_sensor_context,
    evaluate_automation_conditions,
    instance_for_test,
)

from dataflow_dagster.core.partitions import FilePartitions
from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from dataflow_dagster.core.storage import AssetAddress, Storage
from dataflow_dagster.defs.automation import AutomationOptions
from dataflow_dagster.defs.factory import build_definitions
from dataflow_dagster.defs.resources import StorageResource
from operators.general_text.dedup import ExactDedupFilter
from operators.general_text.heuristics import WordNumberFilter
from tests.helpers import materialized

OPTIONS = AutomationOptions(sensor=True, schedule_cron="0 * * * *", eager=True)


def _drop(path: Path, texts: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("." + path.name + ".tmp")  # written whole, then renamed, like a well-behaved producer
    tmp.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    os.replace(tmp, path)


def _pipe(src: Path, files: bool) -> Pipeline:
    return Pipeline(
        "fresh",
        Source(str(src), required_columns=["text"]),
        [Step("words", WordNumberFilter(min_words=3)), Step("dedup", ExactDedupFilter())],
        partitions=FilePartitions("*.jsonl") if files else None,
    )


def _tick(defs, instance, cursor):
    # by instance ref, as the daemon does: only then does the tick see partitions it adds itself
    sensor = defs.get_sensor_def("fresh_source_sensor")
    return sensor.evaluate_tick(build_sensor_context(instance_ref=instance.get_ref(), cursor=cursor, definitions=defs))


def _execute(defs, instance, request):
    job = defs.resolve_job_def("fresh_job")
    result = job.execute_in_process(instance=instance, partition_key=request.partition_key, tags=request.tags)
    assert result.success
    return result


def test_dropped_file_runs_only_its_new_partition(tmp_path: Path):
    raw, root = tmp_path / "raw", tmp_path / ".dataflow"
    _drop(raw / "day1.jsonl", ["alpha beta gamma", "alpha beta gamma", "x"])
    _drop(raw / "notes.txt", ["not matched by the pattern"])
    defs = build_definitions([_pipe(raw, files=True)], storage=StorageResource(root=str(root)), automation=OPTIONS)
    assert defs.get_sensor_def("fresh_source_sensor").default_status == DefaultSensorStatus.STOPPED
    assert defs.get_schedule_def("fresh_schedule").default_status == DefaultScheduleStatus.STOPPED
    home = tmp_path / "home"
    home.mkdir()
    with instance_for_test(temp_dir=str(home)) as instance:
        first = _tick(defs, instance, None)
        assert [r.partition_key for r in first.run_requests] == ["day1.jsonl"]
        assert [list(r.partition_keys) for r in first.dynamic_partitions_requests] == [["day1.jsonl"]]
        instance.add_dynamic_partitions("fresh_files", ["day1.jsonl"])
        _execute(defs, instance, first.run_requests[0])
        assert isinstance(_tick(defs, instance, first.cursor).skip_message, str)  # nothing new: skip

        published = Storage(root).current(AssetAddress("fresh__dedup", "day1.jsonl"))["published_at"]
        _drop(raw / "day2.jsonl", ["delta epsilon zeta", "one"])
        second = _tick(defs, instance, first.cursor)
        assert [r.partition_key for r in second.run_requests] == ["day2.jsonl"]
        instance.add_dynamic_partitions("fresh_files", ["day2.jsonl"])
        result = _execute(defs, instance, second.run_requests[0])
        assert {e.partition for e in result.get_asset_materialization_events()} == {"day2.jsonl"}
        assert Storage(root).current(AssetAddress("fresh__dedup", "day1.jsonl"))["published_at"] == published
        assert Storage(root).current_ref(AssetAddress("fresh__dedup", "day2.jsonl")).row_count == 1

        schedule = defs.get_schedule_def("fresh_schedule")
        when = datetime.datetime(2026, 1, 1, 3, tzinfo=datetime.UTC)
        context = build_schedule_context(
            instance=instance, scheduled_execution_time=when, repository_def=defs.get_repository_def()
        )
        tick = schedule.evaluate_tick(context)
        assert sorted(r.partition_key for r in tick.run_requests) == ["day1.jsonl", "day2.jsonl"]


def test_grown_source_file_refreshes_only_the_new_rows(tmp_path: Path):
    src, root = tmp_path / "raw" / "all.jsonl", tmp_path / ".dataflow"
    texts = [f"row number {i} has words" for i in range(50)]
    _drop(src, texts)
    defs = build_definitions([_pipe(src, files=False)], storage=StorageResource(root=str(root)), automation=OPTIONS)
    home = tmp_path / "home"
    home.mkdir()
    with instance_for_test(temp_dir=str(home)) as instance:
        first = _tick(defs, instance, None)
        assert len(first.run_requests) == 1
        _execute(defs, instance, first.run_requests[0])
        _drop(src, [*texts, "row number 7 has words", "a fresh row arrives today"])
        second = _tick(defs, instance, first.cursor)
        assert len(second.run_requests) == 1 and second.run_requests[0].run_key != first.run_requests[0].run_key
        mats = materialized(_execute(defs, instance, second.run_requests[0]))
    for step in ("words", "dedup"):
        assert mats[f"fresh/{step}"]["lineage"]["incremental"]["rows_processed"] == 2
    assert mats["fresh/load"]["rows_added"] == 2
    assert mats["fresh/dedup"]["rows_added"] == 1  # the repeated text was judged against the earlier rows


def test_eager_condition_requests_the_step_whose_upstream_updated(tmp_path: Path):
    src, root = tmp_path / "raw" / "all.jsonl", tmp_path / ".dataflow"
    _drop(src, ["one two three four", "five six seven eight"])
    defs = build_definitions([_pipe(src, files=False)], storage=StorageResource(root=str(root)), automation=OPTIONS)
    home = tmp_path / "home"
    home.mkdir()
    with instance_for_test(temp_dir=str(home)) as instance:
        before = evaluate_automation_conditions(defs=defs, instance=instance)
        assert before.total_requested == 0  # nothing upstream has happened yet
        defs.resolve_implicit_global_asset_job_def().get_subset(
            asset_selection={AssetKey(["fresh", "load"])}
        ).execute_in_process(instance=instance)
        result = evaluate_automation_conditions(defs=defs, instance=instance, cursor=before.cursor)
        requested = {k for k in ("words", "dedup") if result.get_requested_partitions(AssetKey(["fresh", k]))}
    assert result.total_requested == 2  # the whole chain below the updated source, in one tick
    assert requested == {"words", "dedup"}
