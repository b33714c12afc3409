"""Two runs at once over the same storage root and response cache: no lock errors, no corruption."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb

from dataflow_dagster.core.storage import Storage

REPO = Path(__file__).resolve().parents[1]

RUN = textwrap.dedent("""
    import json, sys
    from dagster import DagsterInstance
    from dataflow_dagster import Pipeline, Source, Step, StorageResource, build_definitions
    from operators.general_text.heuristics import WordNumberFilter
    from operators.general_text.llm_qa import TopicClassifier
    src, root = sys.argv[1], sys.argv[2]
    pipe = Pipeline("conc", Source(src, required_columns=["text"]), [
        Step("words", WordNumberFilter(min_words=3)),
        Step("topic", TopicClassifier()),
    ])
    defs = build_definitions([pipe], storage=StorageResource(root=root))
    res = defs.resolve_job_def("conc_job").execute_in_process(instance=DagsterInstance.ephemeral(),
                                                             raise_on_error=False)
    hashes = {}
    for ev in res.get_asset_materialization_events():
        m = ev.event_specific_data.materialization
        hashes[m.asset_key.to_user_string()] = m.metadata["content_hash"].value
    print("RESULT " + json.dumps({"success": res.success, "hashes": hashes}))
""")


def test_two_runs_at_once_share_storage_and_cache(tmp_path: Path):
    src = tmp_path / "in.jsonl"
    texts = [
        "Rivers carry sediment from mountains down to the sea over long periods.",
        "Compilers translate source code into machine instructions for processors.",
        "Mitochondria produce most of the chemical energy that powers a cell.",
    ]
    src.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    root = tmp_path / "shared_root"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RUN, str(src), str(root)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=1200)[0] for p in procs]
    results = []
    for out in outs:
        lines = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
        assert lines, out[-3000:]
        results.append(json.loads(lines[-1][len("RESULT ") :]))
        assert "database is locked" not in out and "Could not set lock" not in out
    assert all(r["success"] for r in results), "\n=====\n".join(o[-4000:] for o in outs)
    assert results[0]["hashes"] == results[1]["hashes"]
    storage = Storage(root)
    con = duckdb.connect()
    for asset in ("conc__load", "conc__words", "conc__topic"):
        ref = storage.require_ref(asset)
        assert storage.describe_file(con, ref.path).content_hash == ref.content_hash
    assert storage.sync_catalog()
    import sqlite3

    cache = sqlite3.connect(storage.cache_path)
    assert cache.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert cache.execute("SELECT count(*) FROM responses").fetchone()[0] == len(texts)
