"""Row-level diffs between materialisations, from history and from the Dagster event log; the CLI."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from dagster import AssetKey, instance_for_test

from dataflow_dagster.cli.lineage_cmds import lineage
from dataflow_dagster.core.diff import diff_asset
from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from dataflow_dagster.core.runner import run_source, run_step
from dataflow_dagster.core.storage import Storage
from operators.core.sql_ops import SQLRefiner
from operators.general_text.heuristics import WordNumberFilter
from tests.helpers import defs_for, materialized, run_job


class UpperRefiner(SQLRefiner):
    """Test refiner (not registered): upper-cases texts that mention 'fox'; same ids, new content."""

    def rewrite_sql(self, col: str) -> str:
        return f"CASE WHEN {col} LIKE '%fox%' THEN upper({col}) ELSE {col} END"


def _write(path: Path, texts: list[str]) -> None:
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))


def _pipe(src: Path, refine: bool = False) -> Pipeline:
    steps = [Step("words", WordNumberFilter(min_words=3))]
    if refine:
        steps.append(Step("upper", UpperRefiner()))
    return Pipeline("dif", Source(str(src), required_columns=["text"]), steps)


def _materialise(storage: Storage, pipe: Pipeline) -> None:
    run_source(storage, pipe)
    for s in pipe.steps:
        run_step(storage, pipe, s.name)


def test_added_and_removed_rows_from_history(tmp_path: Path):
    src, storage = tmp_path / "a.jsonl", Storage(tmp_path / ".dataflow")
    _write(src, ["one two three", "alpha beta gamma", "x"])
    _materialise(storage, _pipe(src))
    _write(src, ["one two three", "delta epsilon zeta eta", "x", "theta iota kappa"])
    _materialise(storage, _pipe(src))
    d = diff_asset(storage, "dif__words")
    assert (d.added, d.removed, d.changed, d.unchanged) == (2, 1, 0, 1)
    assert {r["text"] for r in d.samples["added"]} == {"delta epsilon zeta eta", "theta iota kappa"}
    assert [r["text"] for r in d.samples["removed"]] == ["alpha beta gamma"]
    assert not d.identical and "| 2 | 1 | 0 | 1 |" in d.to_markdown()
    first = diff_asset(storage, "dif__words", to_run=None, from_run=None)
    assert first.to_dict()["added"] == 2


def test_changed_rows_keep_their_id(tmp_path: Path):
    src, storage = tmp_path / "a.jsonl", Storage(tmp_path / ".dataflow")
    _write(src, ["the quick brown fox", "a slow green turtle"])
    _materialise(storage, _pipe(src))
    _materialise(storage, _pipe(src, refine=True))
    run_step(storage, _pipe(src, refine=True), "upper")  # a second, identical materialisation
    assert diff_asset(storage, "dif__upper").identical
    run_source(storage, _pipe(src))
    before = Storage(tmp_path / ".dataflow").current_ref("dif__words")
    assert before is not None
    # words (unchanged) vs upper: same ids, one row rewritten
    from dataflow_dagster.core.diff import diff_paths

    counts, samples = diff_paths(before.path, storage.current_ref("dif__upper").path, samples=5)
    assert (counts["added"], counts["removed"], counts["changed"], counts["unchanged"]) == (0, 0, 1, 1)
    assert samples["changed"][0]["text"] == "THE QUICK BROWN FOX"


def test_diff_by_run_ids_from_the_event_log_and_metadata_counts(tmp_path: Path):
    src, root = tmp_path / "a.jsonl", tmp_path / ".dataflow"
    home = tmp_path / "home"
    home.mkdir()
    _write(src, ["one two three", "alpha beta gamma"])
    with instance_for_test(temp_dir=str(home)) as instance:
        r1 = run_job(defs_for([_pipe(src)], root), "dif_job", instance)
        _write(src, ["one two three", "alpha beta gamma", "four five six"])
        r2 = run_job(defs_for([_pipe(src)], root), "dif_job", instance)
        assert materialized(r2)["dif/words"]["rows_added"] == 1
        assert materialized(r1)["dif/words"]["rows_added"] == 2
        d = diff_asset(
            Storage(root),
            "dif__words",
            from_run=r1.run_id[:8],
            to_run=r2.run_id,
            instance=instance,
            asset_key=AssetKey(["dif", "words"]),
        )
        assert d.new.origin == "history" or d.new.run_id == r2.run_id
        assert (d.added, d.removed, d.changed) == (1, 0, 0)
        with pytest.raises(Exception, match="no materialisation of 'dif__words' from run 'nope'"):
            diff_asset(
                Storage(root), "dif__words", from_run="nope", instance=instance, asset_key=AssetKey(["dif", "words"])
            )


def test_cli_audit_and_diff(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    src, root = tmp_path / "a.jsonl", tmp_path / ".dataflow"
    _write(src, ["one two three", "alpha beta gamma"])
    mod = tmp_path / "diffdefs_mod.py"
    mod.write_text(
        textwrap.dedent(f"""
        from dataflow_dagster.defs.factory import build_definitions
        from dataflow_dagster.defs.resources import StorageResource
        from tests.test_diff import _pipe
        from pathlib import Path
        defs = build_definitions([_pipe(Path({str(src)!r}))], storage=StorageResource(root={str(root)!r}))
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    sys.modules.pop("diffdefs_mod", None)
    storage = Storage(root)
    _materialise(storage, _pipe(src))
    runner = CliRunner()
    ok = runner.invoke(lineage, ["audit", "dif/words", "-m", "diffdefs_mod", "--plain", "--out", str(tmp_path / "r")])
    assert ok.exit_code == 0, ok.output
    assert "dif__words" in ok.output and (tmp_path / "r" / "audit-dif__words.md").exists()
    # the default (rich) table reaches a plain pipe too: a real process, stdout not a terminal
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(Path(__file__).parents[1])])}
    env.pop("DAGSTER_HOME", None)
    exe = Path(sys.executable).with_name("dataflow-dagster")
    piped = subprocess.run(
        [str(exe), "audit", "dif/words", "-m", "diffdefs_mod"], capture_output=True, text=True, env=env, timeout=300
    )
    assert piped.returncode == 0, piped.stdout + piped.stderr
    assert "audit dif__words" in piped.stdout and "status" in piped.stdout, piped.stdout
    _write(src, ["one two three", "alpha beta gamma", "four five six"])
    _materialise(storage, _pipe(src))
    diff = runner.invoke(lineage, ["diff", "dif/words", "-m", "diffdefs_mod", "--json"])
    assert diff.exit_code == 0, diff.output
    assert json.loads(diff.output)["added"] == 1
    args = ["audit", "dif/words", "-m", "diffdefs_mod", "--plain", "--out", str(tmp_path / "r")]
    stale = runner.invoke(lineage, args)
    assert stale.exit_code == 0  # the chain of the latest table reproduces (its recorded file is the current one)
    bad = runner.invoke(lineage, ["audit", "dif/nope", "-m", "diffdefs_mod"])
    assert bad.exit_code != 0 and "has no step 'nope'" in bad.output
