# ruff: noqa: RUF001  (confusable characters are test input on purpose)
"""DataFlow's per-row filter logic, re-stated in plain Python: the oracle for tests and benches.

Each function takes one text value and DataFlow's constructor arguments and answers "keep?", the way
the DataFlow operator of the same name decides inside its ``for text in tqdm(dataframe[key])`` loop
(read from OpenDCAI/DataFlow ``dataflow/operators/general_text``; restated, not copied). Where
DataFlow needs NLTK downloads or crashes, the function follows the tokenizer=whitespace path and
the documented choice in docs/general_text.md. ``bench/text_filters.py`` times these same functions
in a pandas row loop as the "DataFlow-style" baseline.
"""

import contextlib
import math
import re
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any

_DATA = Path(__file__).resolve().parents[1] / "operators" / "general_text" / "data"


def _words_file(name: str) -> set[str]:
    lines = (_DATA / name).read_text(encoding="utf-8").splitlines()
    return {x.strip().lower() for x in lines if x.strip() and not x.startswith("#")}


def _paragraphs(text: str, normalizer: Callable[[str], str] = lambda x: x) -> list[str]:
    out = [normalizer(m.group(0)) for m in re.finditer(r"([^\n]*\n|[^\n]+$)", text)]
    return [x for x in out if x.strip()]


_PUNCT = str.maketrans("", "", string.punctuation)


def _normalize(text: str) -> str:
    import unicodedata

    text = text.translate(_PUNCT).lower().strip()
    text = re.sub(r"\s+", " ", text)
    return unicodedata.normalize("NFD", text)


def word_number(text: Any, min_words: int = 20, max_words: int = 100000) -> bool:
    n = len(text.split()) if text else 0
    return min_words <= n < max_words


def content_null(text: Any) -> bool:
    return text is not None and text.strip() != ""


def symbol_word_ratio(text: Any, threshold: float = 0.4) -> bool:
    if not text:
        return False
    n = len(re.findall(r"\w+|[^\w\s]+", text))
    if n == 0:
        return False
    return sum(text.count(s) for s in ("#", "...", "…")) / n < threshold


def colon_end(text: Any) -> bool:
    return bool(text) and not text.endswith(":")


def char_number(text: Any, threshold: int = 100) -> bool:
    if not text:
        return False
    return len(text.strip().replace(" ", "").replace("\n", "").replace("\t", "")) >= threshold


def sentence_number(text: Any, min_sentences: int = 3, max_sentences: int = 7500) -> bool:
    if not text:
        return False
    return min_sentences <= len(re.findall(r"\b[^.!?\n]+[.!?]*", text)) <= max_sentences


def mean_word_length(text: Any, min_length: float = 3, max_length: float = 10) -> bool:
    if not text:
        return False
    w = text.split()
    if not w:
        return False
    return min_length <= round(sum(len(x) for x in w) / len(w), 2) < max_length


def curly_bracket(text: Any, threshold: float = 0.025) -> bool:
    if not text:
        return False
    return (text.count("{") + text.count("}")) / len(text) < threshold


def capital_words(text: Any, threshold: float = 0.2) -> bool:
    if not text:
        return False
    w = text.split()
    return (sum(map(str.isupper, w)) / len(w) if w else 0) <= threshold


def unique_words(text: Any, threshold: float = 0.1) -> bool:
    if not text:
        return False
    w = text.lower().split()
    return bool(w) and len(set(w)) / len(w) > threshold


def alpha_words(text: Any, threshold: float = 0.5) -> bool:
    w = text.split() if text else []
    return bool(w) and sum(1 for x in w if re.search(r"[a-zA-Z]", x)) / len(w) > threshold


def line_end_with_ellipsis(text: Any, threshold: float = 0.3) -> bool:
    if not text:
        return False
    lines = _paragraphs(text)
    if not lines:
        return False
    return sum(x.rstrip().endswith(("...", "…")) for x in lines) / len(lines) < threshold


_BULLETS = ("\u2022", "\u2023", "\u25b6", "\u25c0", "\u25e6", "\u25a0", "\u25a1", "\u25aa", "\u25ab", "\u2013")


def line_start_with_bulletpoint(text: Any, threshold: float = 0.9) -> bool:
    if not text:
        return False
    lines = _paragraphs(text)
    if not lines:
        return False
    return sum(x.lstrip().startswith(_BULLETS) for x in lines) / len(lines) <= threshold


def line_with_javascript(text: Any, threshold: int = 3) -> bool:
    if not text:
        return False
    lines = _paragraphs(text, _normalize)
    if not lines:
        return False
    js = sum("javascript" in x.lower() for x in lines)
    return len(lines) <= 3 or len(lines) - js >= threshold


def no_punc(text: Any, threshold: int = 112) -> bool:
    if not text:
        return False
    best = 0
    for para in text.split("\n"):
        if not para.strip():
            continue
        for sent in re.split("[–.!?,;•/|…]", para):
            best = max(best, len(sent.split()))
    return best <= threshold


_ENTITIES = ["nbsp", "lt", "gt", "amp", "quot", "apos", "hellip", "ndash", "mdash", "lsquo", "rsquo", "ldquo", "rdquo"]
_ALL_ENTITIES = [f"{a}{e}{b}" for e in _ENTITIES for a in ("&", "＆") for b in ("；", ";", "")]


def html_entity(text: Any) -> bool:
    return bool(text) and not any(e in text for e in _ALL_ENTITIES)


_ID = re.compile(
    r"(身\s{0,10}份|id\s{0,10}number\s{0,10}|identification|identity|\s{0,10}ID\s{0,10}No\s{0,10}|"
    r"id\s{0,10}card\s{0,10}|NRIC\s{0,10}number\s{0,10}|IC\s{0,10}number\s{0,10}|"
    r"resident\s{0,10}registration\s{0,10}|I.D.\s{0,10}Number\s{0,10})",
    re.I,
)


def id_card(text: Any, threshold: int = 3) -> bool:
    return bool(text) and len(_ID.findall(text)) < threshold


_SPECIAL = [
    r"u200e",
    r"&#247;|\? :",
    r"[�□]|\{\/U\}",
    r"U\+26[0-F][0-D]|U\+273[3-4]|U\+1F[3-6][0-4][0-F]|U\+1F6[8-F][0-F]",
]


def special_character(text: Any) -> bool:
    return bool(text) and not any(re.search(p, text) for p in _SPECIAL)


def watermark(text: Any, watermarks: tuple[str, ...] = ("Copyright", "Watermark", "Confidential")) -> bool:
    return bool(text) and re.search("|".join(watermarks), text) is None


def lorem_ipsum(text: Any, threshold: float = 3e-8) -> bool:
    if not text:
        return False
    low = text.lower()
    return len(re.findall("lorem ipsum", low, re.I)) / len(low) <= threshold


_STOP = _words_file("stopwords_en.txt")


def stop_word(text: Any, threshold: float = 0.3) -> bool:
    if not text:
        return False
    w = text.lower().split()
    stops = sum(x in _STOP for x in w)
    return (stops / len(w) if w else 0) > threshold and stops > 2


_BLOCK = {"en": _words_file("blocklist_en.txt"), "zh": _words_file("blocklist_zh.txt")}


def blocklist(text: Any, language: str = "en", threshold: int = 1) -> bool:
    if not text:
        return False
    return sum(1 for w in text.lower().split() if w in _BLOCK[language]) <= threshold


def ngram_score(text: Any, ngrams: int = 5, language: str = "en") -> float:
    if not text or not isinstance(text, str):
        return 0.0
    content = re.sub(r"[^\w\s]", "", text.lower())
    if language == "zh":
        tokens, join = list(re.sub(r"\s+", "", content)), ""
    else:
        tokens, join = content.split(), " "
    if len(tokens) < ngrams:
        return 0.0
    grams = [join.join(tokens[i : i + ngrams]) for i in range(len(tokens) - ngrams + 1)]
    return len(set(grams)) / len(grams)


def ngram(text: Any, min_score: float = 0.8, max_score: float = 1.0, ngrams: int = 5, language: str = "en") -> bool:
    return min_score <= ngram_score(text, ngrams, language) <= max_score


def _mtld_calc(words: list[str], thr: float) -> float:
    ttr, tokens, types, seen, factors = 1.0, 0, 0, set(), 0.0
    for tok in words:
        tok = tok.translate(_PUNCT).lower()
        tokens += 1
        if tok not in seen:
            types += 1
            seen.add(tok)
        ttr = types / tokens
        if ttr <= thr:
            factors += 1
            tokens, types, seen, ttr = 0, 0, set(), 1.0
    factors += (1.0 - ttr) / (1.0 - thr)
    return len(words) / factors if factors != 0 else -1


def mtld(text: str) -> float | None:
    w = text.split()
    if len(w) <= 50:
        return None
    return (_mtld_calc(w, 0.72) + _mtld_calc(w[::-1], 0.72)) / 2


def hdd(text: str) -> float | None:
    """HD-D; computed with exact integer binomials (DataFlow's float factorials overflow past 170)."""
    w = text.split()
    if not 50 < len(w) < 1000:
        return None
    counts: dict[str, int] = {}
    for tok in w:
        tok = tok.translate(_PUNCT).lower()
        counts[tok] = counts.get(tok, 0) + 1
    n = len(w)
    total = math.comb(n, 42)
    return sum((1.0 - math.comb(n - k, 42) / total) / 42.0 for k in counts.values())


def lexical_diversity(
    text: Any, min_mtld: float = 50, max_mtld: float = 99999, min_hdd: float = 0.8, max_hdd: float = 1.0
) -> bool:
    m, h = mtld(text), hdd(text)
    ok_m = m is None or min_mtld <= m <= max_mtld
    ok_h = h is None or min_hdd <= h <= max_hdd
    return ok_m and ok_h


# Operator name -> (reference function, config used for both sides)
FILTERS: dict[str, tuple[Callable[..., bool], dict[str, Any]]] = {
    "WordNumberFilter": (word_number, {}),
    "ContentNullFilter": (content_null, {}),
    "SymbolWordRatioFilter": (symbol_word_ratio, {}),
    "ColonEndFilter": (colon_end, {}),
    "CharNumberFilter": (char_number, {}),
    "SentenceNumberFilter": (sentence_number, {}),
    "MeanWordLengthFilter": (mean_word_length, {}),
    "CurlyBracketFilter": (curly_bracket, {}),
    "CapitalWordsFilter": (capital_words, {}),
    "UniqueWordsFilter": (unique_words, {}),
    "AlphaWordsFilter": (alpha_words, {}),
    "LineEndWithEllipsisFilter": (line_end_with_ellipsis, {}),
    "LineStartWithBulletpointFilter": (line_start_with_bulletpoint, {}),
    "LineWithJavascriptFilter": (line_with_javascript, {}),
    "NoPuncFilter": (no_punc, {}),
    "HtmlEntityFilter": (html_entity, {}),
    "IDCardFilter": (id_card, {}),
    "SpecialCharacterFilter": (special_character, {}),
    "WatermarkFilter": (watermark, {}),
    "LoremIpsumFilter": (lorem_ipsum, {}),
    "StopWordFilter": (stop_word, {}),
    "BlocklistFilter": (blocklist, {}),
}


# ---- a seeded corpus that exercises every rule ------------------------------------------------
_VOCAB = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "was",
    "for",
    "on",
    "that",
    "with",
    "as",
    "by",
    "at",
    "from",
    "it",
    "this",
    "be",
    "are",
    "or",
    "an",
    "which",
    "data",
    "model",
    "training",
    "language",
    "text",
    "filter",
    "water",
    "river",
    "mountain",
    "history",
    "science",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "lazy",
    "dog",
    "Paris",
    "London",
    "research",
    "results",
    "method",
    "analysis",
    "system",
    "network",
    "function",
    "value",
]
_CAPS = ["NASA", "USA", "HTML", "ÉCOLE", "OK", "ABC123"]
_CJK = ["数据", "模型", "训练", "中文文本", "色情", "身份证", "東京", "한국어"]
_SEPS = [" "] * 12 + ["  ", "\n", "\n\n", "\t", "\xa0", "\u3000", " \n "]
_INSERTS = [
    ".",
    ".",
    "!",
    "?",
    ",",
    "...",
    "…",
    "#",
    ":",
    "{",
    "}",
    "&nbsp;",
    "&amp",
    "＆lt；",
    "lorem ipsum",
    "javascript",
    "ID number",
    "identity",
    "Copyright",
    "Confidential",
    "�",
    "U+1F600",
    "u200e",
    "fuck",
    "I'm",
    "don't",
    "(see)",
    "—",
    "–",
    "/",
    "|",
    ";",
    "'quoted'",
    "e.g.",
    "3.14",
    "2024",
]
_PREFIX = ["", "", "", "", "• ", "- ", "▶", "■ ", "– ", "  • "]


def synthetic_texts(n: int, seed: int = 0, max_words: int = 160) -> list[str | None]:
    """``n`` seeded documents: prose, spam, CJK, markup residue, bullets, truncations, code, blanks."""
    import random

    rng = random.Random(seed)
    special: list[str | None] = [
        None,
        "",
        " ",
        "\n\t ",
        "\u3000\xa0",
        ":",
        "...",
        "a",
        "数据模型训练。",
        "{}{}{}",
        "<p>Hello &amp; welcome</p>",
        "def f(x):\n    return {x: x}\n",
        "lorem ipsum " * 3,
    ]
    out: list[str | None] = []
    for i in range(n):
        if i % 50 == 0:
            out.append(special[(i // 50) % len(special)])
            continue
        kind = rng.random()
        n_words = rng.choice([rng.randint(0, 12), rng.randint(10, 60), rng.randint(40, max_words)])
        parts: list[str] = []
        line_start = True
        for _ in range(n_words):
            if line_start:
                parts.append(rng.choice(_PREFIX))
                line_start = False
            r = rng.random()
            if kind < 0.1:  # repetitive spam
                tok = rng.choice(_VOCAB[:5])
            elif r < 0.06:
                tok = rng.choice(_CAPS)
            elif r < 0.12 + (0.5 if kind > 0.92 else 0):
                tok = rng.choice(_CJK)
            elif r < 0.22:
                tok = rng.choice(_INSERTS)
            else:
                tok = rng.choice(_VOCAB)
            parts.append(tok)
            sep = rng.choice(_SEPS)
            if rng.random() < 0.08:
                sep = rng.choice([". ", "! ", "? ", "...\n", "…\n", ":\n", ".\n"])
            parts.append(sep)
            line_start = "\n" in sep
        text = "".join(parts)
        if rng.random() < 0.1:
            text = text.rstrip() + rng.choice([":", "...", "…", "!", " "])
        out.append(text)
    return out


# ---- refiners ---------------------------------------------------------------------------------
def r_html_entity(text: str) -> str:
    pats = [f"{a}{e}{b}" for e in _ENTITIES for a in ("&", "＆") for b in (";", "；")]
    return re.sub("|".join(pats), "", text)


def r_html_url(text: str) -> str:
    text = re.sub(r"https?:\/\/\S+[\r\n]*", "", text, flags=re.MULTILINE)
    return re.sub(r"<.*?>", "", text)


def r_emoji(text: str) -> str:
    return re.sub(
        "[\U0001f600-\U0001f64f\U0001f300-\U0001f5ff\U0001f680-\U0001f6ff\U0001f1e0-\U0001f1ff\U00002702-\U000027b0]+",
        "",
        text,
    )


def r_extra_spaces(text: str) -> str:
    return " ".join(text.split())


def r_number(text: str) -> str:
    return "".join(c for c in text if not c.isdigit())


def r_punctuation(text: str) -> str:
    return text.translate(_PUNCT)


def r_repeated_punctuation(text: str) -> str:
    return re.sub(r"([^\w\s_])\1+|(_)\2+", r"\1\2", text)


def r_stopwords(text: str) -> str:
    return " ".join(w for w in text.split() if w.lower() not in _STOP)


def r_text_normalization(text: str) -> str:
    from datetime import datetime

    text = re.sub(r"(\d{1,2})[/.](\d{1,2})[/.](\d{2,4})", r"\3-\2-\1", text)
    for pattern, fmt in (
        (r"\b(\w+)\s+(\d{1,2}),\s+(\d{4})\b", "%B %d, %Y"),
        (r"\b(\d{1,2})\s+(\w+)\s+(\d{4})\b", "%d %B %Y"),
    ):
        m = re.search(pattern, text)
        if m:
            with contextlib.suppress(ValueError):
                text = text.replace(m.group(0), datetime.strptime(m.group(0), fmt).strftime("%Y-%m-%d"))
    return re.sub(r"\$\s?(\d+)", r"\1 USD", text)


REFINERS: dict[str, Callable[[str], str]] = {
    "HtmlEntityRefiner": r_html_entity,
    "HtmlUrlRemoverRefiner": r_html_url,
    "LowercaseRefiner": str.lower,
    "RemoveEmojiRefiner": r_emoji,
    "RemoveExtraSpacesRefiner": r_extra_spaces,
    "RemoveNumberRefiner": r_number,
    "RemovePunctuationRefiner": r_punctuation,
    "RemoveRepetitionsPunctuationRefiner": r_repeated_punctuation,
    "RemoveStopwordsRefiner": r_stopwords,
    "TextNormalizationRefiner": r_text_normalization,
}
