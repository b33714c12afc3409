"""Regex PII detection: a filter, an anonymising refiner and the count as an evaluator metric.

DataFlow's PII refiner runs Microsoft Presidio (spaCy NER models, downloaded at run time); that
is out here (no downloads), so detection is by pattern: e-mail addresses, phone numbers, credit
card numbers, IPv4 addresses, US social security numbers, Chinese resident ID numbers and IBANs.
Names and street addresses, which need NER, are not detected; docs/general_text.md says so.
"""

from typing import ClassVar, Literal

from operators.core.contract import DataflowKey
from operators.core.dataflow_names import NO_EFFECT, accept
from operators.core.registry import register
from operators.core.sql_ops import SQLRefiner, TextConfig
from operators.general_text.base import MetricFilter
from operators.general_text.textsql import lit

PiiType = Literal["EMAIL", "PHONE", "CREDIT_CARD", "IP_ADDRESS", "US_SSN", "CN_ID", "IBAN"]
D = "[0-9]"
# type -> (character class that must precede or "", the PII itself, class that must follow or "")
PARTS: dict[str, tuple[str, str, str]] = {
    "EMAIL": ("", r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}", ""),
    "CN_ID": (
        "[^0-9]",
        rf"[1-9]{D}{{5}}(?:19|20){D}{{2}}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]{D}|3[01]){D}{{3}}[0-9Xx]",
        "[^0-9]",
    ),
    "CREDIT_CARD": ("[^0-9]", rf"(?:{D}{{4}}[ \-]?){{3}}{D}{{1,7}}", "[^0-9]"),
    "US_SSN": ("[^0-9]", rf"{D}{{3}}-{D}{{2}}-{D}{{4}}", "[^0-9]"),
    "IP_ADDRESS": (
        "[^0-9.]",
        r"(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}"
        r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])",
        "[^0-9.]",
    ),
    "PHONE": (
        "[^0-9+]",
        rf"(?:\+{D}{{1,3}}[ .\-]?)?(?:\({D}{{2,4}}\)[ .\-]?|{D}{{2,4}}[ .\-]){D}{{3,4}}[ .\-]?{D}{{3,4}}",
        "[^0-9]",
    ),
    "IBAN": ("[^A-Za-z0-9]", r"[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?", "[^A-Za-z0-9]"),
}


def pattern(t: str, capture: bool = False) -> str:
    left, core, right = PARTS[t]
    g = "(" if capture else "(?:"
    return (f"{g}^|{left})" if left else "") + core + (f"{g}{right}|$)" if right else "")


ORDER: tuple[str, ...] = ("EMAIL", "IBAN", "CN_ID", "CREDIT_CARD", "US_SSN", "IP_ADDRESS", "PHONE")


class PIIConfig(TextConfig):
    dataflow_keys: ClassVar[dict[str, DataflowKey]] = {
        "lang": accept("en", why="only English patterns"),
        "device": NO_EFFECT,
        "model_cache_dir": NO_EFFECT,
        "model_name": DataflowKey(refuse="PII is found by regular expressions (types:), not a BERT NER model"),
    }
    types: list[PiiType] = list(ORDER)  # type: ignore[arg-type]


def pii_count(col: str, types: list[str]) -> str:
    return " + ".join(f"len(regexp_extract_all({col}, {lit(pattern(t))}))" for t in ORDER if t in types) or "0"


class PIIFilterConfig(PIIConfig):
    threshold: int = 1


@register
class PIIFilter(MetricFilter):
    """Drops texts with at least ``threshold`` PII matches (e-mail, phone, card, IP, SSN, CN ID, IBAN)."""

    Config = PIIFilterConfig
    rejects_empty = False
    tags = ("pii", "privacy", "pretrain", "sft")

    def metrics_sql(self) -> dict[str, str]:
        return {"pii_matches": f"coalesce({pii_count(self.col(), self.config.types)}, 0)"}

    def keep_sql(self, m: dict[str, str]) -> str:
        return f"{m['pii_matches']} < {int(self.config.threshold)}"


@register
class PIIAnonymizeRefiner(SQLRefiner):
    """Replaces detected PII with a placeholder naming its type ('<EMAIL>', '<PHONE>', ...)."""

    Config = PIIConfig
    tags: ClassVar[tuple[str, ...]] = ("pii", "privacy", "refine", "sft")

    def rewrite_sql(self, col: str) -> str:
        out = col
        for t in ORDER:
            if t not in self.config.types:
                continue
            left, _, right = PARTS[t]
            repl = ("\\1" if left else "") + f"<{t}>" + (("\\2" if left else "\\1") if right else "")
            # a match eats one boundary character on each side, so PII separated by a single
            # character needs a second pass
            for _ in range(2 if left or right else 1):
                out = f"regexp_replace({out}, {lit(pattern(t, capture=True))}, {lit(repl)}, 'g')"
        return out
