"""GeneralFilter: DataFlow's rule-list filter with SQL rules, checked when the config is read."""

import pytest

from operators.core.contract import OperatorError
from operators.general_text.general_filter import GeneralFilter
from tests.helpers import SQL_ATTACKS, run_op

ROWS = [
    {"text": "a short one", "score": 5, "lang": "en"},
    {"text": "x", "score": 9, "lang": "en"},
    {"text": "long enough text", "score": 2, "lang": "en"},
    {"text": "assez long texte", "score": 8, "lang": "fr"},
    {"text": "no score here", "score": None, "lang": "en"},
    {"text": "another good row", "score": 4, "lang": "EN"},
]


def test_keeps_rows_passing_every_rule_and_names_the_failed_one(tmp_path):
    op = GeneralFilter(filter_rules=["score >= 4", "length(trim(text)) > 3 AND lower(lang) = 'en'"])
    kept, rejected, _ = run_op(tmp_path, ROWS, op)
    assert [r["text"] for r in kept] == ["a short one", "another good row"]
    reasons = {r["text"]: r["_reason"] for r in rejected}
    assert reasons["long enough text"] == "GeneralFilter: fails score >= 4"
    assert reasons["no score here"] == "GeneralFilter: fails score >= 4"  # NULL is not true
    assert reasons["x"].endswith("lower(lang) = 'en'")
    assert op.input_columns() == ["lang", "score", "text"]


@pytest.mark.parametrize(
    "rule",
    [
        "lambda df: df['score'] > 3",
        "score > (SELECT max(score) FROM read_csv('/etc/passwd'))",
        "read_text('/etc/passwd') <> ''",
        "score > 1; DROP TABLE t",
        *[f"({sql}) IS NOT NULL" for dialect, sql in SQL_ATTACKS if dialect == "duckdb"],
    ],
)
def test_bad_rules_are_refused_at_config_time_naming_the_rule(rule):
    with pytest.raises(OperatorError, match=r"filter_rules\[1\]"):
        GeneralFilter(filter_rules=["score > 1", rule])


def test_an_escaped_like_matches_its_wildcards_literally(tmp_path):
    rows = [{"text": "100% sure"}, {"text": "1000 rows"}, {"text": "snake_case"}, {"text": "snakeXcase"}]
    op = GeneralFilter(filter_rules=["text ILIKE '%100\\%%' ESCAPE '\\' OR text LIKE 'snake\\_%' ESCAPE '\\'"])
    kept, _, _ = run_op(tmp_path, rows, op)
    assert [r["text"] for r in kept] == ["100% sure", "snake_case"]


@pytest.mark.parametrize(
    "rule",
    ["text LIKE '%' ESCAPE (SELECT '\\')", "text ILIKE '%' ESCAPE read_text('/etc/passwd')"],
)
def test_an_escape_clause_carries_no_query(rule):
    with pytest.raises(OperatorError, match=r"filter_rules\[0\]"):
        GeneralFilter(filter_rules=[rule])
