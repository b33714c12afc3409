"""The math reasoning pipeline (after DataFlow's ReasoningPipeline).

load -> content_null -> decontaminate (n-gram overlap with benchmark questions)
     -> synthesize (new questions from seeds, seeds kept) -> validity (LLM judge filter)
     -> dedup -> length -> difficulty -> category (LLM evaluators)
     -> cot (n sampled solutions per question, distinct seeds) -> extract (\\boxed{} / final answer)
     -> answer_format -> pseudo_answer (majority vote) -> verify (math-verify vs golden, else pseudo)
     -> keep_verified
Synthesised questions have no golden answer, so they are verified against the majority vote.

Sized to run in minutes on 2 CPU cores with the embedded model (about 40 LLM calls): the shipped
source is ``reasoning_math_sample.jsonl`` (5 seed rows: a benchmark leak that decontamination drops, a
null row, three real seeds), 3 CoT samples of at most 300 characters. Scale up with
``reasoning_pipeline(DATA_DIR / "reasoning_math_seed.jsonl", num_samples=5, solution_chars=600)``
(47 seeds, ~600 calls: hours on 2 cores, minutes on a GPU server).

Checks: ``difficulty``/``category`` block when fewer than half of the judgements parse and every
LLM step blocks when more than 10% of its calls fail for good (a broken model or endpoint); the
verification shares are reported, not gated, because a 135M model solves few problems. A pseudo
answer needs a real majority (>= 2 agreeing samples and more than half), so a lone sample never
verifies itself.
"""

from pathlib import Path

from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from operators.general_text.dedup import ExactDedupFilter
from operators.general_text.heuristics import ContentNullFilter
from operators.reasoning.answers import AnswerExtractor, AnswerFormatFilter, ReasoningLengthFilter
from operators.reasoning.contamination import NgramContaminationFilter
from operators.reasoning.generators import CoTAnswerGenerator, ReasoningQuestionGenerator, cot_prompt, question_prompt
from operators.reasoning.judges import QuestionCategoryEvaluator, QuestionDifficultyEvaluator, QuestionValidityFilter
from operators.reasoning.verify import AnswerVerifier, PseudoAnswerGenerator, VerifiedAnswerFilter

DATA_DIR = Path(__file__).parent / "data"
Q = "instruction"


def reasoning_pipeline(
    source_path: str | Path | None = None,
    name: str = "math_reasoning",
    num_samples: int = 3,
    synth_per_seed: int = 1,
    min_parsed_share: float = 0.5,
    solution_chars: int = 300,
    question_chars: int = 250,
) -> Pipeline:
    """``num_samples`` CoT samples per question; ``synth_per_seed`` new questions per seed question;
    ``solution_chars``/``question_chars`` bound what the model writes (lower them for quick runs on
    the embedded model: a small model tends to fill whatever length it is allowed)."""
    return Pipeline(
        name=name,
        description="Math questions -> decontaminated, synthesised, judged, solved (n samples), verified",
        source=Source(path=str(source_path or DATA_DIR / "reasoning_math_sample.jsonl"), required_columns=[Q]),
        steps=[
            Step("content_null", ContentNullFilter(input_key=Q)),
            Step("decontaminate", NgramContaminationFilter(input_key=Q, n=5, max_overlap=0.5)),
            Step(
                "synthesize",
                ReasoningQuestionGenerator(input_key=Q, num_samples=synth_per_seed, max_tokens=question_chars + 40),
                prompt=question_prompt(question_chars),
            ),
            Step("validity", QuestionValidityFilter(input_key=Q, keep_unjudged=True)),
            Step("dedup", ExactDedupFilter(input_key=Q, normalize=True)),
            Step("length", ReasoningLengthFilter(input_key=Q, min_chars=20, max_chars=3000)),
            Step("difficulty", QuestionDifficultyEvaluator(input_key=Q, min_parsed_share=min_parsed_share)),
            Step("category", QuestionCategoryEvaluator(input_key=Q, min_parsed_share=min_parsed_share)),
            Step(
                "cot",
                CoTAnswerGenerator(input_key=Q, num_samples=num_samples, max_tokens=solution_chars + 100),
                prompt=cot_prompt(solution_chars),
            ),
            Step("extract", AnswerExtractor()),
            Step("answer_format", AnswerFormatFilter()),
            Step("pseudo_answer", PseudoAnswerGenerator()),
            Step("verify", AnswerVerifier()),
            Step("keep_verified", VerifiedAnswerFilter()),
        ],
    )
