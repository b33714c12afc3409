"""The shipped function-calling pipeline (assets/function_calling.py, as listed in assets/definitions.py)
materialised by Dagster on the embedded model: every dialogue it outputs passes the tool-call checker.

Two source rows; everything else (steps, configs, thresholds) is the shipped pipeline's.
"""

import json
from pathlib import Path

import duckdb

from assets.definitions import PIPELINES
from assets.function_calling import DATA_DIR, function_calling_pipeline
from dataflow_dagster.core.storage import Storage
from operators.conversations.checker import check_dialogue
from tests.helpers import check_results, defs_for, run_job


def test_function_calling_pipeline_outputs_only_checked_dialogues(tmp_path: Path) -> None:
    shipped = next(p for p in PIPELINES if p.name == "function_calling")
    src = tmp_path / "chat.jsonl"
    src.write_text("".join(line + "\n" for line in (DATA_DIR / "func_call_chat.jsonl").read_text().splitlines()[:2]))
    pipe = function_calling_pipeline(src)
    assert pipe.describe()["steps"] == shipped.describe()["steps"]  # same steps and configs as shipped
    result = run_job(defs_for([pipe], tmp_path / ".dataflow"), "function_calling_job")
    assert result.success
    checks = check_results(result)
    assert checks["function_calling/check:invalid_dialogue_share"] is True, checks
    storage = Storage(tmp_path / ".dataflow")
    con = duckdb.connect()

    def rows(step: str, part: str = "table") -> list[dict]:
        ref = storage.current(f"function_calling__{step}")
        assert ref is not None, step
        return con.sql(f"SELECT * FROM read_parquet('{ref['tables'][part]['path']}')").to_arrow_table().to_pylist()

    dialogues, checked, judged = rows("dialogues"), rows("check"), rows("judge")
    assert checked, "the pipeline produced no dialogue"
    assert len(checked) == len(dialogues) and rows("check", "rejected") == []
    for r in checked:
        assert check_dialogue(r["conversations"], r["functions"]) == []
        msgs = json.loads(r["conversations"])
        assert msgs[0]["role"] == "user" and msgs[-1]["role"] == "assistant"
        assert any(m.get("tool_calls") for m in msgs)
        for spec in json.loads(r["functions"]):
            assert spec["parameters"]["type"] == "object"
    assert {r["_id"] for r in judged} == {r["_id"] for r in checked}
    assert all(r["score"] is None or 1 <= r["score"] <= 5 for r in judged)
