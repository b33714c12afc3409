"""Bad input fails with a message naming file/line/column and leaves no partial table."""

import json
from pathlib import Path

import pytest

from dataflow_dagster.core.io_formats import export_relation, import_file
from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from dataflow_dagster.core.runner import run_source, run_step
from dataflow_dagster.core.storage import Storage
from operators.core.contract import OperatorError
from operators.general_text.heuristics import WordNumberFilter


def _pipe(path: Path, key: str = "text") -> Pipeline:
    return Pipeline(
        "bad",
        Source(str(path), required_columns=["text"]),
        [Step("words", WordNumberFilter(input_key=key, min_words=1))],
    )


def _snapshots(storage: Storage) -> list[Path]:
    return sorted((storage.root / "snapshots").rglob("*.parquet"))


def test_malformed_jsonl_line_is_named(tmp_path: Path, storage: Storage):
    f = tmp_path / "in.jsonl"
    f.write_text('{"text": "fine row"}\n{"text": "broken\n{"text": "ok"}\n')
    with pytest.raises(OperatorError, match=r"in\.jsonl: line 2, column \d+: malformed JSON"):
        run_source(storage, _pipe(f))
    assert storage.current("bad__load") is None
    assert _snapshots(storage) == []


def test_non_object_line_is_named(tmp_path: Path, storage: Storage):
    f = tmp_path / "in.jsonl"
    f.write_text('{"text": "a"}\n[1, 2]\n')
    with pytest.raises(OperatorError, match="line 2: expected a JSON object"):
        run_source(storage, _pipe(f))


def test_empty_file(tmp_path: Path, storage: Storage):
    f = tmp_path / "empty.jsonl"
    f.write_text("")
    with pytest.raises(OperatorError, match=r"empty\.jsonl is empty"):
        run_source(storage, _pipe(f))
    assert _snapshots(storage) == []


def test_missing_required_column_in_source(tmp_path: Path, storage: Storage):
    f = tmp_path / "in.jsonl"
    f.write_text('{"body": "x y z"}\n')
    with pytest.raises(OperatorError, match=r"source file .*in\.jsonl: missing input column\(s\) \['text'\]"):
        run_source(storage, _pipe(f))


def test_missing_input_column_names_step_and_keeps_previous_table(tmp_path: Path, storage: Storage):
    f = tmp_path / "in.jsonl"
    f.write_text("\n".join(json.dumps({"text": f"row {i} has words"}) for i in range(5)) + "\n")
    good = _pipe(f)
    run_source(storage, good)
    first = run_step(storage, good, "words")
    bad = _pipe(f, key="content")
    with pytest.raises(
        OperatorError,
        match=r"step 'bad__words' \(WordNumberFilter\).*missing input column\(s\) "
        r"\['content'\]; available columns are \['_id', 'text', '__pos'\]",
    ):
        run_step(storage, bad, "words")
    assert storage.current_ref("bad__words").content_hash == first.table.content_hash


def test_invalid_utf8_names_line(tmp_path: Path, storage: Storage):
    f = tmp_path / "latin1.jsonl"
    f.write_bytes(b'{"text": "ok"}\n{"text": "caf\xe9"}\n')
    with pytest.raises(OperatorError, match=r"line 2 \(byte \d+\) is not valid UTF-8"):
        run_source(storage, _pipe(f))


@pytest.mark.parametrize("suffix", ["jsonl", "json", "csv", "parquet"])
def test_round_trip_formats(tmp_path: Path, suffix: str):
    import duckdb

    con = duckdb.connect()
    con.execute("CREATE TABLE src AS SELECT range AS n, 'row ' || range AS text FROM range(5)")
    out = export_relation(con, "src", tmp_path / f"out.{suffix}")
    import_file(con, out, "back")
    assert con.execute("SELECT count(*), sum(n) FROM back").fetchall()[0] == (5, 10)
    assert con.execute("SELECT text FROM back WHERE n = 3").fetchall()[0] == ("row 3",)
