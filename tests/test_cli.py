"""CLI commands through click's CliRunner (in-process) on real storage roots and real projects."""

import json
import os
from pathlib import Path

import click
import duckdb
import pytest
import yaml
from click.testing import CliRunner

from dataflow_dagster.cli import cli, command_modules
from dataflow_dagster.core.samples import sample_pipeline
from dataflow_dagster.core.schema import schema_text
from dataflow_dagster.llm.cache import ResponseCache
from operators.core.llm import LLMResponse

REPO = Path(__file__).resolve().parents[1]


SAMPLE = "proj/defs/sample/defs.yaml"  # the pipeline component `init` scaffolds (project fixture: ./proj)


def invoke(*args: str, **kw):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, **kw)


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name, cmd in group.commands.items():
        out.append((*prefix, name))
        if isinstance(cmd, click.Group):
            out += all_commands(cmd, (*prefix, name))
    return out


def test_help_on_every_command() -> None:
    paths = all_commands(cli)
    names = {p[0] for p in paths}
    assert {"init", "ops", "run", "plan", "catalog", "gc", "cache", "dev", "schema", "agent"} <= names
    assert {
        ("ops", "list"),
        ("ops", "show"),
        ("ops", "search"),
        ("cache", "stats"),
        ("cache", "prune"),
        ("catalog", "sync"),
    } <= set(paths)
    for path in [(), *paths]:
        res = invoke(*path, "--help")
        assert res.exit_code == 0, (path, res.output)
        assert "Usage:" in res.output
    assert "Exit codes" in invoke("--help").output


def test_command_registry_is_the_package_modules() -> None:
    mods = command_modules()
    assert {"ops", "run", "plan", "maintenance", "project", "agent"} <= set(mods)


def test_bad_usage_exits_2() -> None:
    assert invoke("nosuchcommand").exit_code == 2
    assert invoke("run").exit_code == 2  # missing PIPELINE
    assert invoke("ops", "list", "--kind", "teleport").exit_code == 2
    assert invoke("plan", "x.yaml", "--sample", "0").exit_code == 2


def test_ops_list_show_search() -> None:
    res = invoke("ops", "list", "--json")
    rows = json.loads(res.output)
    names = {r["name"] for r in rows}
    assert {"ContentNullFilter", "PassageQAGenerator", "ThresholdFilter"} <= names
    llm_only = json.loads(invoke("ops", "list", "--llm", "--json").output)
    assert llm_only and all(r["needs_llm"] for r in llm_only)
    filters = json.loads(invoke("ops", "list", "--kind", "filter", "--json").output)
    assert filters and all(r["kind"] == "filter" for r in filters)

    show = json.loads(invoke("ops", "show", "QAJudgeEvaluator", "--json").output)
    assert show["input_columns_default"] == ["question", "answer"]
    assert show["output_columns_default"] == ["qa_score"]
    assert show["prompt_fields"] == ["question", "answer"]
    assert {c["name"] for c in show["checks"]} == {"error_share", "parsed_share"}
    text = invoke("ops", "show", "WordNumberFilter").output
    assert "min_words" in text and "keys" in text

    hits = json.loads(invoke("ops", "search", "remove", "duplicate", "texts", "--json").output)
    assert hits[0]["name"] == "ExactDedupFilter"
    assert "no operator matches" in invoke("ops", "search", "zzzqqq").output


def test_unknown_operator_is_a_one_line_error_with_exit_2() -> None:
    res = CliRunner().invoke(cli, ["ops", "show", "QAJudge"])
    assert res.exit_code == 2
    assert "error: unknown operator 'QAJudge'" in res.output
    assert "QAJudgeEvaluator" in res.output and "Traceback" not in res.output


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "proj"
    res = invoke("init", str(root))
    assert res.exit_code == 0, res.output
    monkeypatch.chdir(root)
    monkeypatch.delenv("DATAFLOW_HOME", raising=False)
    return root


def test_init_scaffolds_a_project_and_refuses_non_empty(project: Path) -> None:
    files = ("pyproject.toml", "workspace.yaml", "proj/definitions.py", "proj/defs/sample/defs.yaml", ".gitignore")
    for f in (*files, "proj/defs/sample/sample.jsonl"):
        assert (project / f).is_file(), f
    component = yaml.safe_load((project / SAMPLE).read_text())
    assert component == {"type": "dataflow_dagster.PipelineComponent", "attributes": sample_pipeline("sample")}
    again = CliRunner().invoke(cli, ["init", str(project)])
    assert again.exit_code == 2 and "not empty" in again.output
    assert invoke("init", str(project), "--force").exit_code == 0


def test_plan_run_catalog_gc_on_scaffolded_project(project: Path) -> None:
    plan = invoke("plan", "sample", "--json")
    assert plan.exit_code == 0, plan.output
    report = json.loads(plan.output)
    assert report["ok"] and report["source_rows"] == 8
    assert [s["rows_out"] for s in report["steps"]] == [7, 6, 4]
    steps = [s["step"] for s in report["steps"]]
    assert [st["steps"] for st in report["stages"]] == [steps[:2], steps[2:]]  # two rule filters fuse; dedup not
    assert [st["fused"] for st in report["stages"]] == [True, False]

    res = invoke("run", "sample")  # by name, from workspace.yaml -> proj/definitions.py PIPELINES
    assert res.exit_code == 0, res.output
    assert "materialised 4 assets" in res.output
    store = project / ".dataflow"
    con = duckdb.connect(str(store / "catalog.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM sample__dedup").fetchall()[0][0] == 4
        assert con.execute("SELECT count(*) FROM sample__dedup__rejected").fetchall()[0][0] == 2
    finally:
        con.close()
    synced = invoke("catalog", "sync")
    assert synced.exit_code == 0 and "7 view(s) for 4 asset(s)" in synced.output

    orphan = store / "snapshots" / "sample__dedup" / "orphan.parquet"
    duckdb.sql(f"COPY (SELECT 1 AS x) TO '{orphan}' (FORMAT parquet)")
    young = invoke("gc")  # just written: it may be a running step's snapshot that is not published yet
    assert young.exit_code == 0 and orphan.exists() and "younger than 600s" in young.output
    dry = invoke("gc", "--dry-run", "--min-age", "0")
    assert f"would delete {orphan}" in dry.output and orphan.exists()
    done = invoke("gc", "--min-age", "0")
    assert f"deleted {orphan}" in done.output and not orphan.exists()
    current = json.loads((store / "refs" / "sample__dedup.json").read_text())["tables"]["table"]["path"]
    assert Path(current).exists()


def test_gc_keep_versions_zero_drops_superseded_snapshots(project: Path) -> None:
    assert invoke("run", SAMPLE).exit_code == 0
    store = project / ".dataflow"
    first = json.loads((store / "refs" / "sample__long_enough.json").read_text())["tables"]["table"]["path"]
    f = project / SAMPLE
    f.write_text(f.read_text().replace("min_words: 8", "min_words: 14"))
    assert invoke("run", SAMPLE).exit_code == 0
    assert invoke("gc", "--min-age", "0").output.startswith("deleted 0")  # history keeps every version
    out = invoke("gc", "--keep-versions", "0", "--min-age", "0").output
    assert first in out and not Path(first).exists()
    assert "kept 0 referenced" not in out and "current" in out  # says what it really keeps


def test_run_errors_and_exit_codes(project: Path) -> None:
    unknown = CliRunner().invoke(cli, ["run", "nope"])
    assert unknown.exit_code == 2 and "known: sample" in unknown.output

    bad_yaml = project / "proj" / "defs" / "sample" / "broken.yaml"
    bad_yaml.write_text(
        (project / SAMPLE)
        .read_text()
        .replace("min_words: 8", "min_wrds: 8")
        .replace("pipeline: sample", "pipeline: broken")
    )
    res = CliRunner().invoke(cli, ["run", str(bad_yaml)])
    assert res.exit_code == 2
    assert f"{bad_yaml}:16: steps[1].config.min_wrds" in res.output and "Traceback" not in res.output
    bad_yaml.unlink()

    wrong_col = project / "wrong.yaml"
    wrong_col.write_text(
        (project / SAMPLE)
        .read_text()
        .replace("config: {input_key: text, min_words: 8}", "config: {input_key: body}")
        .replace("path: sample.jsonl", "path: proj/defs/sample/sample.jsonl")
    )
    run = CliRunner().invoke(cli, ["run", str(wrong_col)])
    assert run.exit_code == 1, run.output
    assert "failed" in run.output and "body" in run.output and "skipped" in run.output
    plan = CliRunner().invoke(cli, ["plan", str(wrong_col)])
    assert plan.exit_code == 1 and "long_enough" in plan.output

    no_source = project / "nosource.yaml"
    no_source.write_text(wrong_col.read_text().replace("sample/sample.jsonl", "sample/missing.jsonl"))
    for cmd in ("run", "plan"):
        res = CliRunner().invoke(cli, [cmd, str(no_source)])
        assert res.exit_code == 2 and "missing.jsonl does not exist" in res.output, res.output


USER_MODULE = '''
from operators.core.contract import CheckSpec, Kind, quote_ident
from operators.core.registry import register
from operators.core.sql_ops import SQLEvaluator, TextConfig


class CharLenConfig(TextConfig):
    min_avg_len: float = 1000.0


@register
class UserCharLengthEvaluator(SQLEvaluator):
    """Adds the character length of a text (an operator from a user's own module)."""

    kind = Kind.EVALUATE
    Config = CharLenConfig

    def input_columns(self):
        return [self.config.input_key]

    def scores_sql(self):
        return {"char_len": f"length({quote_ident(self.config.input_key)})"}

    def checks(self):
        return [CheckSpec("avg_length", "avg(t.char_len)", ">=", self.config.min_avg_len, "mean text length")]
'''


def test_user_operator_module_and_blocking_check(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "my_ops.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(project))
    monkeypatch.setenv("DATAFLOW_OPERATOR_MODULES", "my_ops")
    listed = json.loads(invoke("ops", "list", "--json").output)
    assert "UserCharLengthEvaluator" in {r["name"] for r in listed}
    assert '"UserCharLengthEvaluator"' in schema_text()

    sample = (project / SAMPLE).read_text()
    gated = sample.replace("pipeline: sample", "pipeline: gated") + (
        "    - name: length\n      op: UserCharLengthEvaluator\n      config: {input_key: text}\n"
        "    - name: after_gate\n      op: ContentNullFilter\n      config: {input_key: text}\n"
    )
    f = project / "proj" / "defs" / "sample" / "gated.yaml"
    f.write_text(gated)
    res = CliRunner().invoke(cli, ["run", str(f)])
    assert res.exit_code == 1, res.output
    assert "check_failed" in res.output and "skipped" in res.output
    assert "blocking check avg_length" in res.output
    f.write_text(
        gated.replace(
            "config: {input_key: text}\n    - name: after_gate",
            "config: {input_key: text, min_avg_len: 10}\n    - name: after_gate",
        )
    )
    ok = invoke("run", str(f))
    assert ok.exit_code == 0, ok.output
    assert "check avg_length=" in ok.output and "passed" in ok.output


def test_user_module_that_does_not_import_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAFLOW_OPERATOR_MODULES", "no_such_module_xyz")
    res = CliRunner().invoke(cli, ["ops", "list"])
    assert res.exit_code == 2 and "cannot import operator module 'no_such_module_xyz'" in res.output


def test_cache_stats_and_prune(tmp_path: Path) -> None:
    root = tmp_path / "store"
    empty = json.loads(invoke("cache", "stats", "--storage", str(root), "--json").output)
    assert empty["entries"] == 0
    cache = ResponseCache(root / "llm_cache.sqlite")
    cache.put_many(
        [
            ("k1", LLMResponse("a", prompt_tokens=3, completion_tokens=1, model="m1")),
            ("k2", LLMResponse("b", prompt_tokens=5, completion_tokens=2, model="m2")),
        ]
    )
    stats = json.loads(invoke("cache", "stats", "--storage", str(root), "--json").output)
    assert (stats["entries"], stats["prompt_tokens"], stats["completion_tokens"]) == (2, 8, 3)
    assert "2 entries" in invoke("cache", "stats", "--storage", str(root)).output
    assert CliRunner().invoke(cli, ["cache", "prune", "--storage", str(root)]).exit_code == 2
    assert CliRunner().invoke(cli, ["cache", "prune", "--storage", str(root), "--older-than", "soon"]).exit_code == 2
    assert "pruned 0" in invoke("cache", "prune", "--storage", str(root), "--older-than", "1d").output
    assert "pruned 1" in invoke("cache", "prune", "--storage", str(root), "--model", "m1").output
    assert "pruned 1" in invoke("cache", "prune", "--storage", str(root), "--all").output


def test_schema_command(tmp_path: Path) -> None:
    printed = json.loads(invoke("schema").output)
    assert "ContentNullFilter" in printed["$defs"]["step"]["properties"]["op"]["enum"]
    out = tmp_path / "s.json"
    assert invoke("schema", "-o", str(out)).exit_code == 0
    assert invoke("schema", "--check", str(out)).exit_code == 0
    out.write_text("{}")
    stale = CliRunner().invoke(cli, ["schema", "--check", str(out)])
    assert stale.exit_code == 1 and "stale" in stale.output


def test_dev_command(project: Path, tmp_path: Path) -> None:
    res = invoke("dev", "--print-command", "-p", "3999")
    assert res.exit_code == 0 and "-m dagster dev -w workspace.yaml -p 3999" in res.output
    os.chdir(tmp_path)
    missing = CliRunner().invoke(cli, ["dev"])
    assert missing.exit_code == 2 and "workspace.yaml not found" in missing.output


def test_lineage_commands_are_mounted_at_top_level() -> None:
    from click.testing import CliRunner

    from dataflow_dagster.cli import cli as root

    for name in ("audit", "diff"):
        res = CliRunner().invoke(root, [name, "--help"])
        assert res.exit_code == 0, res.output
        assert "ASSET" in res.output
    res = CliRunner().invoke(root, ["audit"])
    assert res.exit_code == 2 and "Missing argument" in res.output
