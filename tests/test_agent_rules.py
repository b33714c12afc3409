"""Synthesised SQL row rules on text, date and null conditions (issue 20): the agent builds the
pipeline as a user would (``build_pipeline``, no model), the written ``GeneralFilter`` rule is read
back from the file, and the written pipeline is run through the real runner over a small CSV so the
test checks which rows the rule keeps, not just its text. A value with a quote or a LIKE wildcard
must be matched as written (never break or widen the rule)."""

import csv
from pathlib import Path

import duckdb
import pytest

from dataflow_dagster.agent import build_pipeline
from dataflow_dagster.core.runner import run_source, run_step
from dataflow_dagster.core.storage import Storage
from dataflow_dagster.core.yaml_loader import load_pipeline_file

ROWS = [
    (1, "2024-01-02", "AAPL", "Apple rises on iPhone sales", "185.6"),
    (2, "2024-01-03", "TSLA", "Tesla falls as deliveries miss", "238.4"),
    (3, "2024-01-03", "AAPL", "Apple slips on analyst downgrade", ""),
    (4, "2024-01-04", "NVDA", "Nvidia jumps on AI chip demand", "479.9"),
    (5, "2024-01-05", "MSFT", "O'Brien says Microsoft is 100% cloud", "370.9"),
    (6, "2024-01-05", "MSFT", "Microsoft gains 1000 points in a TESLA deal", "367.8"),
    (7, "2024-01-08", "IBM", "", "140.0"),
]


@pytest.fixture
def news(tmp_path: Path) -> Path:
    path = tmp_path / "news.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "date", "ticker", "headline", "close"])
        w.writerows(ROWS)
    return path


def rules_and_kept(req: str, data: Path, tmp_path: Path) -> tuple[list[tuple[str, list[str]]], list[int]]:
    """(operator, filter_rules) of the written file, and the ids of the rows its pipeline keeps when run."""
    res = build_pipeline(req, data, tmp_path / "out")
    pipe = load_pipeline_file(res.path)
    storage = Storage(tmp_path / ".df")
    run_source(storage, pipe)
    for step in pipe.steps:
        out = run_step(storage, pipe, step.name)
    kept = duckdb.sql(f"SELECT id FROM {out.refs['table'].read_sql()} ORDER BY id").fetchall()
    assert res.plan.steps[-1].rows_out == len(kept)  # the dry run agrees with the run
    return [(s.op.name, s.op.config_dict().get("filter_rules", [])) for s in pipe.steps], [r[0] for r in kept]


@pytest.mark.parametrize(
    ("req", "rule", "ids"),
    [
        ("keep only rows where ticker is AAPL", "\"ticker\" = 'AAPL'", [1, 3]),
        ("keep news about NVDA or MSFT", "\"ticker\" IN ('MSFT', 'NVDA')", [4, 5, 6]),
        ("keep rows where ticker is not AAPL", "coalesce(NOT (\"ticker\" = 'AAPL'), true)", [2, 4, 5, 6, 7]),
        ("drop rows with a ticker other than TSLA", "\"ticker\" = 'TSLA'", [2]),
        # a removal keeps rows whose headline is missing (it mentions nothing); ILIKE is case-blind
        (
            "drop headlines that mention Tesla",
            "coalesce(NOT (\"headline\" ILIKE '%Tesla%' ESCAPE '\\'), true)",
            [1, 3, 4, 5, 7],
        ),
        (
            'remove rows whose headline contains the word "downgrade"',
            "coalesce(NOT (\"headline\" ILIKE '%downgrade%' ESCAPE '\\'), true)",
            [1, 2, 4, 5, 6, 7],
        ),
        ('keep headlines starting with "apple"', "\"headline\" ILIKE 'apple%' ESCAPE '\\'", [1, 3]),
        (
            "keep headlines that mention Tesla or Nvidia",
            "(\"headline\" ILIKE '%Tesla%' ESCAPE '\\' OR \"headline\" ILIKE '%Nvidia%' ESCAPE '\\')",
            [2, 4, 6],
        ),
        ("remove rows with a missing close price", '"close" IS NOT NULL', [1, 2, 4, 5, 6, 7]),
        ("keep rows with a non-missing close", '"close" IS NOT NULL', [1, 2, 4, 5, 6, 7]),
        # two conditions in one clause: both must hold for a keep, both for a removal to drop
        ("keep AAPL news after January 2, 2024", "(\"date\" > '2024-01-02') AND (\"ticker\" = 'AAPL')", [3]),
        (
            "drop AAPL rows with close below 186",
            'coalesce(NOT (("close" < 186) AND ("ticker" = \'AAPL\')), true)',
            [2, 3, 4, 5, 6, 7],
        ),
        ("keep rows from 2024-01-03 onwards", "\"date\" >= '2024-01-03'", [2, 3, 4, 5, 6, 7]),
        ("only news after January 3, 2024", "\"date\" > '2024-01-03'", [4, 5, 6, 7]),
        ("drop news before 4 Jan 2024", "coalesce(NOT (\"date\" < '2024-01-04'), true)", [4, 5, 6, 7]),
        (
            "keep rows between January 2, 2024 and 2024-01-04",
            "\"date\" >= '2024-01-02' AND \"date\" <= '2024-01-04'",
            [1, 2, 3, 4],
        ),
        (
            "keep rows from Jan 3, 2024 to Jan 4, 2024",
            "\"date\" >= '2024-01-03' AND \"date\" <= '2024-01-04'",
            [2, 3, 4],
        ),
    ],
)
def test_a_text_date_or_null_condition_on_the_data_is_a_synthesised_rule(
    news: Path, tmp_path: Path, req: str, rule: str, ids: list[int]
) -> None:
    steps, kept = rules_and_kept(req, news, tmp_path)
    assert steps == [("GeneralFilter", [rule])]
    assert kept == ids


def test_two_rule_clauses_join_one_filter(news: Path, tmp_path: Path) -> None:
    steps, kept = rules_and_kept("keep news about MSFT and drop headlines that mention Tesla", news, tmp_path)
    assert [n for n, _ in steps] == ["GeneralFilter"] and len(steps[0][1]) == 2
    assert kept == [5]


@pytest.mark.parametrize(
    ("req", "ids"),
    [
        ('keep headlines that mention "100%"', [5]),  # an unescaped % would also keep "1000" (row 6)
        ('drop headlines that mention "O\'Brien"', [1, 2, 3, 4, 6, 7]),
        ('keep headlines containing "O\'Brien says Microsoft is 100%"', [5]),
        ('drop headlines that mention "Microsoft_is"', [1, 2, 3, 4, 5, 6, 7]),  # _ is not "any character"
        ('drop rows where ticker is "AAPL\' OR 1=1 --"', [1, 2, 3, 4, 5, 6, 7]),  # a value, never SQL
    ],
)
def test_a_quote_or_wildcard_in_the_value_neither_breaks_nor_widens_the_rule(
    news: Path, tmp_path: Path, req: str, ids: list[int]
) -> None:
    steps, kept = rules_and_kept(req, news, tmp_path)
    assert [n for n, _ in steps] == ["GeneralFilter"]
    assert kept == ids


@pytest.mark.parametrize(
    ("req", "op"),
    [
        ("drop headlines shorter than 5 words", "WordNumberFilter"),
        ("remove duplicate headlines", "ExactDedupFilter"),
        ("keep English headlines", "LanguageFilter"),
        ("remove headlines that contain HTML entities", "HtmlEntityFilter"),
        ("remove rows with an empty headline", "ContentNullFilter"),
        ("drop headlines that mention politics", "PromptedFilter"),  # a topic, a judge's work; not a literal
    ],
)
def test_a_clause_a_registered_operator_serves_is_not_a_rule(news: Path, tmp_path: Path, req: str, op: str) -> None:
    res = build_pipeline(req, news, tmp_path / "out")
    assert [s.op.name for s in load_pipeline_file(res.path).steps] == [op]


@pytest.mark.parametrize(
    ("req", "rule", "ids"),
    [
        ("keep posts after January 3, 2024", "\"posted_at\" >= '2024-01-04'", [3]),
        ("keep posts on 2024-01-03", "\"posted_at\" >= '2024-01-03' AND \"posted_at\" < '2024-01-04'", [1, 2]),
        ("drop posts up to 2024-01-03", "coalesce(NOT (\"posted_at\" < '2024-01-04'), true)", [3]),
    ],
)
def test_a_day_on_a_timestamp_column_means_the_whole_day(tmp_path: Path, req: str, rule: str, ids: list[int]) -> None:
    path = tmp_path / "posts.csv"
    path.write_text(
        "id,posted_at,post\n1,2024-01-03 00:00:00,first post of the day\n"
        "2,2024-01-03 18:30:00,an evening post here\n3,2024-01-04 09:00:00,the next morning post\n"
    )
    steps, kept = rules_and_kept(req, path, tmp_path)
    assert steps == [("GeneralFilter", [rule])]
    assert kept == ids
