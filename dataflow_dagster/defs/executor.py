"""The executor our jobs and the asset graph run with: Dagster's multiprocess executor, with its
steps forked from a preloaded ``forkserver`` rather than spawned.

Under ``spawn`` (Dagster's default) every execution step is a fresh interpreter that imports Dagster,
the engine and the code location again: about 2-3 s per step on a laptop core, more than the rule
work of most steps. Dagster documents ``start_method: forkserver`` for exactly this: the server
imports the job's module once and each step process is forked from it. Still one process per step
(isolation, parallel LLM branches, a crash kills one step); only the start is cheaper. Run config can
still choose: ``execution: {config: {start_method: {spawn: {}}}}`` restores spawn, and every other
multiprocess setting (``max_concurrent``, ``tag_concurrency_limits``, retries) is Dagster's own.
"""

import multiprocessing
from typing import Any

from dagster import ExecutorDefinition, multiprocess_executor


def _default_start_method(config: dict[str, Any]) -> dict[str, Any]:
    if config.get("start_method") or "forkserver" not in multiprocessing.get_all_start_methods():
        return config  # chosen in run config, or a platform without forkserver (Windows)
    return {**config, "start_method": {"forkserver": {}}}


def _build() -> ExecutorDefinition:
    return multiprocess_executor.configured(
        _default_start_method,
        name="multiprocess",
        config_schema=multiprocess_executor.config_schema.as_field().config_type,
    )


# One object for every code location built in a process: Definitions.merge accepts equal executors.
DEFAULT_EXECUTOR = _build()


def default_executor() -> ExecutorDefinition:
    """``multiprocess_executor`` whose start method defaults to forkserver (same config schema)."""
    return DEFAULT_EXECUTOR
