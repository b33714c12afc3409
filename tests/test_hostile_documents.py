"""Attacks on document ingestion: PDFs that make pypdf raise odd exceptions or stall, a docx zip
bomb and a docx that needs gigabytes to parse. Each must become one error row naming the file,
within the configured time and memory limits, while the good documents of the same step are read."""

import json
import time
from pathlib import Path

import duckdb
import pytest

from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from dataflow_dagster.core.runner import run_source, run_step
from dataflow_dagster.core.storage import Storage
from operators.knowledge.ingest import FileIngestor
from tests.helpers import docx_bomb, hostile_pdfs, minimal_pdf

TIMEOUT_S = 3.0


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hostile")
    files = hostile_pdfs(folder)
    files["bad_filter"] = minimal_pdf(folder / "bad_filter.pdf", b"BT (x) Tj ET", "/Filter 5 ")
    files["zip_bomb"] = docx_bomb(folder / "zip_bomb.docx", 300)  # refused before inflating
    files["memory_hog"] = docx_bomb(folder / "memory_hog.docx", 100)  # under max_unzipped_mb here
    files["good"] = folder / "good.txt"
    files["good"].write_text("A perfectly ordinary document about rivers and lakes.\n")
    return files


def _ingest(tmp_path: Path, paths: list[Path], **cfg: object):
    src = tmp_path / "docs.jsonl"
    src.write_text("".join(json.dumps({"path": str(p)}) + "\n" for p in paths))
    op = FileIngestor(**{"timeout_s": TIMEOUT_S, "memory_mb": 384, "max_unzipped_mb": 200, **cfg})
    pipe = Pipeline("docs", Source(str(src), required_columns=["path"]), [Step("ingest", op)])
    storage = Storage(tmp_path / ".dataflow")
    run_source(storage, pipe)
    return run_step(storage, pipe, "ingest")


def test_every_hostile_document_is_one_error_row_and_the_good_one_is_read(corpus: dict[str, Path], tmp_path: Path):
    t0 = time.monotonic()
    out = _ingest(tmp_path, list(corpus.values()))
    elapsed = time.monotonic() - t0
    con = duckdb.connect()
    texts = con.execute(f"SELECT source_path FROM {out.refs['table'].read_sql()}").fetchall()
    errors = [e for (e,) in con.execute(f"SELECT _error FROM {out.refs['errors'].read_sql()}").fetchall()]
    assert texts == [(str(corpus["good"]),)]
    assert len(errors) == len(corpus) - 1
    for name, path in corpus.items():
        if name == "good":
            continue
        (err,) = [e for e in errors if str(path) in e]
        expect = {
            "inflate_bomb": "LimitReachedError",
            "bad_filter": "NotImplementedError",
            "slow_text": "timeout_s",
            "zip_bomb": "max_unzipped_mb",
        }.get(name, "")
        if name == "memory_hog":  # whichever limit a loaded machine reaches first
            expect = "memory_mb" if "memory_mb" in err else "timeout_s"
        assert expect in err, (name, err)
    # one timeout plus worker restarts; a stalled parser used to hold the step for minutes
    assert elapsed < 4 * TIMEOUT_S + 60, elapsed


def test_a_docx_needing_more_memory_than_memory_mb_is_stopped_by_the_limit(corpus: dict[str, Path], tmp_path: Path):
    out = _ingest(tmp_path, [corpus["memory_hog"], corpus["good"]], timeout_s=300.0, memory_mb=256)
    con = duckdb.connect()
    (err,) = con.execute(f"SELECT _error FROM {out.refs['errors'].read_sql()}").fetchall()[0]
    assert str(corpus["memory_hog"]) in err and "memory_mb" in err, err
    assert out.table.row_count == 1


def test_a_step_of_only_hostile_documents_still_succeeds_with_error_rows(corpus: dict[str, Path], tmp_path: Path):
    out = _ingest(tmp_path, [corpus["inflate_bomb"], corpus["bad_filter"]])
    assert out.table.row_count == 0 and out.refs["errors"].row_count == 2


def test_default_limits_refuse_a_zip_bomb_unparsed(corpus: dict[str, Path]):
    cfg = FileIngestor().config
    assert (cfg.timeout_s, cfg.memory_mb, cfg.max_unzipped_mb) == (30.0, 1024, 64)
    from operators.knowledge.parse import read_in_worker

    with pytest.raises(ValueError, match="max_unzipped_mb"):
        read_in_worker(str(corpus["memory_hog"]), cfg.max_unzipped_mb, cfg.max_chars)
