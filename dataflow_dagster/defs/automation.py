"""Freshness: schedules, a sensor on each pipeline's raw data, automation conditions.

Scheduled refreshes are cheap because steps are incremental (only unseen rows are processed), so a
sensor may simply request a run whenever a source file changes or a new file lands. Following
Dagster's convention, schedules and sensors are created STOPPED: a user turns them on in the UI (or
passes ``running=True``); automation conditions are opt-in per factory call.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagster import (
    AutomationCondition,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    DynamicPartitionsDefinition,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    schedule,
    sensor,
)

from dataflow_dagster.core.partitions import FilePartitions, HashShards, dynamic_name
from dataflow_dagster.core.pipeline import Pipeline


@dataclass(frozen=True)
class AutomationOptions:
    """What the factory adds for freshness. Everything is off (or stopped) unless asked for."""

    eager: bool = False  # each step re-materialises when its upstream did (AutomationCondition.eager)
    on_cron: str | None = None  # instead of eager: on_cron(cron) condition on every asset
    schedule_cron: str | None = None  # one schedule per pipeline running its job
    sensor: bool = False  # one sensor per pipeline watching its source file / folder
    sensor_interval_s: int = 30
    running: bool = False  # default status of schedules and sensors (Dagster's default: stopped)


def asset_condition(options: AutomationOptions | None) -> AutomationCondition | None:
    if options is None:
        return None
    if options.on_cron:
        return AutomationCondition.on_cron(options.on_cron)
    return AutomationCondition.eager() if options.eager else None


def _signature(path: Path) -> str:
    st = path.stat()
    return f"{st.st_mtime_ns}:{st.st_size}"


def _watched(pipeline: Pipeline) -> dict[str, str]:
    """File name (or '' for a single source file) -> signature of what the pipeline reads now."""
    path = pipeline.source_path()
    if isinstance(pipeline.partitions, FilePartitions):
        return {name: _signature(path / name) for name in pipeline.partitions.files(path)}
    return {"": _signature(path)} if path.exists() else {}


def source_sensor(pipeline: Pipeline, job_name: str, options: AutomationOptions) -> SensorDefinition:
    """New or changed raw files → run requests for exactly the partitions (or rows) they touch.

    File partitions: a new file becomes a dynamic partition and one run; a grown file re-runs its
    partition, where the row memo processes only the new rows. Unpartitioned or hash-sharded
    sources: a changed file re-runs the pipeline (every shard), again only new rows do work.
    """
    status = DefaultSensorStatus.RUNNING if options.running else DefaultSensorStatus.STOPPED

    @sensor(
        name=f"{pipeline.name}_source_sensor",
        job_name=job_name,
        default_status=status,
        minimum_interval_seconds=options.sensor_interval_s,
        description=f"Requests runs of {job_name} when files under {pipeline.source.path} appear or change",
    )
    def _sensor(context: SensorEvaluationContext) -> SensorResult | SkipReason:
        seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        now = _watched(pipeline)
        changed = sorted(k for k, sig in now.items() if seen.get(k) != sig)
        if not changed:
            return SkipReason(f"no new or changed files under {pipeline.source.path}")
        cursor = json.dumps(now, sort_keys=True)
        spec = pipeline.partitions
        if isinstance(spec, FilePartitions):
            new = [k for k in changed if k not in seen]
            existing = set(context.instance.get_dynamic_partitions(dynamic_name(pipeline)))
            add = [k for k in new if k not in existing]
            requests = [RunRequest(run_key=f"{k}:{now[k]}", partition_key=k) for k in changed]
            adds = [DynamicPartitionsDefinition(name=dynamic_name(pipeline)).build_add_request(add)] if add else []
            return SensorResult(run_requests=requests, dynamic_partitions_requests=adds, cursor=cursor)
        sig = now[""]
        if isinstance(spec, HashShards):
            requests = [RunRequest(run_key=f"{k}:{sig}", partition_key=k) for k in spec.partition_keys()]
        else:
            requests = [RunRequest(run_key=sig)]
        return SensorResult(run_requests=requests, cursor=cursor)

    return _sensor


def pipeline_schedule(pipeline: Pipeline, job_name: str, options: AutomationOptions) -> ScheduleDefinition:
    """A cron refresh of the whole pipeline: every partition gets a run request."""
    status = DefaultScheduleStatus.RUNNING if options.running else DefaultScheduleStatus.STOPPED

    @schedule(
        name=f"{pipeline.name}_schedule",
        job_name=job_name,
        cron_schedule=options.schedule_cron or "0 3 * * *",
        default_status=status,
        description=f"Refreshes {pipeline.name}; only new rows are processed",
    )
    def _schedule(context: ScheduleEvaluationContext) -> Iterator[RunRequest]:
        yield from _all_partition_requests(pipeline, context)

    return _schedule


def _all_partition_requests(pipeline: Pipeline, context: Any) -> Iterator[RunRequest]:
    spec = pipeline.partitions
    try:
        tick = context.scheduled_execution_time.isoformat()
    except Exception:  # evaluated by hand (tests, `dagster schedule preview`): no tick time is set
        tick = "manual"
    if spec is None:
        yield RunRequest(run_key=tick)
        return
    keys = (
        spec.partition_keys()
        if isinstance(spec, HashShards)
        else context.instance.get_dynamic_partitions(dynamic_name(pipeline))
    )
    for k in keys:
        yield RunRequest(run_key=f"{k}:{tick}", partition_key=k)


def automation_definitions(
    pipelines: list[Pipeline], options: AutomationOptions | None
) -> tuple[list[ScheduleDefinition], list[SensorDefinition]]:
    """Schedules and sensors for ``pipelines``, naming each pipeline's job ``<pipeline>_job``."""
    if options is None:
        return [], []
    schedules = [pipeline_schedule(p, f"{p.name}_job", options) for p in pipelines] if options.schedule_cron else []
    sensors = [source_sensor(p, f"{p.name}_job", options) for p in pipelines] if options.sensor else []
    return schedules, sensors
