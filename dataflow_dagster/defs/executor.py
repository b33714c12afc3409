"""The executor our jobs and the asset graph run with: Dagster's default executor (multiprocess, or
in-process when run config asks for it), with multiprocess steps forked from a preloaded
``forkserver`` rather than spawned.

Under ``spawn`` (Dagster's default start method) every execution step is a fresh interpreter that
imports Dagster, the engine and the code location again: about 2-3 s per step on a laptop core, more
than the rule work of most steps. Dagster documents ``start_method: forkserver`` for exactly this:
the server imports the job's module once and each step process is forked from it. Still one process
per step (isolation, parallel LLM branches, a crash kills one step); only the start is cheaper. Run
config keeps Dagster's shape: ``execution: {config: {in_process: {}}}`` runs in process (``dg launch``
does this), ``{multiprocess: {start_method: {spawn: {}}}}`` restores spawn, and ``max_concurrent``,
``tag_concurrency_limits`` and retries are Dagster's own.
"""

import multiprocessing
from typing import Any

from dagster import ExecutorDefinition, multi_or_in_process_executor


def _default_start_method(config: dict[str, Any]) -> dict[str, Any]:
    if "in_process" in config:
        return config
    multiprocess = dict(config.get("multiprocess") or {})
    if not multiprocess.get("start_method") and "forkserver" in multiprocessing.get_all_start_methods():
        multiprocess["start_method"] = {"forkserver": {}}  # not on Windows, which has no forkserver
    return {"multiprocess": multiprocess}


def _build() -> ExecutorDefinition:
    return multi_or_in_process_executor.configured(
        _default_start_method,
        name="multi_or_in_process_executor",
        config_schema=multi_or_in_process_executor.config_schema.as_field(),  # with its default
    )


# One object for every code location built in a process: Definitions.merge accepts the same executor.
DEFAULT_EXECUTOR = _build()


def default_executor() -> ExecutorDefinition:
    """Dagster's ``multi_or_in_process_executor`` whose multiprocess start method defaults to
    forkserver (same config schema)."""
    return DEFAULT_EXECUTOR
