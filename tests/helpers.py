"""Small helpers shared by tests (not fixtures): running jobs in-process against a tmp storage."""

import contextlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
from dagster import DagsterInstance, Definitions

from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from dataflow_dagster.core.runner import run_source, run_step
from dataflow_dagster.core.storage import Storage
from dataflow_dagster.defs.factory import build_definitions
from dataflow_dagster.defs.resources import LLMResource, StorageResource
from operators.core.contract import Operator
from operators.core.llm import LLMClient


def defs_for(pipelines: list[Pipeline], root: Path, llm: LLMResource | None = None) -> Definitions:
    return build_definitions(pipelines, llm=llm, storage=StorageResource(root=str(root)))


def run_job(defs: Definitions, job_name: str, instance: DagsterInstance | None = None, **kwargs: Any) -> Any:
    job = defs.resolve_job_def(job_name)
    return job.execute_in_process(instance=instance or DagsterInstance.ephemeral(), raise_on_error=False, **kwargs)


def materialized(result: Any) -> dict[str, Any]:
    """asset key string -> metadata dict of its materialisation in ``result``."""
    out = {}
    for ev in result.get_asset_materialization_events():
        m = ev.event_specific_data.materialization
        out[m.asset_key.to_user_string()] = {k: getattr(v, "value", v) for k, v in m.metadata.items()}
    return out


def check_results(result: Any) -> dict[str, bool]:
    return {f"{e.asset_key.to_user_string()}:{e.check_name}": e.passed for e in result.get_asset_check_evaluations()}


@contextlib.contextmanager
def loopback_server(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """A threaded HTTP server for ``handler`` on 127.0.0.1; yields its ``/v1`` base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()


def run_steps(
    tmp_path: Path, rows: list[dict[str, Any]], ops: list[Operator], llm: LLMClient | None = None
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Run ``ops`` as a chain of steps s0, s1, ... through the real runner over ``rows`` (a JSONL
    source in tmp storage); per step, its published parts ("table", "rejected", "errors") as rows,
    plus "_stats" (what the operator returned) and "_cache" (the step's response-cache counters)."""
    import json

    src = tmp_path / "in.jsonl"
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    pipe = Pipeline("t", Source(str(src)), [Step(f"s{i}", op) for i, op in enumerate(ops)])
    storage = Storage(tmp_path / ".df")
    run_source(storage, pipe)
    con = duckdb.connect()
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for i in range(len(ops)):
        res = run_step(storage, pipe, f"s{i}", llm=llm)
        out[f"s{i}"] = {
            part: con.sql(f"SELECT * FROM {ref.read_sql()}").to_arrow_table().to_pylist()
            for part, ref in res.refs.items()
        }
        out[f"s{i}"]["_stats"] = [res.lineage.get("stats", {})]
        out[f"s{i}"]["_cache"] = [res.lineage.get("cache", {})]  # response-cache hits/misses of the step
    return out
