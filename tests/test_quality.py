"""Data-quality gates: Great Expectations suites and dagster-pandas column schemas as asset checks."""

import json
from pathlib import Path

import duckdb
import pytest
from dagster_pandas import PandasColumn

from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from dataflow_dagster.core.storage import Storage
from dataflow_dagster.defs.quality.gx import gx_available
from operators.core.contract import OperatorError
from operators.general_text.heuristics import ContentNullFilter, WordNumberFilter
from tests.helpers import check_results, defs_for, materialized, run_job

needs_gx = pytest.mark.skipif(not gx_available(), reason="great_expectations not installed (gx extra)")


@pytest.fixture
def source_file(tmp_path: Path) -> Path:
    rows = [{"text": "word " * n, "score": n, "label": "ok" if n % 7 else "bad"} for n in range(1, 31)]
    rows.append({"text": "", "score": 0, "label": "ok"})
    f = tmp_path / "rows.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return f


def _pipe(src: Path, **step_opts) -> Pipeline:  # type: ignore[no-untyped-def]
    return Pipeline(
        "q",
        Source(str(src), required_columns=["text"]),
        [
            Step("words", WordNumberFilter(min_words=5), **step_opts),
            Step("after", ContentNullFilter()),
        ],
    )


def _check_metadata(result, name: str) -> dict:  # type: ignore[no-untyped-def]
    ev = next(e for e in result.get_asset_check_evaluations() if e.check_name == name)
    return {"description": ev.description, **{k: getattr(v, "value", v) for k, v in ev.metadata.items()}}


@needs_gx
def test_failing_gx_suite_blocks_downstream(tmp_path: Path, source_file: Path):
    # words keeps scores 5..30; the suite demands <= 20, so the gate must fail and `after` must not run.
    suite = [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "text"}},
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "score", "min_value": 0, "max_value": 20}},
    ]
    root = tmp_path / ".dataflow"
    result = run_job(defs_for([_pipe(source_file, expectations=suite)], root), "q_job")
    assert not result.success
    assert check_results(result) == {"q/words:gx_suite": False}
    mats = materialized(result)
    assert "q/words" in mats and "q/after" not in mats
    assert not (root / "refs" / "q__after.json").exists()
    md = _check_metadata(result, "gx_suite")
    assert md["expectations"] == 2 and md["failed_expectations"] == 1
    assert md["failed_columns"] == "score"
    assert "expect_column_values_to_be_between" in md["description"]
    results = {r.data["expectation"]: r.data for r in md["results"].records}
    assert results["expect_column_values_to_be_between"]["unexpected"] == 10  # scores 21..30
    assert results["expect_column_values_to_be_between"]["passed"] is False
    assert results["expect_column_values_to_not_be_null"]["passed"] is True


@needs_gx
def test_passing_gx_suite_lets_downstream_run(tmp_path: Path, source_file: Path):
    suite = [
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "score", "min_value": 5}},
        {"type": "expect_table_row_count_to_equal", "kwargs": {"value": 26}},
    ]
    result = run_job(defs_for([_pipe(source_file, expectations=suite)], tmp_path / ".dataflow"), "q_job")
    assert result.success
    assert check_results(result) == {"q/words:gx_suite": True}
    assert "q/after" in materialized(result)


def test_expectation_typos_fail_when_definitions_load(tmp_path: Path, source_file: Path):
    with pytest.raises(OperatorError, match=r"step 'words'.*'kwarg'.*kwargs"):
        defs_for([_pipe(source_file, expectations=[{"type": "expect_column_to_exist", "kwarg": {}}])], tmp_path)
    with pytest.raises(OperatorError, match="not a GX expectation"):
        defs_for([_pipe(source_file, expectations=[{"type": "column_to_exist"}])], tmp_path)


def test_schema_violation_names_the_offending_column(tmp_path: Path, source_file: Path):
    schema = {
        "text": {"type": "string", "non_nullable": True},
        "score": {"type": "integer", "min_value": 0, "max_value": 25},
        "label": {"categories": ["ok"]},
    }
    root = tmp_path / ".dataflow"
    result = run_job(defs_for([_pipe(source_file, schema=schema)], root), "q_job")
    assert not result.success
    assert check_results(result) == {"q/words:output_schema": False}
    assert "q/after" not in materialized(result)
    md = _check_metadata(result, "output_schema")
    assert md["offending_columns"] == "label, score"
    assert "column(s) label, score" in md["description"]
    violations = {r.data["column"]: r.data for r in md["violations"].records}
    assert violations["score"]["constraint"] == "InRangeColumnConstraint"
    assert violations["label"]["constraint"] == "CategoricalColumnConstraint"
    # The offending rows are named by _id, so they can be looked up in the catalog.
    ref = Storage(root).require_ref("q__words")
    too_high = duckdb.sql(f"SELECT _id FROM {ref.read_sql()} WHERE score > 25").fetchall()
    assert len(too_high) == 5
    assert sorted(json.loads(violations["score"]["offending _id"])) == sorted(i for (i,) in too_high)


def test_schema_with_dagster_pandas_columns_passes(tmp_path: Path, source_file: Path):
    schema = [
        PandasColumn.string_column("text", non_nullable=True),
        PandasColumn.integer_column("score", min_value=5, max_value=30),
        PandasColumn.exists("_id", unique=True),
    ]
    result = run_job(defs_for([_pipe(source_file, schema=schema)], tmp_path / ".dataflow"), "q_job")
    assert result.success
    assert check_results(result) == {"q/words:output_schema": True}
    assert _check_metadata(result, "output_schema")["offending_columns"] == ""


def test_missing_schema_column_is_reported(tmp_path: Path, source_file: Path):
    result = run_job(defs_for([_pipe(source_file, schema={"answer": {"type": "string"}})], tmp_path / ".d"), "q_job")
    md = _check_metadata(result, "output_schema")
    assert md["offending_columns"] == "answer"
    assert "missing from the output" in md["violations"].records[0].data["problem"]


def test_bad_schema_spec_fails_when_definitions_load(tmp_path: Path, source_file: Path):
    with pytest.raises(OperatorError, match="column 'score' has type 'int'"):
        defs_for([_pipe(source_file, schema={"score": {"type": "int"}})], tmp_path)
