"""Pretraining-text quality scorers after DataFlow's text_pt family, as prompted judges.

Same semantics as DataFlow (it also asks its ``llm_serving``): Meta (six dimensions, 1-5).
Approximations of a fine-tuned model by a prompted judge on the same scale: FineWeb-Edu (its
classifier imitates an LLM judging with this additive 0-5 prompt), Qurating (QuRater, four 0-9
criteria), Textbook (a fastText probability; here 0-10 / 10), DebertaV3 (NVIDIA's quality
classifier; same Low/Medium/High labels), PairQual (a BGE-based regressor; here 0-10). The table
with DataFlow's models is in docs/operators_families.md.

Every judge takes ``base_url`` + ``model`` to send its prompt to the user's own endpoint.
"""

from typing import Any

from pydantic import Field

from operators.core.contract import quote_literal
from operators.core.registry import register
from operators.scoring.judges import JudgeConfig, RangeJudge, ScoreJudge, int_scale, judge_prompt

TEXT_FIELDS = {"text": "input_key"}

FINEWEB_EDU = judge_prompt(
    "fineweb_edu",
    "Extract:\n{text}\n\nScore the extract's educational value for primary- to grade-school teaching, "
    "adding one point for each: it has some basic information on an educational topic; it addresses "
    "elements relevant to education coherently; it is appropriate and useful for teaching; it is highly "
    "relevant and beneficial, like a textbook chapter; it is outstanding with no distractions. Total 0-5.",
    {"score": int_scale(0, 5)},
)
QURATING_CRITERIA = ("writing_style", "required_expertise", "facts_and_trivia", "educational_value")
QURATING = judge_prompt(
    "qurating",
    "Text:\n{text}\n\nRate this text from 0 to 9 on each criterion: writing_style (how polished and clear), "
    "required_expertise (how much expertise is needed to understand it), facts_and_trivia (how many facts "
    "it contains), educational_value (how much one learns from it).",
    {c: int_scale(0, 9) for c in QURATING_CRITERIA},
)
TEXTBOOK = judge_prompt(
    "textbook_quality",
    "Text:\n{text}\n\nHow much does this read like a high-quality textbook (clear, instructive, "
    "well structured, factual)? Score 0 (not at all) to 10 (textbook quality).",
    {"score": int_scale(0, 10)},
)
DEBERTA_LABELS = ("Low", "Medium", "High")
DEBERTA = judge_prompt(
    "quality_label",
    "Text:\n{text}\n\nClassify the overall quality of this text for training a language model: Low, Medium or High.",
    {"label": {"type": "string", "enum": list(DEBERTA_LABELS)}},
)
PAIRQUAL = judge_prompt(
    "pair_quality",
    "Text:\n{text}\n\nScore the quality of this text as pretraining data from 0 (spam, broken, useless) to 10 "
    "(fluent, informative, well written).",
    {"score": int_scale(0, 10)},
)
META_DIMENSIONS = (
    "Text Structure",
    "Diversity and Complexity",
    "Fluency and Understandability",
    "Safety",
    "Educational Value",
    "Content Accuracy and Effectiveness",
)
META_PROPS = {d.lower().replace(" ", "_"): d for d in META_DIMENSIONS}
META = judge_prompt(
    "meta_quality",
    "Text:\n{text}\n\nScore this text from 1 (poor) to 5 (excellent) on each dimension: "
    + "; ".join(META_DIMENSIONS)
    + ".",
    {p: int_scale(1, 5) for p in META_PROPS},
)


class PTJudgeConfig(JudgeConfig):
    input_key: str = "text"


class FineWebEduConfig(PTJudgeConfig):
    output_key: str = "FinewebEduScore"


class FineWebEduFilterConfig(FineWebEduConfig):
    min_score: float | None = 2.5
    max_score: float | None = 10000


@register
class FineWebEduSampleEvaluator(ScoreJudge):
    """Educational value 0-5. Approximation: DataFlow uses the FineWeb-Edu classifier, which was
    trained to imitate an LLM judging with this additive 0-5 prompt; here the LLM judges directly."""

    Config = FineWebEduConfig
    default_prompt = FINEWEB_EDU
    fields = TEXT_FIELDS
    domain = "text_pt"
    tags = ("llm", "judge", "pretrain", "quality", "education", "score")


@register
class FineWebEduFilter(RangeJudge, FineWebEduSampleEvaluator):
    """Keeps texts with FineWeb-Edu score in [min_score, max_score] (DataFlow: >= 2.5)."""

    Config = FineWebEduFilterConfig


def _qurating_columns() -> dict[str, str]:
    return {c: f"Qurating{''.join(w.capitalize() for w in c.split('_'))}Score" for c in QURATING_CRITERIA}


class QuratingConfig(PTJudgeConfig):
    max_tokens: int = 80


class QuratingFilterConfig(QuratingConfig):
    min_scores: dict[str, float] = Field(default_factory=lambda: dict.fromkeys(QURATING_CRITERIA, 0.0))
    max_scores: dict[str, float] = Field(default_factory=lambda: dict.fromkeys(QURATING_CRITERIA, 9.0))


@register
class QuratingSampleEvaluator(ScoreJudge):
    """QuRating's four criteria, 0-9 each, into ``Qurating<Criterion>Score`` columns. Approximation:
    DataFlow uses the QuRater 1.3B model; here a prompted judge on the same criteria and scale."""

    Config = QuratingConfig
    default_prompt = QURATING
    fields = TEXT_FIELDS
    domain = "text_pt"
    tags = ("llm", "judge", "pretrain", "quality", "score")

    def outputs(self) -> dict[str, str]:
        return _qurating_columns()


@register
class QuratingFilter(RangeJudge, QuratingSampleEvaluator):
    """Keeps texts whose every criterion lies in its [min_scores, max_scores] range (DataFlow: 0-9)."""

    Config = QuratingFilterConfig

    def ranges(self) -> dict[str, tuple[float | None, float | None]]:
        c = self.config
        return {col: (c.min_scores.get(k), c.max_scores.get(k)) for k, col in _qurating_columns().items()}


class TextbookConfig(PTJudgeConfig):
    output_key: str = "TextbookScore"


class TextbookFilterConfig(TextbookConfig):
    min_score: float | None = 0.99
    max_score: float | None = 1.0


@register
class TextbookSampleEvaluator(ScoreJudge):
    """Textbook quality in [0, 1]. Approximation: DataFlow uses a fastText classifier's probability;
    here a prompted 0-10 judge divided by 10."""

    Config = TextbookConfig
    default_prompt = TEXTBOOK
    fields = TEXT_FIELDS
    domain = "text_pt"
    tags = ("llm", "judge", "pretrain", "quality", "score")

    def transform(self, values: dict[str, Any]) -> dict[str, Any]:
        key = self.config.output_key
        return {key: None if values.get(key) is None else values[key] / 10}


@register
class TextbookFilter(RangeJudge, TextbookSampleEvaluator):
    """Keeps texts with textbook score in [min_score, max_score] (DataFlow: 0.99-1, i.e. 10/10 here)."""

    Config = TextbookFilterConfig


class DebertaV3Config(PTJudgeConfig):
    output_key: str = "Debertav3Score"


class DebertaV3FilterConfig(DebertaV3Config):
    allowed_scores: list[str] = Field(default_factory=lambda: ["Medium", "High"])


@register
class DebertaV3SampleEvaluator(ScoreJudge):
    """Quality label Low/Medium/High. Approximation: DataFlow uses nvidia/quality-classifier-deberta;
    here a prompted judge choosing the same labels."""

    Config = DebertaV3Config
    default_prompt = DEBERTA
    fields = TEXT_FIELDS
    domain = "text_pt"
    tags = ("llm", "judge", "pretrain", "quality", "label")

    def outputs(self) -> dict[str, str]:
        return {"label": self.config.output_key}

    def _column_types(self, schema: dict[str, Any] | None) -> dict[str, str]:
        return {self.config.output_key: "VARCHAR"}


@register
class DebertaV3Filter(RangeJudge, DebertaV3SampleEvaluator):
    """Keeps texts whose label is in ``allowed_scores`` (DataFlow: Medium, High)."""

    Config = DebertaV3FilterConfig

    def ranges(self) -> dict[str, tuple[float | None, float | None]]:
        return {self.config.output_key: (None, None)}

    def keep_sql(self, expr: str, col: str) -> str:
        return f"{expr} IN ({', '.join(quote_literal(s) for s in self.config.allowed_scores)})"


class PairQualConfig(PTJudgeConfig):
    output_key: str = "PairQualScore"


class PairQualFilterConfig(PairQualConfig):
    min_score: float | None = 0
    max_score: float | None = 10000


@register
class PairQualSampleEvaluator(ScoreJudge):
    """Pretraining quality 0-10. Approximation: DataFlow uses a BGE-based pairwise-trained quality
    regressor; here a prompted judge."""

    Config = PairQualConfig
    default_prompt = PAIRQUAL
    fields = TEXT_FIELDS
    domain = "text_pt"
    tags = ("llm", "judge", "pretrain", "quality", "score")


@register
class PairQualFilter(RangeJudge, PairQualSampleEvaluator):
    """Keeps texts with PairQual score in [min_score, max_score] (DataFlow: 0-10000)."""

    Config = PairQualFilterConfig


class MetaConfig(PTJudgeConfig):
    max_tokens: int = 120


@register
class MetaSampleEvaluator(ScoreJudge):
    """Six quality dimensions, 1-5 each, into columns named after them (DataFlow's MetaPrompt
    dimensions; DataFlow also asks its llm_serving, so same semantics)."""

    Config = MetaConfig
    default_prompt = META
    fields = TEXT_FIELDS
    domain = "text_pt"
    tags = ("llm", "judge", "pretrain", "quality", "score")

    def outputs(self) -> dict[str, str]:
        return dict(META_PROPS)
