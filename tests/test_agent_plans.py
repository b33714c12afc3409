"""Issue-20 requests become plans of the right shape: exact operator sets, key bindings, surviving
rows, and a refusal (nothing written) where the dry run would keep no rows. Data: bench/agent_data."""

from pathlib import Path

import pytest

from dataflow_dagster.agent import AgentRefusal, build_pipeline, parse_intent
from dataflow_dagster.agent.planner import profile_data
from dataflow_dagster.agent.recipes import match_recipe

DATA = Path(__file__).resolve().parents[1] / "bench" / "agent_data"


def bound(res_pipeline) -> list[tuple[str, object]]:
    return [(s.op.name, s.op.config_dict().get("input_key")) for s in res_pipeline.steps]


def test_dedupe_and_filter_keeps_its_filter(tmp_path: Path) -> None:
    res = build_pipeline("dedupe and filter data/x.jsonl then write QA pairs", DATA / "texts.jsonl", tmp_path)
    ops = bound(res.pipeline)
    assert len(ops) == 3
    assert ("ContentNullFilter", "text") in ops and ("PassageQAGenerator", "text") in ops
    assert any("Dedup" in name and key == "text" for name, key in ops)
    assert res.plan.steps[-1].rows_out  # survivors
    # "filter out duplicates" stays one action
    assert parse_intent("filter out duplicates in the texts").actions == ["dedup"]


def test_math_cot_with_agreement_is_the_verification_chain(tmp_path: Path) -> None:
    req = "solve the math questions step by step with chain-of-thought, keep only those whose answers agree"
    res = build_pipeline(req, DATA / "math.jsonl", tmp_path)
    assert res.selection == "recipe"
    assert [n for n, _ in bound(res.pipeline)] == [
        "CoTAnswerGenerator",
        "AnswerExtractor",
        "PseudoAnswerGenerator",
        "AnswerVerifier",
        "VerifiedAnswerFilter",
    ]
    assert bound(res.pipeline)[0] == ("CoTAnswerGenerator", "question")  # never the verifier on `question`
    verifier = res.pipeline.steps[3].op.config_dict()
    assert verifier["reference_key"] == "pseudo_answer"  # agreement = majority vote, not the gold column
    assert res.plan.steps[-1].rows_out
    assert any("contract:" in n for n in res.notes)


def test_code_tests_recipe_shape_and_zero_survivor_refusal(tmp_path: Path) -> None:
    req = "write an instruction for each python function, generate unit tests and keep only code that passes"
    plan = match_recipe(parse_intent(req), profile_data(DATA / "code.jsonl"))
    assert plan is not None
    assert [(s.op.name, s.op.config_dict().get("input_key")) for s in plan.steps] == [
        ("CodeInstructionSynthesizer", "code"),
        ("CodeTestCaseGenerator", "instruction"),
        ("CodeExecutionEvaluator", "code"),
        ("ExecutionStatusFilter", "exec_status"),
    ]
    assert plan.steps[1].op.config_dict()["code_key"] == "code"
    # The embedded model's tests fail on the sample rows: the agent must refuse, not hand out a
    # pipeline whose dry run ends at 0 rows (the old agent wrote ExecutionStatusFilter(code) first).
    try:
        res = build_pipeline(req, DATA / "code.jsonl", tmp_path)
    except AgentRefusal as exc:
        assert "keeps no rows" in str(exc) or "failed" in str(exc)
        assert not list(tmp_path.glob("*.yaml"))
    else:
        assert [s.op.name for s in res.pipeline.steps] == [s.op.name for s in plan.steps]
        # zero survivors only pass when they come from the dry run's placeholder tests, and it is said
        assert res.plan.steps[-1].rows_out or any("placeholder answers of LLM step 'tests'" in n for n in res.notes)


def test_zero_survivors_on_the_sources_own_columns_are_evidence(tmp_path: Path) -> None:
    """The old agent's ExecutionStatusFilter(input_key: code) judged real data: no placeholder excuse."""
    from dataflow_dagster.agent.build import placeholder_verdict
    from dataflow_dagster.core.dryrun import dry_run
    from dataflow_dagster.core.pipeline import Pipeline, Source, Step
    from operators.code.execution import ExecutionStatusFilter

    p = Pipeline("p", Source(str(DATA / "code.jsonl")), [Step("keep", ExecutionStatusFilter(input_key="code"))])
    report = dry_run(p)
    assert report.steps[-1].rows_out == 0 and placeholder_verdict(p, report) is None


def test_limits_follow_the_clause_polarity_and_ranges(tmp_path: Path) -> None:
    res = build_pipeline("discard rows with more than 200 words", DATA / "texts.jsonl", tmp_path)
    cfg = res.pipeline.steps[0].op.config
    assert (cfg.min_words, cfg.max_words) == (0, 200) and res.plan.steps[-1].rows_out  # no default minimum left
    res = build_pipeline(
        "strip out duplicated documents, then keep only texts between 5 and 50 words", DATA / "texts.jsonl", tmp_path
    )
    assert [s.op.name for s in res.pipeline.steps] == ["ExactDedupFilter", "WordNumberFilter"]
    cfg = res.pipeline.steps[1].op.config
    assert (cfg.min_words, cfg.max_words) == (5, 50)


@pytest.mark.parametrize(
    ("req", "data", "want"),
    [
        (
            "create test cases for each function and keep only the ones that pass",
            "code.jsonl",
            ["CodeTestCaseGenerator", "CodeExecutionEvaluator", "ExecutionStatusFilter"],
        ),
        (
            "eliminate blank rows, then weed out anything shorter than 6 words",
            "texts.jsonl",
            ["ContentNullFilter", "WordNumberFilter"],
        ),
        ("remove texts that are not in English", "texts.jsonl", ["LanguageFilter"]),
        (
            "generate QA pairs from the passages and remove exact duplicates first",
            "texts.jsonl",
            ["ExactDedupFilter", "PassageQAGenerator"],
        ),
        (
            "after removing duplicates, tag each passage with its topic",
            "texts.jsonl",
            ["ExactDedupFilter", "TopicClassifier"],
        ),
    ],
)
def test_clause_decomposition_orders_and_covers_every_action(req: str, data: str, want: list[str], tmp_path: Path):
    res = build_pipeline(req, DATA / data, tmp_path)
    assert [s.op.name for s in res.pipeline.steps] == want


@pytest.mark.parametrize("req", ["keep only texts with at least 500 words"])
def test_a_plan_that_drops_every_row_is_refused(req: str, tmp_path: Path) -> None:
    with pytest.raises(AgentRefusal, match="keeps no rows"):
        build_pipeline(req, DATA / "texts.jsonl", tmp_path)
    assert not list(tmp_path.glob("*.yaml"))


def test_stock_news_csv_to_text2sql_runs_to_rows_with_question_sql_cot_difficulty(tmp_path: Path, local_llm) -> None:
    import duckdb

    from dataflow_dagster.core.runner import run_source, run_step
    from dataflow_dagster.core.storage import Storage
    from dataflow_dagster.core.yaml_loader import load_pipeline_file

    csv = tmp_path / "stock_news.csv"
    csv.write_text(
        "date,ticker,headline,close\n2024-01-02,AAPL,Apple rises on iPhone sales,185.6\n"
        "2024-01-02,MSFT,Microsoft gains on cloud beat,370.9\n2024-01-03,TSLA,Tesla falls on deliveries,238.4\n"
        "2024-01-04,AAPL,Apple slips on downgrade,184.3\n"
    )
    req = "I have a CSV of stock news; make 50 Text-to-SQL samples with CoT and three difficulty levels"
    res = build_pipeline(req, csv, tmp_path / "out")
    assert res.selection == "recipe"
    assert [s.op.name for s in res.pipeline.steps] == [
        "SQLGenerator",
        "SQLExecutionFilter",
        "SQLQuestionGenerator",
        "Text2SQLCoTGenerator",
        "SQLComponentClassifier",
    ]
    with duckdb.connect(str(tmp_path / "stock_news_db" / "stock_news.duckdb"), read_only=True) as con:
        types = dict(con.execute("SELECT column_name, data_type FROM information_schema.columns").fetchall())
    assert types["close"] == "DOUBLE" and types["date"] == "DATE"  # typed, not all VARCHAR
    # "50 samples" sets the generation count and the plan's estimate
    assert len(res.pipeline.steps[0].op.config.complexities) == 50 and res.plan.steps[0].est_calls == 50
    pipe = load_pipeline_file(res.path)  # run what the agent wrote, as a user would
    storage = Storage(tmp_path / ".df")
    run_source(storage, pipe)
    for step in pipe.steps:
        out = run_step(storage, pipe, step.name, llm=local_llm)
    rows = duckdb.connect().sql(f"SELECT * FROM {out.refs['table'].read_sql()}").to_arrow_table().to_pylist()
    assert rows
    for r in rows:
        assert r["question"] and r["sql"] and r["cot_reasoning"] and r["sql_component_difficulty"]
