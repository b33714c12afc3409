"""DataFlow's prompted reasoning steps: solvability verdicts, an LLM judge against a reference answer,
and question fusion.

After DataFlow's ReasoningQuestionSolvableSampleEvaluator (a grading-teacher prompt whose verdict is
written per row), ReasoningAnswerModelJudgeFilter (the model says whether an answer agrees with the
reference; rows without a reference are not sent and count as not matching; ``keep_all_samples``
keeps every row with its ``answer_match_result``) and ReasoningQuestionFusionGenerator (one new
problem combining two given ones). Answers are JSON under a bounded schema instead of DataFlow's
free-text markers, so an unparsable answer is an ``__errors`` row rather than a silent False.
"""

from typing import Any, ClassVar, Literal

from operators.core.contract import CheckSpec, DataflowKey, Kind, OperatorContext, quote_ident
from operators.core.llm_ops import LLMConfig, LLMOperator, create_filter_views
from operators.core.prompt import PromptTemplate
from operators.core.registry import register
from operators.core.rowids import ID


def _prompt(name: str, system: str, template: str, props: dict[str, Any]) -> PromptTemplate:
    schema = {"type": "object", "properties": props, "required": list(props)}
    return PromptTemplate(name=name, system=system + " Reply in JSON.", template=template, output_schema=schema)


def _fields(op: LLMOperator, names: dict[str, str], row: dict[str, Any]) -> dict[str, Any]:
    """Prompt field -> the row's value of the column the config key names."""
    return {f: row.get(getattr(op.config, key)) for f, key in names.items()}


SOLVABLE_PROMPT = _prompt(
    "math_question_solvable",
    "You are a senior mathematics grading teacher and an impartial judge.",
    "Problem:\n{question}\n\nIs the statement complete, unambiguous in its notation and terms, and solvable "
    "(sufficient information, conditions and constraints)? Answer True or False.",
    {"judgement": {"type": "string", "enum": ["True", "False"]}},
)


class SolvableConfig(LLMConfig):
    input_key: str = "instruction"
    output_key: str = "question_solvable"
    max_tokens: int = 16


@register
class ReasoningQuestionSolvableSampleEvaluator(LLMOperator):
    """Writes ``True``/``False`` (is the problem complete and solvable) into ``output_key``; keeps every row.
    Approximation: DataFlow stores the model's raw '#Judgement#/#Explanation#' text, here the verdict only."""

    kind: ClassVar[Kind] = Kind.EVALUATE
    Config = SolvableConfig
    default_prompt = SOLVABLE_PROMPT
    domain = "reasoning"
    tags = ("llm", "judge", "math", "question", "solvable")
    output_property = "judgement"
    dataflow_fidelity = "approximated"
    dataflow_note = "the True/False verdict only, not the raw #Judgement#/#Explanation# text"


JUDGE_PROMPT = _prompt(
    "answer_reference_judge",
    "You are a helpful assistant specialized in evaluating answer correctness.",
    "Question:\n{question}\n\nAnswer to check:\n{answer}\n\nReference answer:\n{reference}\n\n"
    "Does the answer reach the same final result as the reference (same meaning, any wording or form)?",
    {"judgement_result": {"type": "boolean"}},
)

_JUDGE_FIELDS = {"question": "input_question_key", "answer": "input_answer_key", "reference": "input_reference_key"}


class ModelJudgeConfig(LLMConfig):
    dataflow_keys: ClassVar[dict[str, DataflowKey]] = {
        "system_prompt": DataflowKey(
            convert=lambda v: {} if v == JUDGE_PROMPT.system.removesuffix(" Reply in JSON.") else None,
            refuse="a different system prompt goes into a prompt resource (prompts: in the pipeline YAML)",
        ),
    }
    input_key: str = "question"  # unused alias of input_question_key so the shared LLM config validates
    input_question_key: str = "question"
    input_answer_key: str = "answer"
    input_reference_key: str = "reference_answer"
    output_key: str = "answer_match_result"
    keep_all_samples: bool = False
    max_tokens: int = 16


@register
class ReasoningAnswerModelJudgeFilter(LLMOperator):
    """Keeps rows the LLM judges to agree with the reference answer (``answer_match_result``);
    rows with an empty reference are not sent and are rejected (kept, False, with ``keep_all_samples``)."""

    kind: ClassVar[Kind] = Kind.FILTER
    Config = ModelJudgeConfig
    default_prompt = JUDGE_PROMPT
    domain = "reasoning"
    tags = ("llm", "judge", "answer", "reference", "filter")
    dataflow_note = "JSON verdict; an unparsable answer is an __errors row (DataFlow: False)"

    def input_columns(self) -> list[str]:
        return [getattr(self.config, k) for k in _JUDGE_FIELDS.values()]

    def outputs(self) -> dict[str, str]:
        return {"judgement_result": "__match"}

    def output_columns(self) -> list[str]:
        return [self.config.output_key]

    def prompt_values(self, row: dict[str, Any], prompt: PromptTemplate) -> dict[str, Any]:
        return _fields(self, _JUDGE_FIELDS, row)

    def _has_reference(self) -> str:
        return f"nullif(trim(CAST({quote_ident(self.config.input_reference_key)} AS VARCHAR)), '') IS NOT NULL"

    def request_where_sql(self) -> str | None:
        return self._has_reference()

    def checks(self) -> list[CheckSpec]:
        return [self.error_share_check()]

    def assemble(self, ctx: OperatorContext, cols: list[str]) -> None:
        c = self.config
        src, out, res = quote_ident(ctx.source or ""), quote_ident(f"{ctx.target}__out"), quote_ident(c.output_key)
        excl = f" EXCLUDE ({res})" if c.output_key in ctx.columns() else ""
        joined = (
            f"SELECT s.*{excl}, coalesce(o.__match, false) AS {res}, o.{ID} IS NOT NULL AS __judged, "
            f"{self._has_reference()} AS __has_ref FROM {src} s LEFT JOIN {out} o USING ({ID})"
        )
        reason = (
            "'ReasoningAnswerModelJudgeFilter: ' || CASE WHEN NOT __has_ref THEN 'no reference answer' "
            "WHEN NOT __judged THEN 'no usable judgement (see the step''s __errors table)' "
            "ELSE 'judged not to match the reference' END"
        )
        keep = "true" if c.keep_all_samples else res
        create_filter_views(ctx, joined, keep, reason, ["__judged", "__has_ref"])

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        stats = super().run(ctx)
        matched = ctx.con.execute(f"SELECT count(*) FROM {quote_ident(ctx.target + '__out')} WHERE __match").fetchall()
        return {**stats, "matched": int(matched[0][0]), "kept": ctx.count(ctx.target)}


FUSION_MODES = {
    "parallel": "Combine both problems into one new problem that asks for a result needing the ideas of both.",
    "sequential": "Chain them: the answer of the first problem becomes a given quantity of the second.",
    "condition": "Merge their conditions into one scenario with one question that depends on all of them.",
}


class FusionConfig(LLMConfig):
    dataflow_keys: ClassVar[dict[str, DataflowKey]] = {
        "input_problem_1": DataflowKey("input_key"),
        "input_problem_2": DataflowKey("input_key_2"),
        "num_prompts": DataflowKey(accept=(1,), refuse="one fused problem per row; repeat the step for more"),
    }
    input_key: str = "problem_1"
    input_key_2: str = "problem_2"
    output_key: str = "fused_problem"
    fusion: Literal["parallel", "sequential", "condition"] = "parallel"  # DataFlow's three prompt templates
    temperature: float = 0.7
    max_tokens: int = 200


@register
class ReasoningQuestionFusionGenerator(LLMOperator):
    """One new, self-contained math problem fused from the two problems of each row (``fusion``
    picks DataFlow's parallel, sequential or condition template); rows keep their other columns."""

    kind: ClassVar[Kind] = Kind.GENERATE
    Config = FusionConfig
    default_prompt = _prompt(
        "math_question_fusion",
        "You write new math problems for a training set.",
        "Problem 1:\n{problem_1}\n\nProblem 2:\n{problem_2}\n\n{mode} It must be self-contained and have "
        "exactly one correct final answer. Do not solve it.",
        {"problem": {"type": "string", "minLength": 10, "maxLength": 400}},
    )
    domain = "reasoning"
    tags = ("llm", "math", "synthesis", "question", "fusion")
    output_property = "problem"
    dataflow_fidelity = "approximated"
    dataflow_note = (
        "one fused problem per row (num_prompts=1); the three fusion modes are our wording of DataFlow's templates"
    )

    def input_columns(self) -> list[str]:
        return [self.config.input_key, self.config.input_key_2]

    def prompt_values(self, row: dict[str, Any], prompt: PromptTemplate) -> dict[str, Any]:
        pair = _fields(self, {"problem_1": "input_key", "problem_2": "input_key_2"}, row)
        return {**pair, "mode": FUSION_MODES[self.config.fusion]}
