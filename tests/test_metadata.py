"""What the Dagster UI shows for a materialisation: charts, reasons, related tables, lineage, owners."""

import base64
import json
from pathlib import Path
from typing import Any, ClassVar

import duckdb
import pytest
from dagster import AssetKey

from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from dataflow_dagster.defs.plots import column_distribution
from operators.core.contract import Kind
from operators.core.generic import ThresholdFilter
from operators.core.sql_ops import SQLRefiner
from operators.general_text.heuristics import ContentNullFilter, WordNumberFilter
from operators.general_text.llm_qa import PassageQAGenerator, QAJudgeEvaluator
from tests.helpers import check_results, defs_for, materialized, run_job


def is_chart(svg: bytes) -> bool:
    """A well-formed SVG document with at least one bar."""
    import xml.etree.ElementTree as ET

    root = ET.fromstring(svg)
    return root.tag == "{http://www.w3.org/2000/svg}svg" and len(root.findall("{http://www.w3.org/2000/svg}rect")) > 1


class LowerRefiner(SQLRefiner):
    """Lower-cases the text column (a refiner defined here, not registered)."""

    kind: ClassVar[Kind] = Kind.REFINE

    def rewrite_sql(self, col: str) -> str:
        return f"lower({col})"


def _images(md_text: str) -> list[bytes]:
    out = []
    for part in md_text.split("](data:image/svg+xml;base64,")[1:]:
        out.append(base64.b64decode(part.split(")", 1)[0]))
    return out


def _rows(table: Any) -> list[dict[str, Any]]:
    return [r.data for r in table.records]


def _lineage(meta: dict[str, Any]) -> dict[str, list[tuple[str, str]]]:
    lin = meta["dagster/column_lineage"]
    return {
        col: [(d.asset_key.to_user_string(), d.column_name) for d in deps] for col, deps in lin.deps_by_column.items()
    }


@pytest.fixture
def rows_file(tmp_path: Path) -> Path:
    rows = [{"text": ("Word " * n).strip(), "score": n} for n in range(1, 41)] + [{"text": " ", "score": 0}]
    f = tmp_path / "rows.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return f


@pytest.fixture
def rule_run(tmp_path: Path, rows_file: Path):  # type: ignore[no-untyped-def]
    pipe = Pipeline(
        "m",
        Source(str(rows_file), required_columns=["text"]),
        [
            Step("nonnull", ContentNullFilter()),
            Step("words", WordNumberFilter(min_words=5)),
            Step("lower", LowerRefiner()),
            Step("high", ThresholdFilter(input_key="score", min_value=30)),
        ],
        owners=["team:data-prep", "alice@example.com"],
        tags={"domain": "demo"},
        group="curation",
    )
    root = tmp_path / ".dataflow"
    defs = defs_for([pipe], root)
    result = run_job(defs, "m_job")
    assert result.success
    return defs, root, materialized(result)


def test_filter_metadata_shows_counts_reasons_and_rejected_table(rule_run):
    _, root, mats = rule_run
    words = mats["m/words"]
    assert words["rejected_rows"] == 4 and words["rejected_table"] == "m__words__rejected"
    # Reasons carry the measured value; the breakdown groups them by operator prefix.
    (reason,) = _rows(words["rejected_by_reason"])
    assert reason["reason"] == "WordNumberFilter" and reason["rows"] == 4
    assert reason["example"].startswith("WordNumberFilter: words=")
    assert "rejected_reasons" not in words  # fused step: the reasons are the table above, the counts one stage chart
    sample = _rows(words["rejected_sample"])
    assert list(sample[0])[:3] == ["_id", "_reason", "text"]
    assert sorted(r["_reason"] for r in sample) == [f"WordNumberFilter: words={n}" for n in (1, 2, 3, 4)]
    kept = _rows(words["sample_rows"])  # an inline table of the kept rows
    assert len(kept) == 5 and list(kept[0]) == ["_id", "text", "score"]
    assert all(len(r["text"].split()) >= 5 for r in kept)
    assert words["rows_in"] == 40
    assert "`m__words__rejected`: **4** rows" in words["tables"]
    assert str(root / "catalog.duckdb") in words["tables"]
    # nonnull, words, lower and high are one fused stage: one chart of every step's kept/rejected rows
    assert words["lineage"]["stage"]["steps"] == ["nonnull", "words", "lower", "high"]
    counts = _images(words["stage_rows"])
    assert len(counts) == 1 and is_chart(counts[0])
    assert "words: **36** kept, 4 rejected" in words["stage_rows"]
    assert words["stage_rows"] == mats["m/high"]["stage_rows"]
    files = list((root / "plots" / "m__stage1").glob("stage_rows-*.svg"))
    assert [f.read_bytes() for f in files] == counts  # the same chart is kept under the storage root


def test_threshold_filter_plots_kept_and_rejected_scores(rule_run):
    _, _, mats = rule_run
    high = mats["m/high"]
    assert high["mean_score"] == pytest.approx(35.0)  # kept rows 30..40
    (png,) = _images(high["distribution_score"])
    assert is_chart(png)
    # the same bars, computed independently: 36 scores (5..40) over 20 equal-width bins, two series
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT range AS score, IF(range >= 30, 'kept', 'rejected') AS g FROM range(5, 41)")
    labels, series = column_distribution(con, "t", "score", "g")
    assert len(labels) == 20 and sum(series["kept"]) == 11 and sum(series["rejected"]) == 25


def test_column_lineage_for_refiner_and_filter(rule_run):
    _, _, mats = rule_run
    lower = _lineage(mats["m/lower"])
    assert lower["text"] == [("m/words", "text")]  # refined column <- its input column
    assert lower["_id"] == [("m/words", "_id")] and lower["score"] == [("m/words", "score")]
    assert _lineage(mats["m/high"])["score"] == [("m/lower", "score")]
    assert "dagster/column_lineage" not in mats["m/load"]  # a source has no upstream asset


def test_owners_tags_group_kinds_and_descriptions(rule_run):
    defs, _, _ = rule_run
    graph = defs.resolve_asset_graph()
    node = graph.get(AssetKey(["m", "lower"]))
    assert node.owners == ["team:data-prep", "alice@example.com"]
    assert node.tags["domain"] == "demo" and node.tags["dataflow/operator"] == "LowerRefiner"
    assert node.group_name == "curation"
    assert {k for k in node.tags if k.startswith("dagster/kind/")} == {"dagster/kind/duckdb"}
    assert "Lower-cases the text column" in node.description
    assert "Reads `text`; writes `text`." in node.description
    assert graph.get(AssetKey(["m", "load"])).group_name == "curation"
    assert defs.resolve_job_def("m_job") is not None


def test_histogram_bins_cover_every_row():
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT (range * 0.37) % 11 AS v FROM range(1000)")
    labels, series = column_distribution(con, "t", "v")
    assert len(labels) == 20 and sum(series["rows"]) == 1000
    con.execute("CREATE TABLE c AS SELECT ['a', 'b', 'b', NULL][1 + range % 4] AS v FROM range(100)")
    labels, series = column_distribution(con, "c", "v")
    assert labels == ["b", "a"] and series["rows"] == [50.0, 25.0]  # NULLs are not a bar


PASSAGES = [
    "Photosynthesis converts light energy into chemical energy stored in glucose inside plant cells.",
    "A binary search halves the search interval each step, so it needs logarithmic time.",
]


def test_llm_steps_record_tokens_generator_lineage_and_score_charts(tmp_path: Path):
    src = tmp_path / "p.jsonl"
    src.write_text("".join(json.dumps({"passage": t}) + "\n" for t in PASSAGES))
    pipe = Pipeline(
        "g",
        Source(str(src), required_columns=["passage"]),
        [
            Step("qa", PassageQAGenerator(input_key="passage")),
            Step("judge", QAJudgeEvaluator(min_parsed_share=0.0)),
        ],
    )
    result = run_job(defs_for([pipe], tmp_path / ".dataflow"), "g_job")
    assert result.success
    mats = materialized(result)
    qa, judge = mats["g/qa"], mats["g/judge"]
    for m in (qa, judge):
        assert m["total_tokens"] == m["prompt_tokens"] + m["completion_tokens"] > 0
        assert m["tokens_per_row"] == pytest.approx(m["total_tokens"] / m["lineage"]["rows_in"], abs=0.01)
        assert "`g__" in m["tables"] and "__errors`" in m["tables"]
    assert ("errors_sample" in qa) == (qa["errors_rows"] > 0)  # the weak model may fail the schema
    lin = _lineage(qa)
    assert lin["question"] == [("g/load", "passage")] and lin["answer"] == [("g/load", "passage")]
    assert lin["_parent_ids"] == [("g/load", "_id")] and lin["_id"] == [("g/load", "_id")]
    assert sorted(_lineage(judge)["qa_score"]) == [("g/qa", "answer"), ("g/qa", "question")]
    n_scored = duckdb.sql(f"SELECT count(qa_score) FROM read_parquet('{judge['snapshot']}')").fetchall()[0][0]
    if n_scored:  # the 135M model may fail the schema; then there is nothing to chart
        assert is_chart(_images(judge["distribution_qa_score"])[0])
        assert 1 <= judge["mean_qa_score"] <= 5
    ev = next(e for e in result.get_asset_check_evaluations() if e.check_name == "parsed_share")
    meta = {k: getattr(v, "value", v) for k, v in ev.metadata.items()}
    assert check_results(result) == {
        "g/judge:parsed_share": True,
        "g/judge:error_share": True,
        "g/qa:error_share": True,
    }
    n_rows = judge["dagster/row_count"]
    assert meta["rows"] == n_rows and meta["rows_without_output"] == n_rows - n_scored
    if n_scored:
        assert is_chart(_images(meta["score_distribution"])[0])
    if n_scored < n_rows:
        assert list(_rows(meta["failing_examples"])[0])[:2] == ["_id", "qa_score"]
        assert all(r["qa_score"] is None for r in _rows(meta["failing_examples"]))
