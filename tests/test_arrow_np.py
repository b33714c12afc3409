"""NumPy <-> Arrow without pandas: same Arrow data as pyarrow's own conversion, and a rule pipeline's
step process never imports pandas (importing it costs ~0.4 s per Dagster step process)."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa

from operators.core import arrow_np

REPO = Path(__file__).resolve().parents[1]


def test_from_numpy_equals_pyarrow() -> None:
    for dtype in (np.int64, np.uint64, np.uint16, np.int32, np.float64):
        values = np.arange(37, dtype=dtype)[::2]  # not contiguous: copied first
        mask = values % 3 == 0
        assert arrow_np.from_numpy(values).equals(pa.array(values))
        got = arrow_np.from_numpy(values, mask)
        assert got.equals(pa.array(values, mask=mask)) and got.null_count == int(mask.sum())
        assert arrow_np.from_numpy(values, np.zeros(len(values), dtype=bool)).null_count == 0
    flags = np.array([True, False, True])
    assert arrow_np.from_numpy(flags).equals(pa.array(flags))  # bool: pyarrow's own conversion


def test_strings_and_table_and_to_numpy() -> None:
    words = ["", "a", "é😀", "x" * 300]
    assert arrow_np.strings(words).equals(pa.array(words, type=pa.string()))
    assert arrow_np.strings([]).equals(pa.array([], type=pa.string()))
    t = arrow_np.table({"n": np.arange(4, dtype=np.int64), "w": arrow_np.strings(words)})
    assert t.equals(pa.table({"n": pa.array(np.arange(4, dtype=np.int64)), "w": pa.array(words)}))
    arr = pa.array([5, 6, 7, 8], type=pa.int64()).slice(1, 2)
    assert arrow_np.to_numpy(arr).tolist() == [6, 7]
    assert np.isnan(arrow_np.to_numpy(pa.array([1.0, None]))[1])
    flags = pa.array([True, False, None, True, True, False, False, True, True, None, True])
    for start in range(4):
        part = flags.is_null().slice(start)
        assert arrow_np.to_numpy(part).tolist() == part.to_pylist()


def test_rule_pipeline_never_imports_pandas(tmp_path: Path) -> None:
    """The 23-step text_pt_filter pipeline (native kernels, MinHash, fused stages, publishing) runs
    in a fresh interpreter without pandas being imported."""
    script = textwrap.dedent(f"""
        import json, sys
        from assets.text_pt_filter import synthetic_corpus, text_pt_filter_pipeline
        from dataflow_dagster.core.fused import publish_outcomes, run_chain
        from dataflow_dagster.core.runner import run_source, run_step
        from dataflow_dagster.core.stages import plan_stages
        from dataflow_dagster.core.storage import Storage
        p = text_pt_filter_pipeline(synthetic_corpus({str(tmp_path / "c.jsonl")!r}, 300, seed=3))
        storage = Storage({str(tmp_path / "store")!r})
        run_source(storage, p)
        for stage in plan_stages(p):
            if stage.fused:
                publish_outcomes(storage, run_chain(storage, p, stage.steps))
            else:
                run_step(storage, p, stage.steps[0])
        print(json.dumps({{"pandas": "pandas" in sys.modules}}))
    """)
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"pandas": False}
