"""`plan` must not collapse when an LLM filter meets placeholder answers (issue 17, item 6).

The dry run answers from the output schema; a validity judge's smallest valid answer is "no", so the
old plan rejected every question at `validity` and estimated 0 calls for everything after it.
"""

from assets.reasoning import DATA_DIR, reasoning_pipeline
from dataflow_dagster.core.dryrun import dry_run


def test_llm_filters_are_pass_through_and_samples_are_counted() -> None:
    pipe = reasoning_pipeline(DATA_DIR / "reasoning_math_seed.jsonl")  # the full 47 seeds, shipped settings
    report = dry_run(pipe, sample_rows=20)
    assert report.ok, report.first_failure()
    steps = {s.step: s for s in report.steps}
    validity, cot = steps["validity"], steps["cot"]
    assert validity.rows_in and validity.rows_out == validity.rows_in, "an LLM filter is counted as keeping every row"
    assert "pass-through" in validity.message
    assert cot.rows_in and cot.est_calls == round(3 * cot.est_rows_in), "3 CoT samples per question are 3 calls"
    # synthesis doubles the questions (seeds kept), so the judges and CoT see ~2x the seeds
    assert steps["difficulty"].est_calls >= 1.5 * steps["synthesize"].est_calls
    assert report.totals()["calls"] > 400  # the issue measured ~600 real calls; the old plan said 134
    assert "upper bound" in report.estimate_note
