"""BLEU and CIDEr against DataFlow's own scorers (bleu.py and cider.py read from the open-dataflow
wheel and executed here), on a real DuckDB through the runner."""

import types
import zipfile

import pytest

from dataflow_dagster.core.dataflow_source import wheel_path
from operators.core.contract import OperatorError
from operators.general_text.reference_metrics import BleuSampleEvaluator, CiderSampleEvaluator
from tests.helpers import run_op

ROWS = [
    {"text": "a cat sits on the mat", "reference": "the cat sat on the mat"},
    {"text": "the the the the", "reference": "the cat is on the mat"},
    {"text": "a man rides a horse on the beach", "reference": "a man is riding a horse along the beach"},
    {"text": "completely unrelated words here", "reference": "a dog runs in the park"},
    {"text": "short", "reference": "a much longer reference sentence than the text"},
    {"text": "two dogs play in the park with a ball", "reference": "two dogs play with a ball in the park"},
    {"text": "", "reference": "an empty candidate"},
    {"text": None, "reference": "no candidate at all"},
]


def dataflow_module(path: str) -> types.ModuleType:
    """One of DataFlow's scorer files, executed as a module (it imports only six, numpy and the stdlib)."""
    source = zipfile.ZipFile(wheel_path()).read(path).decode()
    module = types.ModuleType(path.replace("/", "_"))
    exec(compile(source, path, "exec"), module.__dict__)
    return module


@pytest.fixture(scope="module")
def coco():
    pytest.importorskip("six")
    base = "dataflow/operators/general_text/eval"
    return dataflow_module(f"{base}/bleu/bleu.py"), dataflow_module(f"{base}/cider/cider.py")


def test_bleu_equals_dataflows_scorer(tmp_path, coco):
    bleu, _ = coco
    kept, _, _ = run_op(tmp_path, ROWS, BleuSampleEvaluator())
    for row, out in zip(ROWS, kept, strict=True):
        if row["text"] is None:
            assert out["BleuScore"] is None
            continue
        expected = bleu.Bleu(test=row["text"], refs=[row["reference"]], n=4).compute_score(option="average")[0][0]
        assert out["BleuScore"] == pytest.approx(expected, rel=1e-9, abs=1e-12), row


def test_cider_equals_dataflows_scorer_with_dataset_document_frequencies(tmp_path, coco):
    _, cider = coco
    kept, _, _ = run_op(tmp_path, ROWS, CiderSampleEvaluator())
    scored = [r for r in ROWS if r["text"] is not None]
    scorer = cider.Cider(n=4, sigma=6.0)
    scorer.crefs, scorer.ctest = [], []
    for r in scored:
        scorer.cook_append(r["text"], [r["reference"]])
    _, expected = scorer.compute_score(df_mode="corpus")
    ours = [r["CiderScore"] for r in kept if r["text"] is not None]
    assert ours == pytest.approx(list(expected), rel=1e-9, abs=1e-12)
    assert max(ours) > 1.0  # a near-paraphrase scores well; DataFlow's per-row corpus mode would give 0
    assert kept[-1]["CiderScore"] is None


def test_reference_metric_settings():
    assert BleuSampleEvaluator(input_reference_key="gold").input_columns() == ["text", "gold"]
    with pytest.raises(OperatorError):
        CiderSampleEvaluator(df_mode="coco-val-df")
