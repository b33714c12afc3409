"""The text_sft pipeline materialised end to end by Dagster on the embedded model."""

import json
from pathlib import Path

import duckdb

from assets.text_sft import DATA_DIR, text_sft_pipeline
from dataflow_dagster.core.storage import Storage
from dataflow_dagster.defs.factory import build_definitions
from dataflow_dagster.defs.resources import StorageResource


def test_text_sft_pipeline_end_to_end(tmp_path: Path) -> None:
    rows = [json.loads(x) for x in (DATA_DIR / "pt_input.jsonl").read_text().splitlines() if x.strip()][:2]
    rows.append({"raw_content": "   "})
    src = tmp_path / "pt.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    pipe = text_sft_pipeline(src, min_quality=1)
    defs = build_definitions([pipe], storage=StorageResource(root=str(tmp_path / ".dataflow")))
    result = defs.resolve_job_def("text_sft_job").execute_in_process()
    assert result.success
    checks = {(e.asset_key.path[-1], e.check_name): e.passed for e in result.get_asset_check_evaluations()}
    assert ("judge", "parsed_share") in checks and all(checks.values()), checks
    storage = Storage(tmp_path / ".dataflow")

    def table(step: str) -> str:
        ref = storage.current(f"text_sft__{step}")
        assert ref is not None, step
        return f"read_parquet('{ref['tables']['table']['path']}')"

    con = duckdb.connect()
    judged = con.execute(f"SELECT instruction, output, sft_quality, _parent_ids FROM {table('judge')}").fetchall()
    assert 1 <= len(judged) <= 2
    for instruction, output, score, parents in judged:
        assert instruction and output and len(parents) == 1
        assert score is None or 1 <= score <= 5
    kept = con.execute(f"SELECT count(*) FROM {table('keep_good')}").fetchall()[0][0]
    assert kept == sum(1 for *_, s, _ in judged if s is not None)
    cont = con.execute(f"SELECT instruction, input, output FROM {table('continuation')}").fetchall()
    assert cont and all(i == "Continue the following text." and a and b for i, a, b in cont)
