"""R3: every file of the bad-input corpus either fails with a clear message naming file and line (and
leaves no snapshot and no ref behind) or is accepted in a documented, tested way."""

import json
import re
from pathlib import Path

import duckdb
import pytest

from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from dataflow_dagster.core.runner import run_source, run_step
from dataflow_dagster.core.storage import Storage
from operators.core.contract import OperatorError
from operators.general_text.heuristics import ContentNullFilter

CORPUS = Path(__file__).parent / "data" / "bad_inputs"

REFUSED = {
    "malformed_line3.jsonl": r"malformed_line3\.jsonl: line 3, column \d+: malformed JSON",
    "array_line.jsonl": r"array_line\.jsonl: line 2: expected a JSON object per line, got list",
    "latin1.jsonl": r"latin1\.jsonl: line 1 \(byte 13\) is not valid UTF-8; re-encode",
    "utf16_bom.jsonl": r"utf16_bom\.jsonl is UTF-16 encoded",
    "binary.jsonl": r"binary\.jsonl: line \d+ \(byte \d+\) is not valid UTF-8",
    "empty.jsonl": r"empty\.jsonl is empty",
    "only_blank_lines.jsonl": r"only_blank_lines\.jsonl has no rows",
    "scalar.json": r"scalar\.json: expected a JSON array of objects",
    "not_csv.csv": r"not_csv\.csv: line \d+: malformed CSV",
    "truncated.parquet": r"could not read .*truncated\.parquet as parquet",
}

# Accepted on purpose; what happens to each is asserted below and documented in docs/inputs.md.
ACCEPTED = {
    "utf8_bom.jsonl": 2,  # a UTF-8 BOM is skipped
    "missing_key.jsonl": 2,  # a row without the key gets NULL there (ContentNullFilter drops it)
    "extra_keys.jsonl": 2,  # extra keys become extra columns, carried through every step
    "null_and_empty.jsonl": 4,  # null/empty/whitespace text are rows; ContentNullFilter drops them
    "deeply_nested.jsonl": 1,  # nesting up to DuckDB's 128 levels becomes STRUCT columns
    "hostile_columns.jsonl": 1,  # quotes/SQL in column names are quoted identifiers, never SQL
    "trailing_comma.jsonl": 1,  # DuckDB's reader tolerates a trailing comma in an object
}


def _pipe(path: Path) -> Pipeline:
    return Pipeline("bad", Source(str(path), required_columns=["text"]), [Step("nonnull", ContentNullFilter())])


def test_corpus_is_fully_classified():
    assert {p.name for p in CORPUS.iterdir()} == set(REFUSED) | set(ACCEPTED)


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_with_clear_message_and_nothing_written(name: str, tmp_path: Path):
    storage = Storage(tmp_path / "root")
    with pytest.raises(OperatorError, match=REFUSED[name]) as info:
        run_source(storage, _pipe(CORPUS / name))
    assert "Traceback" not in str(info.value)
    assert list((storage.root / "snapshots").rglob("*")) == []
    assert storage.current("bad__load") is None


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_accepted_cases(name: str, tmp_path: Path):
    storage = Storage(tmp_path / "root")
    pipe = _pipe(CORPUS / name)
    src = run_source(storage, pipe)
    assert src.table.row_count == ACCEPTED[name]
    kept = run_step(storage, pipe, "nonnull")
    con = duckdb.connect()
    texts = [r[0] for r in con.execute(f"SELECT text FROM {kept.table.read_sql()}").fetchall()]
    assert all(t is not None and t.strip() for t in texts)
    if name == "hostile_columns.jsonl":
        cols = [c[0] for c in kept.table.columns]
        assert "x'); DROP TABLE t; --" in cols and 'we"ird' in cols and "select" in cols
    if name == "null_and_empty.jsonl":
        assert texts == ["real words here"]
        rej = con.execute(f"SELECT count(*) FROM {kept.refs['rejected'].read_sql()}").fetchall()[0][0]
        assert rej == 3


def test_json_nested_beyond_duckdb_limit_names_the_line(tmp_path: Path):
    f = tmp_path / "deep.jsonl"
    f.write_text('{"text": "ok"}\n{"text": "x", "a": ' + "[" * 200 + "]" * 200 + "}\n")
    with pytest.raises(OperatorError, match=r"deep\.jsonl: line 2: JSON nested 201 levels deep"):
        run_source(Storage(tmp_path / "root"), _pipe(f))


def test_fifty_megabyte_single_row_is_accepted(tmp_path: Path):
    f = tmp_path / "big.jsonl"
    big = "word " * 10_000_000
    f.write_text(json.dumps({"text": big}) + "\n" + json.dumps({"text": "small row"}) + "\n")
    assert f.stat().st_size > 50_000_000
    storage = Storage(tmp_path / "root")
    out = run_source(storage, _pipe(f))
    assert out.table.row_count == 2
    con = duckdb.connect()
    assert con.execute(f"SELECT max(length(text)) FROM {out.table.read_sql()}").fetchall()[0][0] == len(big)


def _csv_with_field(path: Path, size: int) -> Path:
    with open(path, "w") as fh:
        fh.write('text,n\nshort,1\n"' + "x" * size + '",2\nafter,3\n')
    return path


def test_csv_with_a_hundred_megabyte_field_is_read(tmp_path: Path, monkeypatch):
    """DuckDB's CSV reader stops at 2 MB lines by default and the explanation blamed Python's 128 KB
    csv field limit ("fix the quoting"); a 100 MB cell is valid data and is read in full. Hashing
    such a row needs more than the default 1GB step memory: the error says which setting to raise."""
    f = _csv_with_field(tmp_path / "big.csv", 100_000_000)
    with pytest.raises(OperatorError, match=r"'bad__load' needs more memory .* \$DATAFLOW_MEMORY_LIMIT, e\.g\. '4GB'"):
        run_source(Storage(tmp_path / "small"), _pipe(f))
    monkeypatch.setenv("DATAFLOW_MEMORY_LIMIT", "4GB")
    out = run_source(Storage(tmp_path / "root"), _pipe(f))
    con = duckdb.connect()
    got = con.execute(f"SELECT n, length(text) FROM {out.table.read_sql()} ORDER BY n").fetchall()
    assert got == [(1, 5), (2, 100_000_000), (3, 5)]


def test_csv_field_over_the_record_limit_names_the_line_and_the_limit(tmp_path: Path, monkeypatch):
    from dataflow_dagster.core import io_formats

    monkeypatch.setattr(io_formats, "MAX_RECORD_BYTES", 4 * 2**20)  # same code path as 256 MB, smaller file
    f = _csv_with_field(tmp_path / "huge.csv", 5 * 2**20)
    with pytest.raises(OperatorError, match=r"huge\.csv: line 3 is longer than 4 MB, the most one CSV record"):
        run_source(Storage(tmp_path / "root"), _pipe(f))


@pytest.mark.parametrize("bad_name", ["x; DROP TABLE t", "a/../../b", 'q"uote', ""])
def test_injection_in_pipeline_and_step_names_is_refused(bad_name: str, tmp_path: Path):
    with pytest.raises(OperatorError, match="must be"):
        Pipeline(bad_name, Source("x.jsonl"), [])
    with pytest.raises(OperatorError, match="must be an identifier"):
        Pipeline("ok", Source("x.jsonl"), [Step(bad_name, ContentNullFilter())])


def test_error_messages_never_are_bare_tracebacks():
    for pattern in REFUSED.values():
        assert re.search(r"\\\.(jsonl|json|csv|parquet)", pattern)
