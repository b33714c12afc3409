"""Every rule filter's evaluator form: all rows kept, the metric as a column, same numbers as the filter."""

import duckdb
import pytest
from test_text_dataflow_ref import synthetic_texts
from test_text_helpers import make_source, run_op

from operators.core.contract import OperatorContext, OperatorError
from operators.core.generic import ThresholdFilter
from operators.core.registry import get
from operators.general_text.evaluators import DERIVED

TEXTS = synthetic_texts(300, seed=12)


def _evaluate(op_name: str, **cfg: object) -> tuple[duckdb.DuckDBPyConnection, list[str]]:
    con = duckdb.connect()
    make_source(con, TEXTS)
    op = get(op_name)(**cfg)
    op.run(OperatorContext(con=con, source="src", target="out", rejected="rej", errors="e"))
    return con, op.output_columns()


@pytest.mark.parametrize("filter_name", sorted(DERIVED))
def test_evaluator_keeps_rows_and_writes_metrics(filter_name: str) -> None:
    name = filter_name.removesuffix("Filter") + "Evaluator"
    con, cols = _evaluate(name, output_prefix="m_")
    assert cols and all(c.startswith("m_") for c in cols)
    assert con.execute("SELECT count(*) FROM out").fetchall()[0][0] == len(TEXTS)
    described = [r[0] for r in con.execute("DESCRIBE out").fetchall()]
    assert set(cols) <= set(described)
    non_null = con.execute(f'SELECT count("{cols[0]}") FROM out').fetchall()[0][0]
    assert non_null > 0, f"{name} wrote only NULLs"


def test_evaluate_then_filter_matches_filter() -> None:
    con, _ = _evaluate("WordNumberEvaluator", output_prefix="", min_words=5)
    ctx = OperatorContext(con=con, source="out", target="kept", rejected="rej2", errors="e")
    ThresholdFilter(input_key="words", min_value=5, max_value=99999).run(ctx)
    via_eval = sorted(r[0] for r in con.execute("SELECT _id FROM kept").fetchall())
    kept, _, _ = run_op(get("WordNumberFilter")(min_words=5), TEXTS)
    assert via_eval == sorted(f"r{i}" for i in kept)


def test_generic_evaluator_and_bad_filter_name() -> None:
    con, cols = _evaluate("TextMetricEvaluator", filter="LexicalDiversityFilter", output_prefix="ld_")
    assert cols == ["ld_mtld", "ld_hdd"]
    assert con.execute("SELECT count(ld_mtld) FROM out").fetchall()[0][0] > 0
    with pytest.raises(OperatorError, match="not a metric filter"):
        _evaluate("TextMetricEvaluator", filter="ExactDedupFilter")
