"""Domain recipes: ordered, key-bound operator chains for requests whose shape retrieval cannot infer.

A request such as "generate unit tests and keep only code that passes" names two actions, but the
operator contract needs four steps (tests -> execution -> status filter, with the code column bound
as the code to run). Retrieval picks one operator per action and cannot know that; a recipe encodes
the chain once, binds its keys to the request's data, and says which steps the contract added. The
builder validates a recipe's pipeline exactly like any other (dry run with surviving rows, Dagster
load) and falls back to retrieval when it does not hold.
"""

import re
from collections.abc import Callable

from dataflow_dagster.agent.intent import Intent
from dataflow_dagster.agent.profile import DataProfile
from dataflow_dagster.agent.recipe_plan import RecipePlan, column
from dataflow_dagster.agent.recipes_docs import function_calling, knowledge_docs, rag_multihop
from dataflow_dagster.agent.recipes_sft import sft, sft_from_scratch
from dataflow_dagster.core.pipeline import Step
from operators.code.execution import CodeExecutionEvaluator, ExecutionStatusFilter
from operators.code.generators import CodeInstructionSynthesizer, CodeTestCaseGenerator
from operators.reasoning.answers import AnswerExtractor
from operators.reasoning.generators import CoTAnswerGenerator
from operators.reasoning.verify import AnswerVerifier, PseudoAnswerGenerator, VerifiedAnswerFilter

__all__ = ["RecipePlan", "match_recipe"]

_KEEP_PASSING = re.compile(r"\b(pass|passes|passing|execut\w*|run[s]?\b|succeed\w*|work[s]?|fail\w*)\b", re.I)
_AGREE = re.compile(r"\b(agree\w*|consisten\w*|majority|vote)\b|多数|投票", re.I)
_VERIFIED = re.compile(
    r"\b(verif\w*|correct\w*|match\w*|right|equal\w*|same as|gold\w*|reference|ground[- ]truth)\b|"
    r"验证|正确|一致|标准答案|参考答案",
    re.I,
)
_COT = re.compile(
    r"\b(cot|chain[- ]of[- ]thought|step[- ]by[- ]step|reason\w*|solve|solution\w*)\b|思维链|解题|推理", re.I
)
_RUNS = re.compile(
    r"\b(?:runs?|execut\w*|compil\w*)\b(?:\W+\w+){0,4}?\W+(?:without (?:an? )?(?:errors?|exceptions?|crash\w*)|"
    r"successfully|cleanly|fine)|\b(?:crash\w*|raise\w* (?:an? )?(?:errors?|exceptions?))\b",
    re.I,
)
_BACK = re.compile(r"back[- ]?translat\w*|task descriptions?|describe what", re.I)
_REGENERATE = re.compile(
    r"\b(?:fresh|new|another|regenerat\w*|re-?writ\w*|re-?implement\w*)\b\W+(?:\w+\W+){0,2}?"
    r"(?:solutions?|code|implementations?|programs?|versions?)\b|write (?:the )?code for (?:each|every|the)",
    re.I,
)
_CODE_CHAIN = re.compile(
    r"\b(?:tests?|pass\w*|fail\w*|execut\w*|runs?|grad\w*|quality|scor\w*|fresh|solution\w*|instructions?)\b|"
    r"back[- ]?translat\w*|task descriptions?",
    re.I,
)
_GRADE = re.compile(r"\b(?:grad\w*|quality|scor\w*|rat(?:e|ed|ing)|judg\w*)\b", re.I)
_INSTRUCTION = re.compile(r"\binstruction", re.I)
_CODE = re.compile(r"\b(?:tests?|pass\w*|fail\w*|execut\w*|runs?)\b|back[- ]?translat\w*|task descriptions?", re.I)
_NEW_QUESTIONS = re.compile(
    r"\b(?:new|more|similar|fresh|additional|augment\w*|variants?|harder|easier|more difficult|rephrased)\b\W+"
    r"(?:\w+\W+){0,3}(?:problems?|questions?|versions?|variants?|variations?)",
    re.I,
)
_RATE = re.compile(r"\b(?:rat\w*|scor\w*|classif\w*|label\w*|grad\w*|assess\w*|judg\w*|estimat\w*)\b|评估|打分", re.I)
_CONSISTENT = re.compile(
    r"\b(?:consisten\w*|inconsisten\w*|(?:do(?:es)?n'?t|do(?:es)? not|not) match|mismatch\w*|agree\w*)\b|一致", re.I
)
# what the Text-to-SQL chain itself does, so that clauses saying it are not added again after it
_SQL_CLAIMS = re.compile(
    r"\bsql\b|quer(?:y|ies)|execut\w*|\bruns?\b|\bfail\w*|question|back[- ]?translat\w*|chain[- ]of[- ]thought|"
    r"\bcot\b|reasoning|difficult\w*|complexit\w*|consisten\w*|match\w*",
    re.I,
)
_MATH_DIFFICULTY = re.compile(r"difficult\w*|\bhard\w*|难度", re.I)
_VALIDITY = re.compile(
    r"ill[- ]posed|well[- ]posed|unsolvable|\bsolvable|\binvalid|\bvalid(?:ity)?\b|unanswerable|不合理|无解", re.I
)
_KEEPS = re.compile(r"\b(?:keep\w*|only|drop\w*|remov\w*|discard\w*|filter\w*|reject\w*|throw)\b|保留|删|过滤", re.I)
_CATEGORY = re.compile(r"\bcategor\w*|\btopics?\b|\bsubjects?\b|分类", re.I)
_SOLVE = re.compile(r"\bsolv\w*|\bcot\b|chain[- ]of[- ]thought|step[- ]by[- ]step|思维链|解题|求解", re.I)
_MATH = re.compile(
    r"\b(?:agree\w*|verif\w*|correct\w*|match\w*|consisten\w*|wrong|equal\w*|gold|reference|ill[- ]posed|well[- ]posed|"
    r"unsolvable|solvable|invalid|valid)\b|一致|标准答案|参考答案|正确|验证",
    re.I,
)


def code_tests(intent: Intent, data: DataProfile) -> RecipePlan | None:
    """Code + tests (+ instruction): tests -> execution -> keep passing, the code column executed."""
    text = intent.request
    tests = re.search(r"\btests?\b|test cases?", text, re.I)
    runs = _RUNS.search(text)  # "keep only functions that run without errors": executed without tests
    described = _INSTRUCTION.search(text) or _BACK.search(text)
    if "code" not in intent.domains or not (tests or described or runs):
        return None
    code = source = column(data, ("code", "raw_code", "generated_code", "function", "solution"))
    steps: list[Step] = []
    notes = []
    instruction = "instruction" if "instruction" in data.columns else None
    if described and instruction is None:
        steps.append(Step("instruction", CodeInstructionSynthesizer(input_key=code)))
        instruction = "instruction"
    if _REGENERATE.search(text) and instruction is not None:  # "have the LLM write a fresh solution"
        from operators.code.generators import CodeGenerator

        steps.append(Step("solution", CodeGenerator(input_key=instruction)))
        code = steps[-1].op.output_columns()[0]  # later steps judge the new code; the source keeps its own
    if _GRADE.search(text) and instruction is not None:  # "LLM-grade the code and keep scores of 8 and up"
        from operators.code.quality_filter import CodeQualityEvaluator, CodeQualityScoreFilter

        bound = next((c.limits["score"] for c in intent.clauses if "score" in c.limits), {})
        if _KEEPS.search(text):
            cfg = {f"{k}_score": v for k, v in bound.items()}
            steps.append(Step("quality", CodeQualityScoreFilter(input_key=instruction, code_key=code, **cfg)))
        else:
            steps.append(Step("quality", CodeQualityEvaluator(input_key=instruction, code_key=code)))
    if not tests and runs:
        steps.append(Step("execute", CodeExecutionEvaluator(input_key=code, tests_key=None)))
        steps.append(Step("keep_running", ExecutionStatusFilter()))
        notes.append("no tests asked for: CodeExecutionEvaluator runs the code alone (tests_key: null)")
        return RecipePlan("code_execution", steps, [source], notes, claims=_CODE)
    if not tests:
        return RecipePlan("code_instruction", steps, [source], notes, claims=_CODE_CHAIN) if steps else None
    if instruction is None:  # no task statement: the function itself (name, docstring) states the task
        instruction = code
        notes.append(f"no instruction column: CodeTestCaseGenerator reads the task from the code column '{code}'")
    steps.append(Step("tests", CodeTestCaseGenerator(input_key=instruction, code_key=code)))
    if _KEEP_PASSING.search(text):
        steps.append(Step("execute", CodeExecutionEvaluator(input_key=code)))
        steps.append(Step("keep_passing", ExecutionStatusFilter()))
        notes.append("contract: CodeExecutionEvaluator added because ExecutionStatusFilter reads exec_status")
    return RecipePlan("code_tests", steps, [source], notes, claims=_CODE)


def math_cot(intent: Intent, data: DataProfile) -> RecipePlan | None:
    """Math: (new questions ->) CoT solutions (-> extracted answers -> [majority vote] -> verdict -> keep),
    or a difficulty rating of the questions."""
    text = intent.request
    named = [c for c in ("question", "problem", "questions", "problems") if c in data.columns]
    # "solve these problems step by step" on a question column is math reasoning without the word "math"
    implied = (
        bool(named) and not set(intent.domains) - {"reasoning"} and bool(_SOLVE.search(text) or _VALIDITY.search(text))
    )
    if "math" not in intent.domains and not implied:
        return None
    question = column(data, ("question", "problem", "instruction", "prompt"))
    steps: list[Step] = []
    notes: list[str] = []
    gold = next((c for c in ("golden_answer", "answer", "reference") if c in data.columns), None)
    if _NEW_QUESTIONS.search(text):
        from operators.reasoning.generators import ReasoningQuestionGenerator

        clear = [c for c in (gold, "golden_answer", "output") if c and c in data.columns]
        steps.append(Step("new_questions", ReasoningQuestionGenerator(input_key=question, clear_keys=clear)))
        gold = None  # a new question has no reference answer
    if _VALIDITY.search(text):  # "drop ill-posed / unsolvable problems": an LLM validity judge
        from operators.reasoning.judges import QuestionValidityFilter

        steps.append(Step("valid_questions", QuestionValidityFilter(input_key=question)))
    rated = not steps or _RATE.search(text)  # "harder versions" describes new questions, not a rating
    if rated and (_MATH_DIFFICULTY.search(text) or _CATEGORY.search(text)):  # ratings of the questions first
        from operators.reasoning.judges import QuestionCategoryEvaluator, QuestionDifficultyEvaluator

        if _MATH_DIFFICULTY.search(text):
            steps.append(Step("difficulty", QuestionDifficultyEvaluator(input_key=question)))
            bound = next(
                (
                    c.limits["score"]
                    for c in intent.clauses
                    if c.slot in ("filter", "threshold") and "score" in c.limits
                ),
                None,
            )
            if bound:  # "keep only problems at 6 or above": a gate on the rating just asked for
                from operators.core.generic import ThresholdFilter

                col = steps[-1].op.output_columns()[0]
                steps.append(
                    Step(
                        "keep_difficulty",
                        ThresholdFilter(input_key=col, min_value=bound.get("min"), max_value=bound.get("max")),
                    )
                )
        if _CATEGORY.search(text):
            steps.append(Step("category", QuestionCategoryEvaluator(input_key=question)))
    if not _COT.search(text):
        return RecipePlan("math", steps, [question], notes, claims=_MATH) if steps else None
    steps.append(Step("cot", CoTAnswerGenerator(input_key=question)))
    # "answers agree" is self-consistency (samples against their majority vote); "verified/correct/
    # matches the reference" with a reference column checks against that column instead.
    reference = gold if gold and _VERIFIED.search(text) and not _AGREE.search(text) else "pseudo_answer"
    label_only = _AGREE.search(text) and not _KEEPS.search(text)  # "take the majority vote as a pseudo label"
    if label_only:
        steps += [Step("extract", AnswerExtractor()), Step("pseudo_answer", PseudoAnswerGenerator())]
        notes.append("majority vote as a label only (nothing asked to be kept or dropped): no verification filter")
    elif _AGREE.search(text) or _VERIFIED.search(text):
        steps.append(Step("extract", AnswerExtractor()))
        if reference == "pseudo_answer":
            steps.append(Step("pseudo_answer", PseudoAnswerGenerator()))
        steps += [
            Step("verify", AnswerVerifier(reference_key=reference, fallback_reference_key=None)),
            Step("keep_verified", VerifiedAnswerFilter()),
        ]
        extra = "PseudoAnswerGenerator, " if reference == "pseudo_answer" else ""
        notes.append(
            f"contract: AnswerExtractor, {extra}AnswerVerifier added because "
            f"VerifiedAnswerFilter reads the verdict of extracted answers against '{reference}'"
        )
    cols = [question] + ([reference] if reference != "pseudo_answer" and not label_only else [])
    return RecipePlan("math_cot", steps, cols, notes, claims=_MATH)


_DIFFICULTY = re.compile(r"difficult\w*|complexit\w*|\blevels?\b|\bhard\b|难度", re.I)
BASE_COMPLEXITIES = ("simple single-table", "two-table JOIN", "GROUP BY aggregate")


def complexities_for(count: int | None) -> list[str]:
    """SQLGenerator writes one query per (database, complexity): "50 samples" asks for 50 variants."""
    n = max(count or len(BASE_COMPLEXITIES), 1)
    base = list(BASE_COMPLEXITIES)
    return [base[i % 3] if i < 3 else f"{base[i % 3]} (variant {i // 3 + 1})" for i in range(n)]


def text2sql_csv(intent: Intent, data: DataProfile) -> RecipePlan | None:
    """Text-to-SQL from a CSV: the CSV becomes a typed DuckDB table (database ``<stem>_db/<stem>.duckdb``
    next to it, source ``<stem>_db/databases.jsonl`` naming it), then SQL generation -> execution filter
    -> question, plus CoT and difficulty classification when the request asks for them."""
    if "text2sql" not in intent.domains or data.path.suffix.lower() != ".csv":
        return None
    import json

    import duckdb

    from operators.core.contract import quote_ident, quote_literal
    from operators.text2sql.difficulty import SQLComponentClassifier
    from operators.text2sql.execution import SQLExecutionFilter
    from operators.text2sql.generate import SQLGenerator, SQLQuestionGenerator, Text2SQLCoTGenerator

    db_id = re.sub(r"\W", "_", data.path.stem)
    root = data.path.resolve().parent / f"{db_id}_db"
    root.mkdir(exist_ok=True)
    db_file = root / f"{db_id}.duckdb"
    db_file.unlink(missing_ok=True)
    with duckdb.connect(str(db_file)) as con:  # column types inferred by DuckDB's CSV sniffer
        con.execute(f"CREATE TABLE {quote_ident(db_id)} AS SELECT * FROM read_csv({quote_literal(str(data.path))})")
    source = root / "databases.jsonl"
    source.write_text(json.dumps({"db_id": db_id}) + "\n", encoding="utf-8")
    db = {"db_root": str(root)}
    variants = complexities_for(intent.count)
    steps = [
        Step("sql", SQLGenerator(complexities=variants, **db)),
        Step("exec_filter", SQLExecutionFilter(**db)),
        Step("question", SQLQuestionGenerator(**db)),
    ]
    notes = [
        f"database built from {data.path.name}: {db_file} (table {db_id}); source {source}",
        f"SQLGenerator writes {len(variants)} queries per database"
        + (f" (the request asks for {intent.count:,} samples)" if intent.count else ""),
        "contract: SQLExecutionFilter added because generated SQL is not guaranteed to run",
    ]
    if _CONSISTENT.search(intent.request):  # "throw out question/SQL pairs that don't match"
        from operators.text2sql.generate import SQLConsistencyFilter

        steps.append(Step("consistent", SQLConsistencyFilter(**db)))
    if "reasoning" in intent.domains:
        steps.append(Step("cot", Text2SQLCoTGenerator(**db)))
    if _DIFFICULTY.search(intent.request):
        steps.append(Step("difficulty", SQLComponentClassifier(dialect="duckdb")))
    return RecipePlan("text2sql_csv", steps, ["db_id"], notes, source=source, composable=False, claims=_SQL_CLAIMS)


# most specific first: a function-calling request mentions "function" (the code domain's word)
RECIPES: tuple[Callable[[Intent, DataProfile], RecipePlan | None], ...] = (
    sft_from_scratch,
    function_calling,
    text2sql_csv,
    code_tests,
    math_cot,
    rag_multihop,
    knowledge_docs,
    sft,
)


def match_recipe(intent: Intent, data: DataProfile) -> RecipePlan | None:
    for recipe in RECIPES:
        plan = recipe(intent, data)
        if plan is not None:
            return plan
    return None
