"""The knowledge pipeline materialised end to end by Dagster on the embedded model, on real files."""

import json
from pathlib import Path

import duckdb
from test_knowledge_ingest import write_corpus

from assets.knowledge import knowledge_pipeline
from dataflow_dagster.core.storage import Storage
from dataflow_dagster.defs.factory import build_definitions
from dataflow_dagster.defs.resources import StorageResource


def test_knowledge_pipeline_end_to_end(tmp_path: Path) -> None:
    files = write_corpus(tmp_path / "corpus")
    src = tmp_path / "docs.jsonl"
    src.write_text("\n".join(json.dumps({"path": files[k].name}) for k in ("pdf", "docx")) + "\n")
    pipe = knowledge_pipeline(src, base_dir=tmp_path / "corpus", chunk_words=40, overlap_words=5)
    defs = build_definitions([pipe], storage=StorageResource(root=str(tmp_path / ".dataflow")))
    result = defs.resolve_job_def("knowledge_job").execute_in_process()
    assert result.success
    checks = {(e.asset_key.path[-1], e.check_name): e.passed for e in result.get_asset_check_evaluations()}
    assert ("judge", "parsed_share") in checks and all(checks.values()), checks
    storage = Storage(tmp_path / ".dataflow")

    def table(step: str) -> str:
        ref = storage.current(f"knowledge__{step}")
        assert ref is not None, step
        return f"read_parquet('{ref['tables']['table']['path']}')"

    con = duckdb.connect()
    formats = {r[0] for r in con.execute(f"SELECT format FROM {table('ingest')}").fetchall()}
    assert formats == {"pdf", "docx"}
    n_chunks = con.execute(f"SELECT count(*) FROM {table('chunk')}").fetchall()[0][0]
    sft = con.execute(f"SELECT instruction, input, output, source_path, sft_quality FROM {table('judge')}").fetchall()
    assert 1 <= len(sft) <= n_chunks
    for instruction, inp, output, path, score in sft:
        assert instruction and output and inp and Path(path).name in {"biology.pdf", "history.docx"}
        assert score is None or 1 <= score <= 5
