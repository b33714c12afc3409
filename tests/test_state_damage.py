"""Attacks on stored state: truncated or swapped snapshots, corrupt refs, history lines, memos and
response caches. Each must give a one-line error naming the file and what to do, repair itself
where it can, and never take unrelated assets down with it."""

import json
import logging
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from dataflow_dagster.cli import cli
from dataflow_dagster.core.diff import versions
from dataflow_dagster.core.integrity import StateCorruptError
from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from dataflow_dagster.core.runner import run_source, run_step
from dataflow_dagster.core.storage import Storage
from dataflow_dagster.llm.cache import CacheCorruptError, ResponseCache
from operators.core.llm import LLMResponse
from operators.general_text.heuristics import ContentNullFilter, WordNumberFilter

TEXTS = [f"row {i} says something about topic {i % 7} in plain words" for i in range(200)] + ["", None]


def _pipe(tmp_path: Path) -> Pipeline:
    src = tmp_path / "src.jsonl"
    src.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS))
    steps = [Step("nonnull", ContentNullFilter()), Step("words", WordNumberFilter(min_words=4))]
    return Pipeline("dmg", Source(str(src), required_columns=["text"]), steps)


def _run_all(storage: Storage, pipe: Pipeline) -> dict[str, str]:
    out = {"load": run_source(storage, pipe).table.content_hash}
    for s in pipe.steps:
        out[s.name] = run_step(storage, pipe, s.name).table.content_hash
    return out


def _truncate(path: str | Path, keep: float = 0.5) -> None:
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[: int(len(data) * keep)])


def _snap(storage: Storage, sql: str, asset: str):
    con = storage.connect()
    con.execute(f"CREATE TABLE t AS {sql}")
    ref = storage.write_snapshot(con, "t", asset)
    con.close()
    return ref


# ---- snapshots ------------------------------------------------------------------------------------
def test_truncated_snapshot_is_repaired_when_the_same_content_is_written_again(tmp_path: Path):
    storage = Storage(tmp_path / "root")
    ref = _snap(storage, "SELECT range AS _id, repeat('x', 50) AS s FROM range(5000)", "p__s")
    _truncate(ref.path)
    again = _snap(storage, "SELECT range AS _id, repeat('x', 50) AS s FROM range(5000)", "p__s")
    assert again.path == ref.path
    storage.verify_snapshot(again, "p__s")  # size and footer are right again
    con = storage.connect()
    assert storage.describe_file(con, again.path).content_hash == ref.content_hash
    con.close()


def test_damaged_upstream_snapshot_is_named_before_a_step_reads_it(tmp_path: Path):
    storage, pipe = Storage(tmp_path / "root"), _pipe(tmp_path)
    _run_all(storage, pipe)
    up = storage.current_ref("dmg__nonnull")
    _truncate(up.path, 0.9)
    with pytest.raises(StateCorruptError) as err:
        run_step(storage, pipe, "words")
    msg = str(err.value)
    assert up.path in msg and "re-materialise 'dmg__nonnull'" in msg and "\n" not in msg
    # re-materialising the upstream repairs the file in place, and the step runs again
    run_step(storage, pipe, "nonnull")
    run_step(storage, pipe, "words")


def test_a_swapped_but_valid_snapshot_is_not_read_silently(tmp_path: Path):
    storage, pipe = Storage(tmp_path / "root"), _pipe(tmp_path)
    _run_all(storage, pipe)
    up = storage.current_ref("dmg__nonnull")
    other = _snap(storage, "SELECT 'x' AS _id, 'other rows' AS text", "elsewhere")
    shutil.copyfile(other.path, up.path)  # a valid Parquet file, but not the one the ref recorded
    with pytest.raises(StateCorruptError, match="truncated or replaced"):
        run_step(storage, pipe, "words")


# ---- refs, history, memo ----------------------------------------------------------------------------
def test_one_corrupt_ref_breaks_neither_the_catalog_nor_other_assets(tmp_path: Path):
    storage, pipe = Storage(tmp_path / "root"), _pipe(tmp_path)
    _run_all(storage, pipe)
    bad = storage.ref_path("dmg__words")
    bad.write_text('{"asset": "dmg__words", "tables": {"table": {"path": ')  # cut short by a crash
    run_step(storage, pipe, "nonnull")  # publishes and rebuilds the catalog: must not trip over the bad ref
    st = storage.catalog_status()
    assert st["up_to_date"] is False and any(str(bad) in p for p in st["problems"])
    with pytest.raises(StateCorruptError) as err:
        storage.current("dmg__words")
    assert str(bad) in str(err.value) and "re-materialise" in str(err.value)
    with pytest.raises(StateCorruptError, match=str(bad)):  # gc cannot know what the bad ref keeps alive
        storage.gc()
    run_step(storage, pipe, "words")  # re-materialising rewrites the ref
    assert storage.catalog_status()["up_to_date"] is True


def test_a_cut_history_line_is_named_and_later_publishes_stay_readable(tmp_path: Path, caplog):
    storage, pipe = Storage(tmp_path / "root"), _pipe(tmp_path)
    _run_all(storage, pipe)
    hist = storage.history_path("dmg__words")
    hist.write_bytes(hist.read_bytes()[:-40])  # the last record lost its tail (and its newline)
    run_step(storage, pipe, "words")
    with caplog.at_level(logging.WARNING, logger="dataflow"):
        found = versions(storage, "dmg__words")
    assert len(found) == 1 and f"{hist}:1" in caplog.text  # the new publish is on a line of its own
    res = CliRunner().invoke(cli, ["gc", "--storage", str(storage.root)])
    assert res.exit_code == 2 and f"{hist}:1" in res.output and "Traceback" not in res.output


@pytest.mark.parametrize("damage", ["pointer", "keys", "out"])
def test_a_corrupt_memo_is_discarded_with_a_warning_and_the_step_runs_in_full(tmp_path: Path, damage: str):
    storage, pipe = Storage(tmp_path / "root"), _pipe(tmp_path)
    first = _run_all(storage, pipe)
    pointer = storage.root / "memo" / "dmg__words" / "current.json"
    doc = json.loads(pointer.read_text())
    if damage == "pointer":
        pointer.write_text(json.dumps({"key": doc["key"], "files": "gone"}))
    else:
        _truncate(doc["files"][damage])
    out = run_step(storage, pipe, "words")
    assert out.table.content_hash == first["words"]
    inc = out.lineage["incremental"]
    assert inc["mode"] == "full" and "row memo discarded" in inc["warning"]
    assert inc["rows_processed"] == inc["rows_total"]
    again = run_step(storage, pipe, "words")  # the memo was rebuilt
    assert again.lineage["incremental"]["mode"] == "delta"


# ---- response cache ---------------------------------------------------------------------------------
def test_a_corrupt_response_cache_gives_one_line_naming_the_file(tmp_path: Path):
    path = tmp_path / "root" / "llm_cache.sqlite"
    cache = ResponseCache(path)
    cache.put_many([("k", LLMResponse(text="answer", model="m"))])
    cache._con.close()
    path.write_bytes(b"this is not an sqlite database at all" * 200)
    for wal in path.parent.glob("llm_cache.sqlite-*"):
        wal.unlink()
    with pytest.raises(CacheCorruptError) as err:
        ResponseCache(path).get_many(["k"])
    assert str(path) in str(err.value) and "mv " in str(err.value) and "\n" not in str(err.value)
    res = CliRunner().invoke(cli, ["cache", "stats", "--storage", str(path.parent)])
    assert res.exit_code == 2 and str(path) in res.output and "Traceback" not in res.output
