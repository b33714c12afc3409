"""Prompted operators declared in YAML only: the shipped prompted pipeline on the embedded model,
plus the configuration rules (template vs user_prompt, schema/columns, keep rules) and DataFlow keys."""

from pathlib import Path

import duckdb
import jsonschema
import pytest

from assets.definitions import PIPELINES
from dataflow_dagster.core.plan import plan
from dataflow_dagster.core.runner import step_code_version
from dataflow_dagster.core.schema import pipeline_schema
from dataflow_dagster.core.storage import Storage
from dataflow_dagster.core.yaml_loader import PipelineFileError, load_pipeline_file, parse_yaml
from dataflow_dagster.llm.local import LlamaCppClient
from operators.core.contract import OperatorContext, OperatorError
from operators.core.registry import get
from tests.helpers import check_results, defs_for, materialized, run_job

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "assets" / "pipelines" / "prompted_yaml.yaml"


@pytest.fixture(scope="module")
def shipped_run(tmp_path_factory: pytest.TempPathFactory):
    pipeline = next(p for p in PIPELINES if p.name == "prompted_yaml")
    root = tmp_path_factory.mktemp("prompted") / ".dataflow"
    result = run_job(defs_for([pipeline], root), "prompted_yaml_job")
    return pipeline, root, result


def test_yaml_only_prompted_pipeline_runs_on_the_embedded_model(shipped_run):
    _, root, result = shipped_run
    assert result.success
    checks = check_results(result)
    assert {"prompted_yaml/summary:error_share", "prompted_yaml/keep_informative:error_share"} <= set(checks)
    assert all(checks.values()), checks
    mats = materialized(result)
    con = duckdb.connect(str(root / "catalog.duckdb"), read_only=True)
    summaries = con.execute("SELECT _id, _parent_ids, summary FROM prompted_yaml__summary").fetchall()
    n_err = con.execute("SELECT count(*) FROM prompted_yaml__summary__errors").fetchall()[0][0]
    assert len(summaries) + n_err == mats["prompted_yaml/non_empty"]["dagster/row_count"]
    assert summaries and all(len(p) == 1 and 10 <= len(s) <= 200 for _, p, s in summaries)
    kept = con.execute("SELECT _id, summary_score FROM prompted_yaml__keep_informative").fetchall()
    rejected = con.execute(
        "SELECT _id, summary_score, _reason FROM prompted_yaml__keep_informative__rejected"
    ).fetchall()
    assert sorted(i for i, *_ in kept + rejected) == sorted(i for i, *_ in summaries)  # every row kept or rejected
    assert all(2 <= s <= 5 for _, s in kept)
    for _, score, reason in rejected:
        assert reason.startswith("PromptedFilter: ")
        assert (score is None and "no parsable answer" in reason) or (score < 2 and "fails" in reason)
    con.close()


def test_prompt_is_a_resource_and_its_hash_is_in_the_code_version(shipped_run, tmp_path: Path):
    pipeline, _, _ = shipped_run
    step = pipeline.step("summary")
    assert step.op.needs_llm and step.effective_prompt is not None
    assert "Write one sentence" in step.effective_prompt.template
    defs = defs_for([pipeline], tmp_path / ".dataflow")
    assert defs.resources is not None and "prompt__prompted_yaml__summary" in defs.resources
    version = step_code_version(step.op.version, step.op.fingerprint(), step.effective_prompt)
    edited = SHIPPED.read_text(encoding="utf-8").replace("Write one sentence", "Write a sentence")
    other = tmp_path / "assets" / "pipelines" / SHIPPED.name
    other.parent.mkdir(parents=True)
    other.write_text(edited, encoding="utf-8")
    (tmp_path / "assets" / "data").mkdir()
    (tmp_path / "assets" / "data" / "pt_input.jsonl").write_text(
        (REPO / "assets" / "data" / "pt_input.jsonl").read_text(encoding="utf-8"), encoding="utf-8"
    )
    step2 = load_pipeline_file(other).step("summary")
    assert step2.effective_prompt.content_hash != step.effective_prompt.content_hash
    assert step_code_version(step2.op.version, step2.op.fingerprint(), step2.effective_prompt) != version


def test_plan_counts_only_rows_with_input_and_hits_the_cache_after_a_run(shipped_run):
    pipeline, root, _ = shipped_run
    p = plan(pipeline, Storage(root), LlamaCppClient().model_id)  # the default resource's client
    by_step = {s.asset: s for s in p.steps}
    summary = by_step["prompted_yaml__summary"]
    assert summary.calls == 0 and summary.cache_hits == summary.rows > 0  # materialised: all answered from cache


@pytest.mark.parametrize(
    ("config", "needle"),
    [
        ("{template: 'a {raw_content}', user_prompt: 'b'}", "either `template`"),
        ("{output_columns: [x]}", "needs `json_schema`"),
        ("{json_schema: {type: object, properties: {a: {type: string}}}, output_columns: [b]}", "are not properties"),
        ("{template: 'unclosed {raw_content'}", "not a valid format string"),
    ],
)
def test_bad_prompted_config_names_file_line_and_problem(tmp_path: Path, config: str, needle: str):
    f = tmp_path / "p.yaml"
    (tmp_path / "in.jsonl").write_text('{"raw_content": "x"}\n')
    steps = f"steps:\n  - name: g\n    op: PromptedGenerator\n    config: {config}\n"
    f.write_text(f"pipeline: p\nsource: {{path: in.jsonl}}\n{steps}")
    with pytest.raises(PipelineFileError) as err:
        load_pipeline_file(f)
    assert f"{f}:6" in str(err.value) and needle in str(err.value)


@pytest.mark.parametrize(
    "rule", ["read_csv('/etc/passwd') IS NOT NULL", "score > (SELECT 1)", "lower(label) = 'x'", "t.score > 1"]
)
def test_keep_rule_refuses_anything_but_column_comparisons(rule: str):
    with pytest.raises(OperatorError, match="keep rule"):
        get("PromptedFilter")(
            json_schema={"type": "object", "properties": {"label": {"type": "string"}}}, keep_when=rule
        )


def test_keep_rule_over_output_columns_and_dataflow_keys():
    f = get("PromptedFilter")(
        json_schema={
            "type": "object",
            "properties": {"label": {"enum": ["good", "bad"]}, "score": {"type": "integer"}},
        },
        output_columns=["label", "score"],
        keep_when="label = 'good' AND score BETWEEN 3 AND 5",
    )
    assert f.output_columns() == ["label", "score"]
    assert "label = 'good'" in f.keep_sql()
    with pytest.raises(OperatorError, match="needs `keep_when`"):
        get("PromptedFilter")(json_schema={"type": "object", "properties": {"label": {"type": "string"}}})
    # DataFlow's FormatStrPromptedGenerator(prompt_template=FormatStrPrompt(...)) and run(**input_keys)
    g = get("FormatStrPromptedGenerator")(prompt_template={"f_str_template": 'Q: {q} as {"json": 1}'}, q="question")
    assert g.input_columns() == ["question"]
    assert g.default_prompt.render({"q": "why?"}) == 'Q: why? as {"json": 1}'
    with pytest.raises(OperatorError, match="no \\{field\\} slot"):
        get("FormatStrPromptedGenerator")(template="Q: {q}", input_keys={"question": "q"})


def test_editor_schema_checks_prompted_configs():
    schema = pipeline_schema()
    doc = parse_yaml(SHIPPED.read_text(encoding="utf-8"), SHIPPED).data
    jsonschema.validate(doc, schema)
    doc["steps"][2]["config"]["min_score"] = "high"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)


def test_chunked_generator_asks_once_per_chunk_and_joins_in_order(tmp_path: Path, local_llm):
    con = duckdb.connect(str(tmp_path / "chunks.duckdb"))
    long = "The cat sat on the mat. " + "Dogs bark loudly at night. " * 12
    (tmp_path / "doc.txt").write_text(long, encoding="utf-8")
    con.execute(
        "CREATE TABLE src AS SELECT * FROM (VALUES ('a1', ?), ('a2', 'Short text about rivers.'), ('a3', '')) "
        "t(_id, raw_content)",
        [str(tmp_path / "doc.txt")],
    )
    op = get("ChunkedPromptedGenerator")(
        system_prompt="Summarise in a few words:", input_path_key="raw_content", max_chunk_len=60, max_tokens=30
    )
    with pytest.raises(OperatorError, match="not found"):  # a2's value is not a file
        op.run(OperatorContext(con=con, source="src", target="o1", rejected="r1", errors="e1", llm=local_llm))
    op = get("ChunkedPromptedGenerator")(system_prompt="Summarise in a few words:", max_chunk_len=60, max_tokens=30)
    con.execute("UPDATE src SET raw_content = ? WHERE _id = 'a1'", [long])
    stats = op.run(OperatorContext(con=con, source="src", target="o2", rejected="r2", errors="e2", llm=local_llm))
    chunks = con.execute("SELECT __row, count(*) FROM o2__chunks GROUP BY ALL ORDER BY 1").fetchall()
    assert chunks == [("a1", 2), ("a2", 1)]  # 348 bytes -> 87 tokens -> halved once; empty a3 sends nothing
    assert stats["llm_rows"] == 3 and stats["chunks"] == 3
    rows = con.execute("SELECT _parent_ids, generated_content FROM o2 ORDER BY 1").fetchall()
    answers = dict(con.execute("SELECT _id, generated_content FROM o2__out").fetchall())
    assert rows[0] == (["a1"], answers["a1#0"] + "\n" + answers["a1#1"])
    assert rows[1] == (["a2"], answers["a2#0"])
    with pytest.raises(OperatorError, match="use system_prompt"):
        get("ChunkedPromptedGenerator")(template="x {raw_content}")
    assert get("ChunkedPromptedGenerator")(output_path_key="summary").config.output_key == "summary"
