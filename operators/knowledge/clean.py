"""Knowledge cleaning refiners: a rule cleaner (SQL) for extraction debris and an LLM cleaner after
DataFlow's KBCTextCleaner for what rules cannot fix."""

from typing import Any, ClassVar

from operators.core.contract import CheckSpec, Kind
from operators.core.degenerate import echoed_instruction, token_recall
from operators.core.llm_ops import LLMConfig, LLMOperator
from operators.core.prompt import PromptTemplate
from operators.core.registry import register
from operators.core.sql_ops import SQLRefiner, TextConfig


@register
class RuleKnowledgeCleaner(SQLRefiner):
    """Repairs what PDF/HTML/docx extraction leaves behind: words hyphenated across line breaks are
    re-joined, lone page-number lines and leftover HTML tags/entities are removed, control characters
    dropped, runs of spaces collapsed and more than one blank line squeezed to one."""

    kind: ClassVar[Kind] = Kind.REFINE
    Config = TextConfig
    domain = "knowledge"
    tags = ("clean", "knowledge", "rule")

    def rewrite_sql(self, col: str) -> str:
        steps = [
            (r"(\w)-\n\s*(\w)", r"\1\2"),  # hyphenation across a line break
            (r"(^|\n)[ \t]*(page )?\d{1,4}[ \t]*(\n|$)", r"\1"),  # page-number lines
            (r"</?[A-Za-z][^>\n]{0,200}>", ""),  # stray tags
            (r"&nbsp;|&#160;", " "),
            (r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", ""),
            (r"[ \t]+", " "),
            (r" *\n *", "\n"),
            (r"\n{3,}", "\n\n"),
        ]
        expr = col
        for pattern, repl in steps:
            p, r = pattern.replace("'", "''"), repl.replace("'", "''")
            expr = f"regexp_replace({expr}, '{p}', '{r}', 'gi')"
        return f"trim({expr})"


CLEAN_PROMPT = PromptTemplate(
    name="knowledge_clean",
    system="You clean raw text extracted from documents without changing its facts. Reply in JSON.",
    template=(
        "Raw text:\n{text}\n\n"
        "Rewrite it as clean prose: remove navigation text, headers/footers, page numbers, broken line "
        "breaks and markup; keep every fact, number and name unchanged."
    ),
    output_schema={
        "type": "object",
        "properties": {"cleaned": {"type": "string", "minLength": 1, "maxLength": 600}},
        "required": ["cleaned"],
    },
)


REFUSED = "rewrite refused:"


class LLMCleanConfig(LLMConfig):
    input_key: str = "chunk"
    max_tokens: int = 256  # with the 600-char cap: llama.cpp's grammar sampler crashed on a 1500-char cap
    min_parsed_share: float = 0.0  # a row whose answer fails keeps its original text (coalesce)
    # a rewrite must keep this share of the original's distinct words, else it is refused (the row
    # keeps its text and lands in the errors table): cleaning removes debris, not content
    min_token_recall: float = 0.5


@register
class LLMKnowledgeCleaner(LLMOperator):
    """LLM refiner: rewrites ``input_key`` in place as clean text; rows whose answer does not parse keep
    their input unchanged and are listed in the errors table."""

    kind: ClassVar[Kind] = Kind.REFINE
    Config = LLMCleanConfig
    default_prompt = CLEAN_PROMPT
    domain = "knowledge"
    tags = ("llm", "clean", "knowledge")

    def outputs(self) -> dict[str, str]:
        return {"cleaned": self.config.input_key}

    def checks(self) -> list[CheckSpec]:
        """Blocking: calls that failed (transport, unparsable JSON) stay rare. Not blocking: the share of
        rewrites refused as degenerate. A refused row keeps its original text, so refusals cost
        cleaning, never content; the embedded 135M model has most of its rewrites refused (it tends to
        answer with the instruction), a real model few, so that share is reported, not gated."""
        refused = f"(SELECT count(*) FROM errors WHERE _error LIKE '{REFUSED}%')"
        return [
            CheckSpec(
                name="error_share",
                metric_sql=f"coalesce(((SELECT count(*) FROM errors) - {refused})::DOUBLE / nullif(count(*), 0), 0.0)",
                op="<=",
                threshold=self.config.max_error_share,
                description="share of rows whose LLM call failed after all retries (refused rewrites excluded)",
                parts=("errors",),
            ),
            CheckSpec(
                name="refused_share",
                metric_sql=f"coalesce({refused}::DOUBLE / nullif(count(*), 0), 0.0)",
                op="<=",
                threshold=0.5,
                description="share of rewrites refused as degenerate (copied the prompt, lost the content); "
                "those rows keep their original text",
                blocking=False,
                parts=("errors",),
            ),
        ]

    def answer_problem(self, row: dict[str, Any], values: dict[str, Any], prompt: PromptTemplate) -> str | None:
        original, cleaned = row.get(self.config.input_key), values.get(self.config.input_key)
        parrot = echoed_instruction(cleaned, prompt, original)
        if parrot:
            return f"{REFUSED} it copies the prompt's instructions ('{parrot}' ...); the text is kept"
        recall = token_recall(original, cleaned)
        if recall < self.config.min_token_recall:
            return (
                f"{REFUSED} it keeps {recall:.0%} of the original's words "
                f"(< {self.config.min_token_recall:.0%}); the text is kept"
            )
        return None
