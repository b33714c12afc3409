"""`import-dataflow` on every pipeline file open-dataflow 1.0.13 ships, and the converted text_pt_filter
keeps exactly the rows DataFlow's chain keeps (DataFlow's rules restated in tests/test_text_dataflow_ref.py,
its MinHash dedup run with datasketch as DataFlow runs it)."""

import ast
import json
import re
import shutil
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from dataflow_dagster.cli import cli
from dataflow_dagster.core.dataflow_source import registry, shipped_pipelines
from dataflow_dagster.core.yaml_loader import load_pipeline_file
from tests import test_text_dataflow_ref as ref
from tests.conftest import SHARED_DATA
from tests.helpers import defs_for, materialized, run_job

REPO = Path(__file__).resolve().parents[1]

# Files we expect to convert on this branch (more convert as operators under DataFlow's names land).
MUST_CONVERT = {
    "cpu_pipelines/text_pt_filter.py",
    "cpu_pipelines/text_sft_filter.py",
    "cpu_pipelines/code_pt_filter.py",
    "api_pipelines/func_call_synthesis.py",
    "core_text/prompted_eval.py",
    "core_text/prompted_filter.py",
    "core_text/prompted_refine.py",
}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """DataFlow's example_data/: the shared copy, plus inputs the shared copy lacks: the prompted examples'
    two files (made here: pt_input passages in the columns those pipelines read) and the general reasoning
    input (DataFlow's own short version of it, pipeline_general_short.json)."""
    assert SHARED_DATA.is_dir(), f"DataFlow example data not found at {SHARED_DATA} (set $DATAFLOW_EXAMPLES)"
    root = tmp_path_factory.mktemp("example_data")
    shutil.copytree(SHARED_DATA, root, dirs_exist_ok=True)
    texts = [r["raw_content"] for r in map(json.loads, (SHARED_DATA / "GeneralTextPipeline" / "pt_input.jsonl").open())]
    (root / "core_text_data" / "eval_data.json").write_text(json.dumps([{"conversations": t} for t in texts[:4]]))
    (root / "GeneralTextPipeline" / "abbreviation.jsonl").write_text(
        "".join(json.dumps({"raw_content": t[:300]}) + "\n" for t in texts[:4])
    )
    shutil.copy(
        root / "ReasoningPipeline" / "pipeline_general_short.json", root / "ReasoningPipeline" / "pipeline_general.json"
    )
    # func_call_synthesis reads chats from FuncCallPipeline/, which the shared copy lacks: our own sample
    # chats, in the `chat` column that pipeline reads
    (root / "FuncCallPipeline").mkdir(exist_ok=True)
    shutil.copy(REPO / "assets" / "data" / "func_call_chat.jsonl", root / "FuncCallPipeline" / "chat_data.jsonl")
    return root


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("dataflow_pipelines")
    out = {}
    for rel, text in shipped_pipelines().items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        out[rel] = path
    return out


def _run_operators(path: Path) -> set[str]:
    """DataFlow operator classes whose run() the file's forward() calls."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set(registry())
    return {
        n.func.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in names
    }


def test_every_shipped_pipeline_converts_and_plans_or_is_refused_naming_the_operator(shipped, data_root, tmp_path):
    assert len([r for r in shipped if not r.startswith("core_text/")]) == 46  # cpu 6, api 23, gpu 17
    converted, refused = [], []
    runner = CliRunner()
    for rel, path in sorted(shipped.items()):
        out = tmp_path / (rel.replace("/", "__").removesuffix(".py") + ".yaml")
        res = runner.invoke(cli, ["import-dataflow", str(path), "--data-root", str(data_root), "-o", str(out)])
        if res.exit_code == 0:
            pipeline = load_pipeline_file(out)
            assert pipeline.source_path().is_file(), f"{rel} converts: add its example input {pipeline.source_path()}"
            defs = defs_for([pipeline], tmp_path / "defs" / pipeline.name)
            assert defs.resolve_job_def(f"{pipeline.name}_job") is not None  # loads in Dagster
            plan = runner.invoke(cli, ["plan", str(out), "--storage", str(tmp_path / "plan" / pipeline.name)])
            assert plan.exit_code == 0, f"{rel}: plan failed\n{plan.output}"
            converted.append(rel)
            continue
        assert res.exit_code == 2, f"{rel}: {res.output}"
        named = set(re.findall(r"\b([A-Z][A-Za-z0-9_]+)\b", res.output)) & _run_operators(path)
        assert named, f"{rel}: refusal names no DataFlow operator of the file:\n{res.output}"
        refused.append(rel)
    print(f"converted {len(converted)}: {converted}\nrefused {len(refused)}")
    assert set(converted) >= MUST_CONVERT, MUST_CONVERT - set(converted)


def _dataflow_minhash_keep(texts: list[str]) -> list[bool]:
    """DataFlow's MinHashDeduplicateFilter(num_perm=128, threshold=0.9, use_n_gram=True, ngram=5) with datasketch."""
    from datasketch import MinHash, MinHashLSH

    lsh, keep = MinHashLSH(threshold=0.9, num_perm=128), []
    for i, text in enumerate(texts):
        m = MinHash(num_perm=128)
        if 0 < len(text) < 5:
            m.update(text.encode("utf8"))
        for j in range(len(text) - 4):
            m.update(text[j : j + 5].encode("utf8"))
        keep.append(not lsh.query(m))
        if keep[-1]:
            lsh.insert(i, m)
    return keep


def dataflow_text_pt_filter(texts: list[str]) -> list[str]:
    """The kept raw_content of DataFlow's cpu_pipelines/text_pt_filter.py, step by step, same settings."""
    rows = [ref.r_extra_spaces(ref.r_html_url(ref.r_emoji(t))) for t in texts]
    rows = [t for t, k in zip(rows, _dataflow_minhash_keep(rows), strict=True) if k]
    rules = [
        ref.blocklist,
        lambda t: ref.word_number(t, 20, 100000),
        ref.colon_end,
        lambda t: ref.sentence_number(t, 3, 7500),
        lambda t: ref.line_end_with_ellipsis(t, 0.3),
        ref.content_null,
        lambda t: ref.mean_word_length(t, 3, 10),
        lambda t: ref.symbol_word_ratio(t, 0.4),
        ref.html_entity,
        lambda t: ref.no_punc(t, 112),
        ref.special_character,
        lambda t: ref.watermark(t, ("Copyright", "Watermark", "Confidential")),
        lambda t: ref.curly_bracket(t, 0.025),
        lambda t: ref.capital_words(t, 0.2),
        lambda t: ref.lorem_ipsum(t, 3e-8),
        lambda t: ref.unique_words(t, 0.1),
        lambda t: ref.char_number(t, 100),
        lambda t: ref.line_start_with_bulletpoint(t, 0.9),
        lambda t: ref.line_with_javascript(t, 3),
    ]
    for rule in rules:
        rows = [t for t in rows if rule(t)]
    return rows


def test_converted_text_pt_filter_keeps_exactly_dataflows_rows(shipped, tmp_path):
    """Input: DataFlow's pt_input.jsonl, 600 seeded synthetic documents (spam, CJK, markup, bullets, code,
    blanks; DataFlow's refiners crash on nulls, so none) and exact duplicates of 20 of them."""
    examples = [
        r["raw_content"] for r in map(json.loads, (SHARED_DATA / "GeneralTextPipeline" / "pt_input.jsonl").open())
    ]
    synthetic = [t for t in ref.synthetic_texts(600, seed=19) if t is not None]
    texts = examples + synthetic + synthetic[100:120] + examples[:3]
    root = tmp_path / "example_data" / "GeneralTextPipeline"
    root.mkdir(parents=True)
    (root / "pt_input.jsonl").write_text("".join(json.dumps({"raw_content": t}) + "\n" for t in texts))
    out = tmp_path / "text_pt_filter.yaml"
    res = CliRunner().invoke(
        cli,
        [
            "import-dataflow",
            str(shipped["cpu_pipelines/text_pt_filter.py"]),
            "--data-root",
            str(tmp_path / "example_data"),
            "-o",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    pipeline = load_pipeline_file(out)
    assert [s.op.name for s in pipeline.steps][:4] == [
        "RemoveEmojiRefiner",
        "HtmlUrlRemoverRefiner",
        "RemoveExtraSpacesRefiner",
        "MinHashDeduplicateFilter",
    ]
    storage = tmp_path / ".dataflow"
    result = run_job(defs_for([pipeline], storage), "text_pt_filter_job")
    assert result.success
    last = pipeline.steps[-1].name
    con = duckdb.connect(str(storage / "catalog.duckdb"), read_only=True)
    ours = sorted(r[0] for r in con.execute(f"SELECT raw_content FROM text_pt_filter__{last}").fetchall())
    con.close()
    expected = sorted(dataflow_text_pt_filter(texts))
    assert materialized(result)["text_pt_filter/load"]["dagster/row_count"] == len(texts)
    assert 20 < len(expected) < len(texts) / 2  # the chain really filters, and keeps something
    assert ours == expected
