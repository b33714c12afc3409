"""Export of the reference pipeline's final asset as a Hugging Face dataset, on the embedded model.

The pipeline comes from assets/reference.py (what assets/definitions.py loads), on fewer source rows;
its final step gets the export option, so the export asset materialises in the same job. Checked with
the consumers' own tools: `datasets.load_dataset`, `mlcroissant`, and the audit command the card names.
"""

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml
from click.testing import CliRunner

from assets.reference import DATA_DIR, reference_pipeline
from dataflow_dagster.cli import cli
from dataflow_dagster.core.export_options import ExportOptions
from dataflow_dagster.core.storage import Storage
from tests.helpers import defs_for, materialized, run_job

datasets = pytest.importorskip("datasets")
mlc = pytest.importorskip("mlcroissant")

STEPS = ["load", "content_null", "word_count", "symbol_ratio", "dedup", "qa", "judge", "keep_good"]
OPTIONS = {"license": "apache-2.0", "language": ["en"], "task_categories": ["question-answering"]}
VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("export_ref")
    lines = (DATA_DIR / "pt_input.jsonl").read_text(encoding="utf-8").splitlines()
    src = tmp / "pt_small.jsonl"
    src.write_text("\n".join([*lines[:4], lines[6]]) + "\n", encoding="utf-8")  # row 6 is too short
    pipe = reference_pipeline(source_path=src)
    pipe.step("keep_good").export = ExportOptions(out_dir=str(tmp / "asset_export"), **OPTIONS)
    root = tmp / ".dataflow"
    result = run_job(defs_for([pipe], root), "pretrain_qa_job")
    assert result.success
    return tmp, root, result


def _catalog(root: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(root / "catalog.duckdb"), read_only=True)


def _card(out: Path) -> tuple[dict, str]:
    text = (out / "README.md").read_text(encoding="utf-8")
    _, front, body = text.split("---\n", 2)
    return yaml.safe_load(front), body


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_export_asset_materialises_in_the_job(exported):
    tmp, _, result = exported
    mats = materialized(result)
    assert "pretrain_qa/keep_good__export" in mats
    md = mats["pretrain_qa/keep_good__export"]
    assert md["content_hash"] == mats["pretrain_qa/keep_good"]["content_hash"]
    assert Path(md["out_dir"]) == (tmp / "asset_export").resolve()


def test_load_dataset_gives_the_catalog_rows_and_features(exported):
    tmp, root, _ = exported
    ds = datasets.load_dataset(str(tmp / "asset_export"))
    con = _catalog(root)
    n = con.execute("SELECT count(*) FROM pretrain_qa__keep_good").fetchone()[0]
    cols = [r[0] for r in con.execute("DESCRIBE pretrain_qa__keep_good").fetchall()]
    want = sorted(con.execute("SELECT question, answer, qa_score FROM pretrain_qa__keep_good").fetchall())
    arrow = con.sql("SELECT * EXCLUDE (_id, _parent_ids) FROM pretrain_qa__keep_good LIMIT 0").to_arrow_table()
    con.close()
    assert n > 0, "the reference pipeline kept no rows: nothing to compare"
    assert list(ds) == ["train"] and ds["train"].num_rows == n
    assert list(ds["train"].features) == [c for c in cols if c not in ("_id", "_parent_ids")]
    assert ds["train"].features == datasets.Features.from_arrow_schema(arrow.schema)
    got = sorted((r["question"], r["answer"], r["qa_score"]) for r in ds["train"])
    assert got == want


def test_card_numbers_equal_the_catalog(exported):
    tmp, root, _ = exported
    meta, body = _card(tmp / "asset_export")
    con = _catalog(root)
    count = lambda view: con.execute(f"SELECT count(*) FROM {view}").fetchone()[0]  # noqa: E731
    views = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
    assert meta["license"] == "apache-2.0" and meta["language"] == ["en"]
    assert meta["task_categories"] == ["question-answering"] and meta["size_categories"] == ["n<1K"]
    assert meta["configs"] == [{"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*"}]}]
    [split] = meta["dataset_info"]["splits"]
    assert split["num_examples"] == count("pretrain_qa__keep_good")
    shards = sorted((tmp / "asset_export" / "data").glob("train-*.parquet"))
    assert meta["dataset_info"]["download_size"] == sum(p.stat().st_size for p in shards)
    table = [ln for ln in body.splitlines() if ln.startswith("| ") and ln.count("|") == 11][1:]
    rows = {c[0]: c for c in ([x.strip() for x in ln.strip("|").split("|")] for ln in table)}
    assert list(rows) == STEPS
    storage = Storage(root)
    for step in STEPS:
        kept, rejected, errors = int(rows[step][4]), int(rows[step][5]), int(rows[step][6])
        assert kept == count(f"pretrain_qa__{step}"), step
        if f"pretrain_qa__{step}__rejected" in views:
            assert rejected == count(f"pretrain_qa__{step}__rejected"), step
        if f"pretrain_qa__{step}__errors" in views:
            assert errors == count(f"pretrain_qa__{step}__errors"), step
        assert rows[step][9] == storage.current_ref(f"pretrain_qa__{step}").content_hash[:16]
    assert count("pretrain_qa__word_count__rejected") == 1  # the short row, counted under its reason
    assert "WordNumberFilter" in body.split("### `word_count`")[1].split("### ")[0]
    judge = storage.current("pretrain_qa__judge")["lineage"]
    assert judge["prompt"]["hash"] in body and judge["model"]["id"] in body
    assert storage.current_ref("pretrain_qa__keep_good").content_hash in body
    assert storage.current("pretrain_qa__load")["lineage"]["source_sha256"] in body
    con.close()


def test_reexport_from_the_cli_is_byte_identical(exported):
    tmp, root, _ = exported
    args = ["export", "pretrain_qa/keep_good", str(tmp / "cli_export"), "--root", str(root), "--license", "apache-2.0"]
    args += ["--language", "en", "--task-category", "question-answering"]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert _files(tmp / "cli_export") == _files(tmp / "asset_export")
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0, again.output
    assert _files(tmp / "cli_export") == _files(tmp / "asset_export")
    assert not [p for p in tmp.iterdir() if ".tmp-" in p.name]


def test_mlcroissant_validates_and_reads_the_records(exported):
    tmp, root, _ = exported
    ds = mlc.Dataset(jsonld=str(tmp / "asset_export" / "croissant.json"))
    assert not ds.metadata.ctx.issues.errors and not ds.metadata.ctx.issues.warnings
    doc = json.loads((tmp / "asset_export" / "croissant.json").read_text(encoding="utf-8"))
    assert doc["conformsTo"] == "http://mlcommons.org/croissant/1.0"
    storage = Storage(root)
    assert storage.current("pretrain_qa__load")["lineage"]["source_sha256"] in doc["rai:dataCollectionRawData"]
    assert len(doc["rai:dataPreprocessingProtocol"]) == len(STEPS) - 1
    n = storage.current_ref("pretrain_qa__keep_good").row_count
    assert len(list(ds.records("train"))) == n


def test_the_cards_audit_command_succeeds(exported):
    tmp, _, _ = exported
    _, body = _card(tmp / "asset_export")
    command = body.split("## Audit")[1].split("```bash\n")[1].split("\n```")[0]
    argv = shlex.split(command)
    assert argv[:3] == ["dataflow-dagster", "audit", "pretrain_qa/keep_good"]
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "DATAFLOW_HOME")}
    done = subprocess.run(
        [str(VENV_BIN / argv[0]), *argv[1:], "--plain"], capture_output=True, text=True, env=env, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK" in done.stdout
