"""Pretraining text -> SFT continuation pairs (rule, SQL) on the shared pretraining example data."""

import json
import re
from pathlib import Path

import duckdb
import pytest

from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from dataflow_dagster.core.runner import run_source, run_step
from dataflow_dagster.core.storage import Storage
from operators.core.contract import OperatorError
from operators.sft.synthesis import PretrainToSFTConverter

PT = Path(__file__).resolve().parents[1] / "assets" / "data" / "pt_input.jsonl"
SENT = "[^.!?\u3002\uff01\uff1f]+(?:[.!?\u3002\uff01\uff1f]+[\"'\u201d\u2019)\\]]*|$)"


def reference(text: str, share: float, min_sents: int) -> tuple[str, str] | None:
    sents = [" ".join(s.split()) for s in re.findall(SENT, text)]
    sents = [s for s in sents if s]
    if len(sents) < min_sents:
        return None
    cut = min(max(round(len(sents) * share), 1), len(sents) - 1)
    return " ".join(sents[:cut]), " ".join(sents[cut:])


def test_pretrain_to_sft_matches_reference(tmp_path: Path) -> None:
    rows = [json.loads(x) for x in PT.read_text().splitlines() if x.strip()][:40]
    rows.append({"raw_content": "Only one sentence here"})
    src = tmp_path / "pt.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    op = PretrainToSFTConverter(input_key="raw_content", prefix_share=0.3)
    p = Pipeline("pt", Source(str(src), required_columns=["raw_content"]), [Step("sft", op)])
    storage = Storage(tmp_path / ".dataflow")
    run_source(storage, p)
    out = run_step(storage, p, "sft")
    got = duckdb.sql(f"SELECT raw_content, instruction, input, output FROM {out.table.read_sql()}").fetchall()
    want = {r["raw_content"]: reference(r["raw_content"], 0.3, 2) for r in rows}
    assert len(got) == sum(want[r["raw_content"]] is not None for r in rows) > 0
    for text, instr, inp, outp in got:
        assert instr == "Continue the following text."
        assert (inp, outp) == want[text]


def test_pretrain_to_sft_rejects_bad_config() -> None:
    with pytest.raises(OperatorError):
        PretrainToSFTConverter(prefix_share=1.0)
