"""End-to-end: the code pipeline materialised by Dagster on the embedded model.

Three source files, two of which the rule filters reject (auto-generated, mostly non-letters), so
one file goes through the five LLM steps and the sandbox. The small model's code rarely passes its
own tests; the test proves the shape: every asset materialised, every check evaluated and recorded,
and every generated program given a sandbox verdict.
"""

import json
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance

from assets.code import code_pipeline
from dataflow_dagster.core.storage import Storage
from dataflow_dagster.defs.factory import build_definitions
from dataflow_dagster.defs.resources import LocalLLMResource, StorageResource
from operators.code.sandbox import STATUSES

DATA = Path(__file__).resolve().parents[1] / "assets" / "data"


@pytest.mark.slow
def test_code_pipeline_end_to_end(tmp_path):
    files = {json.loads(x)["id"]: json.loads(x) for x in (DATA / "code_input.jsonl").read_text().splitlines()}
    src = tmp_path / "code.jsonl"
    src.write_text("".join(json.dumps(files[k]) + "\n" for k in ("good_code_001", "autogen_001", "long_file_001")))
    p = code_pipeline(src, max_code_chars=300, min_parsed_share=0.0, exec_workers=2)
    root = tmp_path / ".df"
    defs = build_definitions([p], llm=LocalLLMResource(n_threads=1), storage=StorageResource(root=str(root)))
    result = defs.resolve_job_def("code_job").execute_in_process(
        instance=DagsterInstance.ephemeral(), raise_on_error=False
    )
    assert result.success

    materialised = {e.asset_key.path[-1] for e in result.get_asset_materialization_events()}
    assert materialised == {"load", *[s.name for s in p.steps]}
    checks = {(e.asset_key.path[-1], e.check_name): e for e in result.get_asset_check_evaluations()}
    expected = {("quality", "parsed_share"), ("execute", "every_row_reported"), ("execute", "pass_share")}
    assert expected <= set(checks)
    assert checks[("execute", "every_row_reported")].passed  # a verdict for every program, whatever the model wrote
    for key in expected:
        assert "value" in checks[key].metadata

    st = Storage(root)
    con = duckdb.connect()

    def rows(step: str, part: str = "table") -> list[dict]:
        ref = st.current_ref(p.asset_name(step), part)
        assert ref is not None, f"{step} has no {part} table"
        return con.sql(f"SELECT * FROM {ref.read_sql()}").to_arrow_table().to_pylist()

    assert [r["id"] for r in rows("autogen", "rejected")] == ["autogen_001"]
    assert [r["id"] for r in rows("composition", "rejected")] == ["long_file_001"]
    assert [r["id"] for r in rows("file_type")] == ["good_code_001"]
    instr = rows("instruction")
    for r in instr:
        assert r["_parent_ids"] and r["instruction"]
    executed = rows("execute")
    assert len(executed) == len(rows("tests"))
    assert all(r["exec_status"] in STATUSES for r in executed)
    lineage = st.current(p.asset_name("execute"))["lineage"]
    assert sum(lineage["stats"]["statuses"].values()) == len(executed)
    assert all(r["exec_status"] == "pass" for r in rows("keep_passing"))
