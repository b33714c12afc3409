"""Tests for degenerate LLM rewrites: text that lost the original's content, or that parrots the prompt.

A small model asked to "clean" a passage often answers with the instruction itself ("Remove
navigation text, headers/footers, ...") or a single stray word; both parse as valid JSON, so a
schema cannot catch them. These checks compare the answer with its input and with the prompt.
They run inside an LLM step's per-row loop, next to the model call that dominates its cost.
"""

import re

from operators.core.prompt import PromptTemplate

_WORD = re.compile(r"[^\W_]+")
_FIELD = re.compile(r"\{[^{}]*\}")


def words(text: str | None) -> list[str]:
    return [w.lower() for w in _WORD.findall(text or "")]


def token_recall(original: str | None, rewritten: str | None) -> float:
    """Share of the original's distinct words that the rewrite still contains (1.0 for an empty original)."""
    orig = set(words(original))
    return len(orig & set(words(rewritten))) / len(orig) if orig else 1.0


def _ngrams(tokens: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def instruction_text(prompt: PromptTemplate) -> str:
    """The prompt's own words: system text and template with its ``{fields}`` removed."""
    return f"{prompt.system or ''}\n{_FIELD.sub(' ', prompt.template)}"


def echoed_instruction(answer: str | None, prompt: PromptTemplate, source: str | None, n: int = 4) -> str | None:
    """The first run of ``n`` words the answer copies from the prompt's instructions (and that the
    input itself does not contain), or None."""
    seen = _ngrams(words(answer), n) & _ngrams(words(instruction_text(prompt)), n)
    seen -= _ngrams(words(source), n)
    return " ".join(sorted(seen)[0]) if seen else None
