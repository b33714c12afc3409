"""SQL building blocks that reproduce Python's text semantics inside DuckDB.

DataFlow's filters are written with Python ``str`` methods and ``re``; DuckDB uses RE2, whose ``\\s``
is ASCII-only, whose ``\\w`` is ASCII-only and which has no unicode ``\\b``. A filter that used the
RE2 shorthands would count words differently on text with no-break spaces, ideographic spaces or
CJK, so every pattern here spells out the unicode classes Python uses. Tests compare each helper
against the Python original on crafted unicode input.
"""

import re
import string

from operators.core.contract import quote_literal
from operators.general_text import native

# Characters for which Python's str.isspace() is true: what str.split()/strip() and re's \s use.
PY_WS_CHARS = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    + "".join(chr(c) for c in range(0x2000, 0x200B))
    + "\u2028\u2029\u202f\u205f\u3000"
)
WS_CLASS = r"\t\n\x0b\x0c\r\x1c-\x1f \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}"
WS = f"[{WS_CLASS}]"
NOT_WS = f"[^{WS_CLASS}]"
# Python's unicode \w: letters, numbers (str.isalnum) and underscore.
WORD_CLASS = r"\pL\pN_"
WORD = f"[{WORD_CLASS}]"
# string.punctuation as an RE2 character class.
PUNCT_CLASS = "".join("\\" + c if c in r"\]^-[" else c for c in string.punctuation)
PUNCT = f"[{PUNCT_CLASS}]"
WS_LITERAL = quote_literal(PY_WS_CHARS)


def lit(value: str) -> str:
    return quote_literal(value)


# Whitespace other than space, newline and tab: rare in practice, so texts without any take the
# fast path (plain string_split, ~4x cheaper than an RE2 extraction) and the rest the exact one.
RARE_WS = "[" + WS_CLASS.replace(r"\t\n", "").replace(" ", "") + "]"


def let(expr: str, var: str, body: str) -> str:
    """Evaluate ``expr`` once and use it as ``var`` in ``body`` (DuckDB has no LET; a one-element
    list_transform is one, and the optimizer does not duplicate the bound expression)."""
    return f"list_transform([{expr}], lambda {var}: {body})[1]"


def words(col: str) -> str:
    """``col.split()`` as a DuckDB list of strings."""
    if not re.fullmatch(r'"(?:[^"]|"")*"|[A-Za-z_][A-Za-z0-9_]*', col):  # an expression: compute it once
        return let(col, "wv", words("wv"))
    fast = f"list_filter(string_split(replace(replace({col}, chr(10), ' '), chr(9), ' '), ' '), lambda x: x <> '')"
    exact = f"regexp_extract_all({col}, '{NOT_WS}+')"
    return unless_rare_ws(col, fast, exact)


def unless_rare_ws(col: str, fast: str, exact: str) -> str:
    """``fast`` (written for space/newline/tab as the only whitespace) unless ``col`` holds other
    whitespace, then ``exact`` (Python's full set, usually a regex): one test, ~4x cheaper paths."""
    return f"(CASE WHEN regexp_matches({col}, '{RARE_WS}') THEN {exact} ELSE {fast} END)"


def guarded(col: str, needles: tuple[str, ...], expr: str, otherwise: str) -> str:
    """``expr`` only for rows containing one of ``needles`` (a cheap memchr-speed test), else
    ``otherwise``: for metrics that are a known constant unless a literal occurs in the text."""
    test = " OR ".join(f"contains({col}, {lit(n)})" for n in needles)
    return f"(CASE WHEN {test} THEN {expr} ELSE {otherwise} END)"


def ascii_ws_count(col: str) -> str:
    """Number of spaces, newlines and tabs in ``col`` (three replace() passes, no regex)."""
    return " + ".join(f"(length({col}) - length(replace({col}, {ch}, '')))" for ch in ("' '", "chr(10)", "chr(9)"))


def has_text(col: str) -> str:
    """``bool(col.strip())``: some non-whitespace character (RE2 stops at the first one)."""
    return f"regexp_matches({col}, '{NOT_WS}')"


def zero_ratio(col: str) -> str:
    """A per-token or per-line ratio whose numerator is 0: 0.0 where ``col`` has a token (a
    non-blank character), NULL (no denominator) where it has none."""
    return f"CASE WHEN {has_text(col)} THEN 0.0 END"


def word_count(col: str) -> str:
    """``len(col.split())``."""
    return native.call("words", col) or f"len({words(col)})"


def strip(col: str) -> str:
    """``col.strip()`` with Python's unicode whitespace."""
    return f"trim({col}, {WS_LITERAL})"


def rstrip(col: str) -> str:
    return f"rtrim({col}, {WS_LITERAL})"


def lstrip(col: str) -> str:
    return f"ltrim({col}, {WS_LITERAL})"


def count_sub(col: str, needle: str) -> str:
    """``col.count(needle)``: non-overlapping occurrences, as Python counts them."""
    n = len(needle)
    return f"((length({col}) - length(replace({col}, {lit(needle)}, ''))) // {n})"


def count_regex(col: str, pattern: str) -> str:
    """``len(re.findall(pattern, col))`` for a pattern without capture groups."""
    return f"len(regexp_extract_all({col}, {lit(pattern)}))"


def nonblank_lines(col: str) -> str:
    """DataFlow's ``split_paragraphs(..., remove_empty=True)``: lines that are not whitespace-only."""
    return f"list_filter(string_split({col}, chr(10)), lambda l: {strip('l')} <> '')"


def text_present(col: str) -> str:
    """Python truthiness of a text value (``if text:``): not NULL and not empty."""
    return f"({col} IS NOT NULL AND {col} <> '')"


def regex_escape(value: str) -> str:
    """Escape a literal for use inside an RE2 pattern."""
    return "".join("\\" + c if c in r".^$*+?()[]{}|\-/" else c for c in value)
