"""The agentic_rag pipeline materialised end to end by Dagster on the embedded model."""

import json
from pathlib import Path

import duckdb

from assets.agentic_rag import DATA_DIR, agentic_rag_pipeline
from dataflow_dagster.core.storage import Storage
from dataflow_dagster.defs.factory import build_definitions
from dataflow_dagster.defs.resources import StorageResource


def test_agentic_rag_pipeline_end_to_end(tmp_path: Path) -> None:
    docs = [json.loads(x) for x in (DATA_DIR / "eval_test_data.jsonl").read_text().splitlines() if x.strip()][:3]
    src = tmp_path / "docs.jsonl"
    src.write_text("\n".join(json.dumps(d) for d in docs) + "\n")
    # min_atomic_f1=0: the 135M model rarely reproduces its own answers, so the gate keeps every scored row
    pipe = agentic_rag_pipeline(src, min_atomic_f1=0.0)
    defs = build_definitions([pipe], storage=StorageResource(root=str(tmp_path / ".dataflow")))
    result = defs.resolve_job_def("agentic_rag_job").execute_in_process()
    assert result.success
    checks = {(e.asset_key.path[-1], e.check_name): e.passed for e in result.get_asset_check_evaluations()}
    assert {
        ("atomic_f1", "mean_atomic_f1"),
        ("multihop_f1", "mean_multihop_f1"),
        ("multihop_em", "mean_multihop_em"),
    } <= set(checks)
    assert all(checks.values()), checks
    storage = Storage(tmp_path / ".dataflow")

    def table(step: str) -> str:
        ref = storage.current(f"agentic_rag__{step}")
        assert ref is not None, step
        return f"read_parquet('{ref['tables']['table']['path']}')"

    con = duckdb.connect()
    atomic = con.execute(f"SELECT count(*), count(DISTINCT id) FROM {table('atomic_f1')}").fetchall()[0]
    assert atomic[0] >= 2 and atomic[1] == atomic[0]
    ids = {d["id"] for d in docs}
    linked = con.execute(
        f"SELECT id, hop2_doc_id, multihop_question, multihop_answer FROM {table('multihop_answer')}"
    ).fetchall()
    assert linked, "two-hop questions were written"
    for doc, hop2, q, a in linked:
        assert doc != hop2 and hop2 in ids and q and a
    # a pair whose question contains its answer is dropped before scoring (the 135M model writes many)
    echo = storage.current("agentic_rag__multihop_no_echo")
    assert echo is not None
    dropped = con.execute(f"SELECT count(*) FROM read_parquet('{echo['tables']['rejected']['path']}')").fetchall()
    rows = con.execute(
        f"SELECT id, hop2_doc_id, multihop_question, multihop_answer, multihop_doc_answer, "
        f"multihop_f1, multihop_em FROM {table('multihop_em')}"
    ).fetchall()
    assert len(rows) + dropped[0][0] == len(linked)
    for doc, hop2, q, a, _pred, f1, em in rows:
        assert doc != hop2 and hop2 in ids
        assert q and a and 0.0 <= f1 <= 1.0 and em in (0.0, 1.0)
        assert em <= f1 + 1e-9  # an exact match is always F1 = 1
