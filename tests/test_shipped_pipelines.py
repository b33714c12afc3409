"""Every pipeline the reference code location ships runs to success on the embedded model.

Parametrised over ``assets.definitions.PIPELINES`` (Python pipelines and every YAML file in
assets/pipelines/), so a pipeline added there is covered without editing this file. Each pipeline is
taken exactly as shipped (operators, prompts, configs, blocking-check thresholds); only its source is
cut to its first SHIPPED_TEST_ROWS (10) rows to keep the suite short. Not fewer: the shipped sources
are already small, and on 3 rows a single unparsable answer of the 135M model is a third of a step's
rows (agentic_rag's multihop_answer parsed_share failed that way while its shipped run passes).
The job runs in process on a temp storage root, and every blocking check must have run and passed.
"""

import os
from dataclasses import replace
from pathlib import Path

import pytest

from assets import definitions
from dataflow_dagster.core.dryrun import sample_source
from dataflow_dagster.core.pipeline import Pipeline
from tests.helpers import check_results, defs_for, materialized, run_job

ROWS = int(os.environ.get("SHIPPED_TEST_ROWS", "10"))
SHIPPED = {p.name: p for p in definitions.PIPELINES}


def _first_rows(pipeline: Pipeline, folder: Path) -> Pipeline:
    path, _ = sample_source(pipeline, ROWS, folder)
    return replace(pipeline, source=replace(pipeline.source, path=str(path), format="parquet"), base_dir=None)


def test_every_yaml_file_is_a_shipped_pipeline() -> None:
    """The parametrisation below must see the YAML pipelines too (and nothing failed to load)."""
    yaml_dir = Path(definitions.__file__).parent / "pipelines"
    assert definitions.BROKEN_FILES == []
    assert len([p for p in SHIPPED.values() if p.base_dir == yaml_dir.resolve()]) == len(
        [*yaml_dir.glob("*.yaml"), *yaml_dir.glob("*.yml")]
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_pipeline_reaches_success(name: str, tmp_path: Path) -> None:
    shipped = SHIPPED[name]
    pipe = _first_rows(shipped, tmp_path)
    assert [(s.name, s.op.fingerprint(), s.effective_prompt) for s in pipe.steps] == [
        (s.name, s.op.fingerprint(), s.effective_prompt) for s in shipped.steps
    ]
    result = run_job(defs_for([pipe], tmp_path / "store"), f"{name}_job")
    checks = check_results(result)
    failed = {k: v for k, v in checks.items() if not v}
    assert result.success, f"{name}: run failed; failed checks: {failed}"
    mats = materialized(result)
    assert len(mats) == len(shipped.steps) + 1, "every step (and the source) materialised"
    first_llm = next((s.name for s in shipped.steps if s.op.needs_llm), None)
    if first_llm is not None:  # else the rows chosen never reach the model and the test proves little
        assert mats[f"{name}/{first_llm}"]["rows_in"] > 0, f"no sampled row reached {name}/{first_llm}"
    blocking = {f"{name}/{s.name}:{spec.name}" for s in shipped.steps for spec in s.op.checks() if spec.blocking}
    assert blocking <= set(checks), f"blocking checks that did not run: {sorted(blocking - set(checks))}"
    assert not [k for k in blocking if not checks[k]], f"{name}: blocking checks failed: {failed}"
