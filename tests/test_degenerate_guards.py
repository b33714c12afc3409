"""Guards against degenerate but schema-valid model output (issue 17, items 2 and 3).

The embedded 135M model produces these only by chance, so the LLM-side attacks use a scripted
OpenAI-compatible server on 127.0.0.1 that injects exactly that fault; the guards themselves run
unchanged (the real operators, DuckDB files, the real HTTP client).
"""

import json
import re
from pathlib import Path

import duckdb

from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from dataflow_dagster.core.runner import run_source, run_step
from dataflow_dagster.core.storage import Storage
from dataflow_dagster.llm.openai_client import OpenAICompatClient
from operators.core.degenerate import echoed_instruction, token_recall
from operators.knowledge.clean import CLEAN_PROMPT, LLMKnowledgeCleaner
from operators.rag.echo import QAEchoFilter
from operators.text2sql.generate import SQLVariationGenerator
from tests.helpers import loopback_server, scripted_chat_handler

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "data"


def _run(tmp_path: Path, rows: list[dict], step: Step, llm: object = None) -> dict[str, list[dict]]:
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"row_no": i, **r}) + "\n" for i, r in enumerate(rows)))
    p = Pipeline("t", Source(str(src)), [step])
    st = Storage(tmp_path / ".df")
    run_source(st, p)
    out = run_step(st, p, step.name, llm=llm)  # type: ignore[arg-type]
    con = duckdb.connect()
    return {
        k: sorted(con.sql(f"SELECT * FROM {ref.read_sql()}").to_arrow_table().to_pylist(), key=lambda r: str(r))
        for k, ref in out.refs.items()
    }


CHUNKS = {
    "photo": "Photosynthesis converts light energy into chemical energy. Page 3. Chlorophyll absorbs red light.",
    "mito": "Mitochondria produce most of the cell's ATP through respiration. Home | About | Contact",
    "newton": "Newton's second law states that force equals mass times acceleration.\nFooter (c) 2024",
}


def _cleaner_answer(prompt: str) -> dict:
    if "Photosynthesis" in prompt:  # parrots the prompt's own instruction
        return {"cleaned": "Remove navigation text, headers/footers, page numbers, broken line breaks and markup."}
    if "Mitochondria" in prompt:  # a stray word
        return {"cleaned": "claes"}
    return {"cleaned": "Newton's second law states that force equals mass times acceleration."}


def test_cleaner_refuses_parroted_instructions_and_lost_content(tmp_path: Path) -> None:
    rows = [{"chunk": c} for c in CHUNKS.values()]
    with loopback_server(scripted_chat_handler(_cleaner_answer)) as url:
        client = OpenAICompatClient(url, "scripted", structured_output="json_object", max_retries=0)
        out = _run(tmp_path, rows, Step("clean", LLMKnowledgeCleaner(input_key="chunk")), client)
    by_no = {r["row_no"]: r["chunk"] for r in out["table"]}
    assert by_no[0] == CHUNKS["photo"], "a rewrite that parrots the prompt must not replace the text"
    assert by_no[1] == CHUNKS["mito"], "a rewrite that lost the content must not replace the text"
    assert by_no[2] == "Newton's second law states that force equals mass times acceleration."
    reasons = " | ".join(r["_error"] for r in out["errors"])
    assert len(out["errors"]) == 2
    assert "copies the prompt's instructions" in reasons and "keeps 0% of the original's words" in reasons


def test_degeneracy_measures() -> None:
    assert token_recall("a b c d", "a b c d e") == 1.0 and token_recall("a b c d", "claes") == 0.0
    parrot = "Remove navigation text, headers/footers and markup"
    assert echoed_instruction(parrot, CLEAN_PROMPT, "some passage") is not None
    # a text that itself talks about navigation text is not parroting
    assert echoed_instruction(parrot, CLEAN_PROMPT, parrot) is None
    assert echoed_instruction(CHUNKS["newton"], CLEAN_PROMPT, CHUNKS["newton"]) is None


def test_qa_echo_filter_rejects_questions_that_contain_their_answer(tmp_path: Path) -> None:
    rows = [
        {"question": "Who wrote Hamlet?", "answer": "Who wrote Hamlet", "gold": "Shakespeare"},  # same text
        {"question": "In which year did the Berlin Wall fall?", "answer": "the Berlin Wall", "gold": "1989"},
        {"question": "What is the capital of France?", "answer": "Paris", "gold": "the capital of France"},
        {"question": "What is the capital of Portugal?", "answer": "Lisbon", "gold": "Lisbon."},  # fine
        {"question": "Is water wet?", "answer": "yes", "gold": "yes"},  # yes/no answers are not echoes
    ]
    out = _run(tmp_path, rows, Step("no_echo", QAEchoFilter(question_key="question", answer_keys=["answer", "gold"])))
    assert sorted(r["row_no"] for r in out["table"]) == [3, 4]
    reasons = {r["row_no"]: r["_reason"] for r in out["rejected"]}
    assert set(reasons) == {0, 1, 2}
    assert "(answer)" in reasons[0] and "(answer)" in reasons[1] and "(gold)" in reasons[2]


def test_identical_sql_variation_is_dropped(tmp_path: Path) -> None:
    source_sql = "SELECT name, city FROM customers WHERE city = 'Lisbon'"

    def answer(prompt: str) -> dict:
        if "GROUP BY" in prompt.split("Write a new SELECT query that")[1]:
            return {"sql": "select name,  city from customers where city = 'Lisbon';"}  # the source again
        return {"sql": "SELECT name, city FROM customers WHERE city = 'Porto'"}

    op = SQLVariationGenerator(db_root=str(ASSETS / "text2sql_db"), variations=["changes the WHERE", "uses GROUP BY"])
    with loopback_server(scripted_chat_handler(answer)) as url:
        client = OpenAICompatClient(url, "scripted", structured_output="json_object", max_retries=0)
        out = _run(tmp_path, [{"db_id": "shop", "sql": source_sql}], Step("variation", op), client)
    assert [re.sub(r"\s+", " ", r["sql"]) for r in out["table"]] == [
        "SELECT name, city FROM customers WHERE city = 'Porto'"
    ]
    assert out["table"][0]["source_sql"] == source_sql
