"""Text2SQLCoTVotingGenerator and Text2SQLPromptGenerator on the shipped fixture databases, through the
runner on a real DuckDB: the vote follows execution results, the prompt carries the row's schema."""

from pathlib import Path

import pytest

from operators.text2sql.fixtures import build_all
from operators.text2sql.prompt_column import Text2SQLPromptGenerator
from operators.text2sql.voting import Text2SQLCoTVotingGenerator
from tests.helpers import run_op


@pytest.fixture(scope="module")
def dbs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dbs")
    build_all(root)
    return root


def cot(sql: str) -> str:
    return f"Let me think about the tables.\n```sql\n{sql}\n```"


def test_cot_voting_picks_the_majority_result(dbs: Path, tmp_path: Path):
    long_same = "SELECT count(*) FROM orders WHERE 1 = 1"
    rows = [
        {  # two chains agree on count(orders); the shorter SQL of the two is chosen, the odd one loses
            "db_id": "shop",
            "cot_responses": [
                cot("SELECT count(*) FROM customers"),
                cot(long_same),
                cot("SELECT count(*) FROM orders"),
            ],
        },
        {  # no majority: the shortest SQL that ran wins; a mutation never runs
            "db_id": "shop",
            "cot_responses": [
                cot("DELETE FROM orders"),
                cot("SELECT name FROM customers"),
                cot("SELECT 1 FROM orders"),
            ],
        },
        {"db_id": "shop", "cot_responses": ["no sql at all", cot("SELECT nope FROM missing")]},  # none ran
    ]
    op = Text2SQLCoTVotingGenerator(db_root=str(dbs), input_cot_responses_key="cot_responses")
    kept, _, lineage = run_op(tmp_path, rows, op)
    assert [r["cot_reasoning"] for r in kept] == [
        cot("SELECT count(*) FROM orders"),
        cot("SELECT 1 FROM orders"),
        "no sql at all",
    ]
    assert lineage["stats"]["voted_rows"] == 2


def test_prompt_column_has_schema_evidence_and_question(dbs: Path, tmp_path: Path):
    rows = [
        {"db_id": "shop", "question": "How many orders?", "evidence": "orders are rows of orders"},
        {"db_id": "school", "question": "List teachers.", "evidence": None},
    ]
    op = Text2SQLPromptGenerator(db_root=str(dbs), output_prompt_key="prompt")
    kept, _, _ = run_op(tmp_path, rows, op)
    shop, school = (r["prompt"] for r in kept)
    assert "CREATE TABLE orders" in shop and "CREATE TABLE teachers" not in shop
    assert "Evidence: orders are rows of orders" in shop and "Question: How many orders?" in shop
    assert "CREATE TABLE teachers" in school and "Evidence" not in school


def test_prompt_column_names_a_missing_database(dbs: Path, tmp_path: Path):
    with pytest.raises(Exception, match="no database for db_id 'nowhere'"):
        run_op(tmp_path, [{"db_id": "nowhere", "question": "q"}], Text2SQLPromptGenerator(db_root=str(dbs)))
