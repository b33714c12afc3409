"""Incremental refreshes: only unseen rows go through a step, and the result equals a full run."""

import json
from pathlib import Path

import pytest

from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from dataflow_dagster.core.runner import run_source, run_step
from dataflow_dagster.core.storage import AssetAddress, Storage
from operators.core.sql_ops import SQLRefiner
from operators.general_text.dedup import ExactDedupFilter
from operators.general_text.heuristics import ContentNullFilter, WordNumberFilter

BASE = [f"passage {i % 40} talks about topic {i % 13} in several plain words" for i in range(300)]
BASE += ["", "short one", None]
MORE = [f"passage {i % 55} talks about topic {i % 17} in several plain words" for i in range(300, 330)]
MORE += ["passage 1 talks about topic 1 in several plain words", "brand new text that nobody has written before"]


class Shout(SQLRefiner):
    """Test refiner (unregistered): rewrites text in place, keeping ids."""

    def rewrite_sql(self, col: str) -> str:
        return f"{col} || ' !'"


def _write(path: Path, texts: list) -> None:
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))


def _pipe(src: Path, shout: bool = False, min_words: int = 4) -> Pipeline:
    steps = [Step("nonnull", ContentNullFilter()), Step("words", WordNumberFilter(min_words=min_words))]
    if shout:
        steps.append(Step("shout", Shout()))
    steps.append(Step("dedup", ExactDedupFilter()))
    return Pipeline("inc", Source(str(src), required_columns=["text"]), steps)


def _run_all(storage: Storage, pipe: Pipeline, incremental: bool = True) -> dict[str, dict]:
    out = {"load": run_source(storage, pipe).lineage}
    for s in pipe.steps:
        o = run_step(storage, pipe, s.name, incremental=incremental)
        out[s.name] = {**o.lineage, "rejected_hash": o.refs.get("rejected") and o.refs["rejected"].content_hash}
    return out


def _hashes(run: dict[str, dict]) -> dict[str, tuple]:
    return {k: (v["content_hash"], v.get("rejected_hash")) for k, v in run.items()}


def test_refresh_processes_only_new_rows_and_equals_a_full_run(tmp_path: Path):
    src = tmp_path / "src.jsonl"
    _write(src, BASE)
    storage = Storage(tmp_path / "inc")
    first = _run_all(storage, _pipe(src))
    assert first["words"]["incremental"]["mode"] == "full"
    _write(src, BASE + MORE)
    refresh = _run_all(storage, _pipe(src))
    full = _run_all(Storage(tmp_path / "full"), _pipe(src), incremental=False)
    assert _hashes(refresh) == _hashes(full)
    for step in ("nonnull", "words", "dedup"):
        inc = refresh[step]["incremental"]
        assert inc["mode"] == "delta", inc
        assert inc["rows_reused"] == first[step]["rows_in"]
        assert inc["rows_processed"] == refresh[step]["rows_in"] - first[step]["rows_in"]
    assert refresh["nonnull"]["incremental"]["rows_processed"] == len(MORE)
    # new rows duplicating kept rows were rejected against the earlier rows, not among themselves only
    assert refresh["dedup"]["rows_out"] < refresh["dedup"]["rows_in"]
    again = _run_all(storage, _pipe(src))
    assert _hashes(again) == _hashes(full)
    assert all(again[s]["incremental"]["rows_processed"] == 0 for s in ("nonnull", "words", "dedup"))


def test_config_change_recomputes_that_step_and_rows_whose_content_changed(tmp_path: Path):
    src = tmp_path / "src.jsonl"
    _write(src, BASE)
    storage = Storage(tmp_path / "inc")
    _run_all(storage, _pipe(src, shout=True))
    changed = _run_all(storage, _pipe(src, shout=True, min_words=9))
    full = _run_all(Storage(tmp_path / "full"), _pipe(src, shout=True, min_words=9), incremental=False)
    assert _hashes(changed) == _hashes(full)
    assert changed["nonnull"]["incremental"]["rows_processed"] == 0
    assert changed["words"]["incremental"]["mode"] == "full"  # its fingerprint changed: every row again
    assert changed["shout"]["incremental"]["rows_processed"] == 0  # its input rows are a subset of the seen ones


def test_refiner_keeping_ids_but_changing_text_is_not_reused_downstream(tmp_path: Path):
    src = tmp_path / "src.jsonl"
    _write(src, BASE)
    storage = Storage(tmp_path / "inc")
    _run_all(storage, _pipe(src))  # no shout step: dedup memo holds the plain texts
    plain = Pipeline(
        "inc",
        Source(str(src), required_columns=["text"]),
        [Step("nonnull", ContentNullFilter()), Step("words", Shout()), Step("dedup", ExactDedupFilter())],
    )
    refreshed = _run_all(storage, plain)
    full = _run_all(Storage(tmp_path / "full"), plain, incremental=False)
    assert _hashes(refreshed) == _hashes(full)
    assert refreshed["dedup"]["incremental"]["mode"] == "full"  # same ids, new content: nothing reusable


def test_removed_rows_force_the_set_wise_step_to_run_in_full(tmp_path: Path):
    src = tmp_path / "src.jsonl"
    _write(src, BASE)
    storage = Storage(tmp_path / "inc")
    _run_all(storage, _pipe(src))
    _write(src, BASE[5:])
    refreshed = _run_all(storage, _pipe(src))
    full = _run_all(Storage(tmp_path / "full"), _pipe(src), incremental=False)
    assert _hashes(refreshed) == _hashes(full)
    assert refreshed["words"]["incremental"]["mode"] == "delta"  # row-local: removed rows just drop out
    assert refreshed["dedup"]["incremental"]["mode"] == "full"
    assert "removed or changed" in refreshed["dedup"]["incremental"]["reason"]


class Counting:
    def __init__(self, inner) -> None:
        self.inner, self.calls = inner, 0

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    def generate(self, requests):
        self.calls += len(requests)
        return self.inner.generate(requests)


@pytest.mark.slow
def test_llm_step_sees_only_new_rows_and_a_prompt_edit_recomputes_all(tmp_path: Path, local_llm):
    from operators.general_text.llm_qa import TOPIC_PROMPT, TopicClassifier

    texts = [
        "Photosynthesis turns light into chemical energy in plants.",
        "Binary search halves the interval at every step of the loop.",
        "The French revolution began in 1789 and changed Europe.",
    ]
    src = tmp_path / "src.jsonl"
    _write(src, texts[:2])
    storage = Storage(tmp_path / "inc")
    llm = Counting(local_llm)

    def pipe(prompt=None) -> Pipeline:
        return Pipeline(
            "incllm",
            Source(str(src), required_columns=["text"]),
            [Step("topic", TopicClassifier(min_parsed_share=0.0), prompt=prompt)],
        )

    run_source(storage, pipe())
    first = run_step(storage, pipe(), "topic", llm=llm)
    assert llm.calls == 2
    _write(src, texts)
    run_source(storage, pipe())
    refresh = run_step(storage, pipe(), "topic", llm=llm)
    assert llm.calls == 3  # one new row, one call
    assert refresh.lineage["incremental"] == {"mode": "delta", "rows_total": 3, "rows_processed": 1, "rows_reused": 2}
    assert refresh.lineage["cache"]["hits"] == 0  # old rows were not even looked up
    full = run_step(Storage(tmp_path / "inc"), pipe(), "topic", llm=llm, incremental=False, publish=False)
    assert full.table.content_hash == refresh.table.content_hash
    assert first.lineage["incremental"]["rows_processed"] == 2
    edited = TOPIC_PROMPT.with_text(TOPIC_PROMPT.template + "\nPick one label.")
    redo = run_step(storage, pipe(edited), "topic", llm=llm)
    assert redo.lineage["incremental"]["mode"] == "full" and redo.lineage["cache"]["misses"] == 3


def test_text_evaluators_and_refiners_refresh_only_new_rows(tmp_path: Path):
    """The general-text evaluators (derived per filter, and the generic one) and refiners score or
    rewrite each row from that row alone, so a refresh reuses them like the filters."""
    from operators.core.registry import get

    def pipe(src: Path) -> Pipeline:
        return Pipeline(
            "tev",
            Source(str(src), required_columns=["text"]),
            [
                Step("nonnull", ContentNullFilter()),
                Step("spaces", get("RemoveExtraSpacesRefiner")()),
                Step("wc", get("WordNumberEvaluator")()),
                Step("caps", get("TextMetricEvaluator")(filter="CapitalWordsFilter")),
            ],
        )

    src = tmp_path / "src.jsonl"
    _write(src, BASE)
    storage = Storage(tmp_path / "inc")
    _run_all(storage, pipe(src))
    _write(src, BASE + MORE)
    refresh = _run_all(storage, pipe(src))
    full = _run_all(Storage(tmp_path / "full"), pipe(src), incremental=False)
    assert _hashes(refresh) == _hashes(full)
    for step in ("spaces", "wc", "caps"):
        inc = refresh[step]["incremental"]
        assert inc["mode"] == "delta" and inc["rows_processed"] == len(MORE), (step, inc)


RACE = """
import sys
from pathlib import Path
from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from dataflow_dagster.core.runner import run_source, run_step
from dataflow_dagster.core.storage import AssetAddress, Storage
from operators.general_text.heuristics import WordNumberFilter
src, root = sys.argv[1], sys.argv[2]
pipe = Pipeline("race", Source(src, required_columns=["text"]), [Step("words", WordNumberFilter(min_words=4))])
storage = Storage(root)
run_source(storage, pipe)
for _ in range(6):
    run_step(storage, pipe, "words", incremental=True)
print("RACE-OK")
"""


def test_concurrent_refreshes_of_one_step_keep_each_others_memo_files(tmp_path: Path):
    """Two schedules refreshing one step at once share its memo folder: neither may delete the
    files the other is writing or has just named in its pointer (seen in CI as FileNotFoundError)."""
    import subprocess
    import sys

    src = tmp_path / "src.jsonl"
    _write(src, BASE)
    root = tmp_path / "shared"
    Storage(root)  # create the root once, before the racers
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACE, str(src), str(root)],
            cwd=Path(__file__).resolve().parents[1],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(4)
    ]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    for out in outs:
        assert "RACE-OK" in out, out[-3000:]
    storage = Storage(root)
    final = run_step(storage, _pipe_race(src), "words", incremental=True)
    assert final.lineage["incremental"]["mode"] == "delta"
    assert final.lineage["incremental"]["rows_reused"] == len(BASE)
    memo = json.loads((storage.memo_dir(AssetAddress("race__words", None)) / "current.json").read_text())
    assert all(Path(f).exists() for f in memo["files"].values())


def _pipe_race(src: Path) -> Pipeline:
    return Pipeline("race", Source(str(src), required_columns=["text"]), [Step("words", WordNumberFilter(min_words=4))])
