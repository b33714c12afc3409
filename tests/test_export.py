"""Export layout, splits, shards, internal columns, the YAML/Step option and `--push` (rule pipeline, fast).

The Hub is stood in for by a real HTTP server on 127.0.0.1 (``HF_ENDPOINT``) that records what
``huggingface_hub``'s upload API sends; everything up to and including that upload call is real.
"""

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from dataflow_dagster.core.export import export_asset
from dataflow_dagster.core.export_options import ExportOptions, parse_size, parse_splits
from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from dataflow_dagster.core.runner import run_source, run_step
from dataflow_dagster.core.storage import Storage
from dataflow_dagster.core.yaml_loader import PipelineFileError, load_pipeline_file
from operators.core.contract import OperatorError
from operators.general_text.dedup import ExactDedupFilter
from operators.general_text.heuristics import WordNumberFilter
from tests.helpers import HubStandIn, defs_for, loopback_server, materialized, run_job

datasets = pytest.importorskip("datasets")

ROWS = [
    {"text": f"passage {i} " + "word " * (3 + i % 7), "n": i, "part": ["train", "test"][i % 3 == 0]} for i in range(90)
]
ROWS.append({"text": "tiny", "n": 90, "part": "train"})
SECRET = "hf_test_SECRET_token_0123456789"


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _pipeline(src: Path, **kw) -> Pipeline:
    return Pipeline(
        "exp",
        Source(str(src), required_columns=["text"]),
        [Step("words", WordNumberFilter(min_words=3)), Step("dedup", ExactDedupFilter(), **kw)],
    )


def _materialise(root: Path, pipe: Pipeline) -> Storage:
    storage = Storage(root)
    run_source(storage, pipe)
    for s in pipe.steps:
        run_step(storage, pipe, s.name)
    return storage


@pytest.fixture
def made(tmp_path: Path):
    pipe = _pipeline(_write(tmp_path / "rows.jsonl", ROWS))
    return tmp_path, pipe, _materialise(tmp_path / ".dataflow", pipe)


def _data(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "data").glob("*.parquet"))}


def test_seeded_ratio_split_is_independent_of_row_order(made):
    tmp, pipe, storage = made
    opts = ExportOptions(splits={"train": 0.7, "test": 0.3}, seed=7)
    res = export_asset(storage, pipe, "dedup", tmp / "a", opts)
    assert [s.name for s in res.splits] == ["train", "test"] and res.rows == 90
    assert 45 <= res.splits[0].rows <= 75  # ~70% of 90
    shuffled = ROWS[:]
    random.Random(3).shuffle(shuffled)
    other = _pipeline(_write(tmp / "shuffled.jsonl", shuffled))
    again = export_asset(_materialise(tmp / "other", other), other, "dedup", tmp / "b", opts)
    assert _data(tmp / "a") == _data(tmp / "b") and again.content_hash == res.content_hash
    moved = export_asset(storage, pipe, "dedup", tmp / "c", opts.model_copy(update={"seed": 8}))
    assert _data(tmp / "c") != _data(tmp / "a") and moved.rows == 90
    ds = datasets.load_dataset(str(tmp / "a"))
    assert {k: v.num_rows for k, v in ds.items()} == {s.name: s.rows for s in res.splits}


def test_shards_are_bounded_and_named_n_of_m(made):
    tmp, pipe, storage = made
    res = export_asset(storage, pipe, "dedup", tmp / "out", ExportOptions(max_shard_bytes=1500))
    [train] = res.splits
    n = len(train.files)
    assert n == -(-train.num_bytes // 1500) and n > 2
    assert train.files == [f"data/train-{i:05d}-of-{n:05d}.parquet" for i in range(n)]
    sizes = [pq.read_table(tmp / "out" / f).nbytes for f in train.files]
    assert sum(pq.read_metadata(tmp / "out" / f).num_rows for f in train.files) == 90
    assert max(sizes) <= 1500 * 1.5  # rows are spread evenly; one shard may run a little over
    assert datasets.load_dataset(str(tmp / "out"))["train"].num_rows == 90


def test_split_column_and_internal_columns(made):
    tmp, pipe, storage = made
    res = export_asset(storage, pipe, "dedup", tmp / "out", ExportOptions(split_column="part", max_shard_bytes=1000))
    con = duckdb.connect()
    ref = storage.current_ref("exp__dedup")
    want = dict(con.execute(f"SELECT part, count(*) FROM {ref.read_sql()} GROUP BY 1").fetchall())
    assert {s.name: s.rows for s in res.splits} == want and [s.name for s in res.splits] == ["train", "test"]
    assert all(len(s.files) > 1 for s in res.splits)
    ds = datasets.load_dataset(str(tmp / "out"))
    assert list(ds["train"].features) == ["text", "n"]  # the split column and _id are not data
    # every exported row, found by (file, row) through lineage/row_ids.parquet, is its _id's stored row
    exported = {
        (f, i): (r["text"], r["n"])
        for s in res.splits
        for f in s.files
        for i, r in enumerate(pq.read_table(tmp / "out" / f).to_pylist())
    }
    ids = pq.read_table(tmp / "out" / "lineage" / "row_ids.parquet").to_pylist()
    stored = {r[0]: (r[1], r[2]) for r in con.execute(f"SELECT _id, text, n FROM {ref.read_sql()}").fetchall()}
    assert len(ids) == len(exported) == len(stored) == 90
    assert {(r["file"], r["row"]): stored[r["_id"]] for r in ids} == exported
    kept = export_asset(storage, pipe, "dedup", tmp / "kept", ExportOptions(keep_internal=True))
    assert kept.columns[0] == "_id" and not (tmp / "kept" / "lineage").exists()


def test_failed_export_leaves_the_previous_one(made):
    tmp, pipe, storage = made
    export_asset(storage, pipe, "dedup", tmp / "out", ExportOptions())
    before = {p: p.read_bytes() for p in (tmp / "out").rglob("*") if p.is_file()}
    with pytest.raises(OperatorError, match=r"split column 'text' is .* in row _id=.*split name"):
        export_asset(storage, pipe, "dedup", tmp / "out", ExportOptions(split_column="text"))
    with pytest.raises(OperatorError, match="'nope' is not a column"):
        export_asset(storage, pipe, "dedup", tmp / "out", ExportOptions(split_column="nope"))
    assert {p: p.read_bytes() for p in (tmp / "out").rglob("*") if p.is_file()} == before
    assert not [p for p in tmp.iterdir() if ".tmp-" in p.name]


def test_options_parse_and_refuse_nonsense():
    assert parse_splits("train=0.9, test=0.1") == {"train": 0.9, "test": 0.1}
    assert parse_size("500MB") == 500_000_000 and parse_size("1GiB") == 1 << 30
    with pytest.raises(ValueError, match="sum to 1"):
        ExportOptions(splits={"train": 0.9, "test": 0.2})
    with pytest.raises(ValueError, match="not valid Hub split names"):
        ExportOptions(splits={"my split": 1.0})
    with pytest.raises(ValueError, match="not both"):
        ExportOptions(split_column="x", splits={"a": 0.5, "b": 0.5})
    with pytest.raises(OperatorError, match="without out_dir"):
        _pipeline(Path("x.jsonl"), export=ExportOptions())


def test_yaml_export_option_adds_an_export_asset(tmp_path: Path):
    _write(tmp_path / "rows.jsonl", ROWS)
    text = (
        "pipeline: yexp\nsource: {path: rows.jsonl, required_columns: [text]}\nsteps:\n"
        "  - name: words\n    op: WordNumberFilter\n    config: {min_words: 3}\n"
        "    export: {out_dir: hub/words, splits: {train: 0.8, test: 0.2}, license: mit}\n"
    )
    (tmp_path / "p.yaml").write_text(text, encoding="utf-8")
    pipe = load_pipeline_file(tmp_path / "p.yaml")
    assert pipe.step("words").export == ExportOptions(
        out_dir="hub/words", splits={"train": 0.8, "test": 0.2}, license="mit"
    )
    result = run_job(defs_for([pipe], tmp_path / ".dataflow"), "yexp_job")
    assert result.success
    md = materialized(result)["yexp/words__export"]
    assert Path(md["out_dir"]) == (tmp_path / "hub" / "words").resolve()  # relative to the YAML file
    ds = datasets.load_dataset(str(tmp_path / "hub" / "words"))
    assert sum(v.num_rows for v in ds.values()) == md["dagster/row_count"] == 90
    (tmp_path / "bad.yaml").write_text(text.replace("license: mit", "licence: mit"), encoding="utf-8")
    where = r"bad.yaml:7: steps\[0\].export.licence"
    with pytest.raises(PipelineFileError, match=where + ": export has no option `licence`"):
        load_pipeline_file(tmp_path / "bad.yaml")


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "dataflow-dagster"
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=env, timeout=300)


def test_push_uploads_the_export_with_the_env_token_and_never_prints_it(made, tmp_path: Path):
    tmp, _, storage = made
    module = tmp / "exp_location.py"
    module.write_text(
        "from dataflow_dagster.core.pipeline import Pipeline, Source, Step\n"
        "from dataflow_dagster.defs.factory import build_definitions\n"
        "from operators.general_text.dedup import ExactDedupFilter\n"
        "from operators.general_text.heuristics import WordNumberFilter\n"
        f"defs = build_definitions([Pipeline('exp', Source({str(tmp / 'rows.jsonl')!r}, required_columns=['text']),"
        " [Step('words', WordNumberFilter(min_words=3)), Step('dedup', ExactDedupFilter())])])\n",
        encoding="utf-8",
    )
    HubStandIn.calls.clear()
    HubStandIn.files.clear()
    with loopback_server(HubStandIn) as url:
        env = {**os.environ, "PYTHONPATH": str(tmp), "HF_ENDPOINT": url.removesuffix("/v1"), "HF_TOKEN": SECRET}
        args = ["export", "exp/dedup", str(tmp / "out"), "-m", "exp_location", "--root", str(storage.root)]
        done = _cli([*args, "--push", "me/exp-set"], env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "pushed 4 files to me/exp-set" in done.stdout
        local = {p.relative_to(tmp / "out").as_posix(): p.read_bytes() for p in (tmp / "out").rglob("*") if p.is_file()}
        assert HubStandIn.files == local
        repo_calls = [c for c in HubStandIn.calls if c["path"].startswith(("/api/repos/", "/api/datasets/"))]
        assert len(repo_calls) >= 3 and {c["auth"] for c in repo_calls} == {f"Bearer {SECRET}"}
        assert any("/api/datasets/me/exp-set/commit/main" in c["path"] for c in HubStandIn.calls)
        assert SECRET not in done.stdout + done.stderr
        assert not any(SECRET.encode() in b for b in local.values())

        no_token = {k: v for k, v in env.items() if k != "HF_TOKEN"}
        refused = _cli([*args, "--push", "me/exp-set"], no_token)
        assert refused.returncode == 1 and "needs a token with write access in $HF_TOKEN" in refused.stderr
        assert (tmp / "out" / "README.md").exists()  # the export itself was written


def test_export_asset_pushes_with_the_envvar_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    src = _write(tmp_path / "rows.jsonl", ROWS)
    pipe = _pipeline(src, export=ExportOptions(out_dir=str(tmp_path / "hub"), push_repo="me/from-dagster"))
    HubStandIn.calls.clear()
    HubStandIn.files.clear()
    with loopback_server(HubStandIn) as url:
        monkeypatch.setenv("HF_ENDPOINT", url.removesuffix("/v1"))
        monkeypatch.setenv("HF_TOKEN", SECRET)
        result = run_job(defs_for([pipe], tmp_path / ".dataflow"), "exp_job")
    assert result.success
    md = materialized(result)["exp/dedup__export"]
    assert "me/from-dagster/commit/" in str(md["pushed_to"]) and "README.md" in HubStandIn.files
    assert SECRET not in json.dumps(md, default=str)
    assert any(c["auth"] == f"Bearer {SECRET}" for c in HubStandIn.calls)


def test_a_column_datasets_cannot_represent_is_named(tmp_path: Path):
    import pyarrow as pa

    src = tmp_path / "rows.parquet"
    tags = pa.array([[("a", 1)], [("b", 2)]], type=pa.map_(pa.string(), pa.int64()))
    pq.write_table(pa.table({"text": ["one two three four", "five six seven eight"], "tags": tags}), src)
    pipe = Pipeline("mp", Source(str(src), required_columns=["text"]), [Step("words", WordNumberFilter(min_words=3))])
    storage = _materialise(tmp_path / ".dataflow", pipe)
    with pytest.raises(OperatorError, match=r"export of 'mp__words': column 'tags' has type map<.*cast it in a step"):
        export_asset(storage, pipe, "words", tmp_path / "out", ExportOptions())
    assert not (tmp_path / "out").exists() and not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
