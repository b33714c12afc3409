"""Text-to-SQL pipeline on the seeded fixture databases (assets/data/text2sql_db, SQLite).

load (db_id, sql seeds) -> exec_filter -> question -> consistency -> cot -> cot_match
    -> component_difficulty -> exec_difficulty
branches: load -> generated_sql -> generated_exec (SQL synthesis from the schema)
          exec_filter -> variation -> variation_exec (SQL augmentation)

Sized for the embedded model: 6 seed queries on two fixture databases, k=2 sampled answers per
question, ~35 calls. Checks: every LLM generator blocks when more than 10% of its calls fail for
good; ``cot_match`` and ``exec_difficulty`` block unless every row got a verdict;
``component_difficulty`` blocks when under 90% of the SQL parses (seed SQL is known-good, so this
catches a broken parser or a wrong column). Variations identical to their source are dropped.
Scale up: ``text2sql_pipeline(source_path=..., db_root=..., num_generations=10)``.
"""

from pathlib import Path

from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from operators.text2sql.difficulty import SQLComponentClassifier, SQLExecutionClassifier
from operators.text2sql.execution import SQLExecutionFilter, SQLResultMatchEvaluator
from operators.text2sql.generate import (
    SQLConsistencyFilter,
    SQLGenerator,
    SQLQuestionGenerator,
    SQLVariationGenerator,
    Text2SQLCoTGenerator,
)

DATA_DIR = Path(__file__).parent / "data"


def text2sql_pipeline(
    source_path: str | Path | None = None,
    db_root: str | Path | None = None,
    name: str = "text2sql",
    num_generations: int = 2,
    complexities: tuple[str, ...] = ("simple single-table", "two-table JOIN"),
    variations: tuple[str, ...] = ("adds or changes a WHERE condition",),
) -> Pipeline:
    root = str(db_root or DATA_DIR / "text2sql_db")
    db = {"db_root": root, "timeout_s": 5.0, "max_rows": 1000}
    # k sampled answers per question: 0 correct -> hard, some -> medium, all -> easy
    thresholds = [0, max(num_generations - 1, 0)]
    return Pipeline(
        name=name,
        description="Text-to-SQL: guarded execution, questions from SQL, consistency, CoT, difficulty, synthesis",
        source=Source(path=str(source_path or DATA_DIR / "text2sql_seed.jsonl"), required_columns=["db_id", "sql"]),
        steps=[
            Step("exec_filter", SQLExecutionFilter(**db)),
            Step("question", SQLQuestionGenerator(db_root=root)),
            Step("consistency", SQLConsistencyFilter(db_root=root)),
            Step("cot", Text2SQLCoTGenerator(db_root=root)),
            Step("cot_match", SQLResultMatchEvaluator(**db, predicted_key="cot_sql", output_key="cot_sql_match")),
            Step("component_difficulty", SQLComponentClassifier(dialect="sqlite")),
            Step(
                "exec_difficulty",
                SQLExecutionClassifier(
                    db_root=root,
                    num_generations=num_generations,
                    thresholds=thresholds,
                    labels=["hard", "medium", "easy"],
                ),
            ),
            Step("generated_sql", SQLGenerator(db_root=root, complexities=list(complexities)), after="load"),
            Step("generated_exec", SQLExecutionFilter(**db)),
            Step("variation", SQLVariationGenerator(db_root=root, variations=list(variations)), after="exec_filter"),
            Step("variation_exec", SQLExecutionFilter(**db)),
        ],
    )
