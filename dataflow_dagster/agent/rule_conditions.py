"""Text, date and null conditions of a synthesised row rule: ``ticker = 'AAPL'``, ``ticker IN (...)``,
``headline ILIKE '%tesla%'``, ``date >= '2024-01-03'``, ``close IS NULL``.

A clause is only read as such a condition when it names a column of the data, or a value that occurs
in a column of the data's first rows (the sampled distinct values: "keep news about NVDA or MSFT" is
about the ``ticker`` column because NVDA and MSFT are tickers there), or a date and the data has one
date column. Every literal goes through ``quote_literal`` and LIKE patterns escape ``%``/``_``, so a
user's ``O'Brien`` or ``100%`` is matched as written and never widens the rule. A value made of words
that registered operators describe ("HTML", "URLs") is their concept, not a data value, unless quoted.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from operators.core.contract import quote_ident, quote_literal

ISO = r"\d{4}-\d{2}-\d{2}"
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MON = r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|jun(?:e)?|jul(?:y)?|aug(?:ust)?|sep(?:t(?:ember)?)?|"
_MON += r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
_MDY = re.compile(rf"\b{_MON}\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", re.I)
_DMY = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MON}\.?,?\s+(\d{{4}})\b", re.I)
DATE_TYPE = re.compile(r"^(DATE|TIMESTAMP.*)$", re.I)

# (pattern over the clause with ISO dates, operator); the first that matches decides
_DATE_OPS: tuple[tuple[str, str], ...] = (
    (rf"(?:\bbetween|\bfrom)\s+({ISO})\s+(?:and|to|until|till|through)\s+({ISO})", "between"),
    (rf"(?:\bon or after|\bfrom|\bsince|\bstarting(?: from| on)?|\bnot before|\bno earlier than)\s+({ISO})", ">="),
    (rf"({ISO})\s+(?:onwards?|or later|and later|on)\b", ">="),
    (rf"(?:\bon or before|\buntil|\btill|\bthrough|\bup to|\bnot after|\bno later than)\s+({ISO})", "<="),
    (rf"({ISO})\s+(?:or earlier|and earlier)\b", "<="),
    (rf"(?:\bafter|\blater than|\bnewer than)\s+({ISO})", ">"),
    (rf"(?:\bbefore|\bearlier than|\bprior to|\bolder than)\s+({ISO})", "<"),
    (rf"(?:\bon|\bdated|\bof|=)\s+({ISO})", "="),
)
_NULL = re.compile(r"\b(?:missing|null|empty|blank|unknown|absent|nan|no|without)\b", re.I)
_NON_NULL = re.compile(r"\bnon-?(?:missing|null|empty|blank)\b", re.I)
_STARTS = re.compile(r"\b(?:starts?|starting|begins?|beginning)\s+with\b", re.I)
_ENDS = re.compile(r"\b(?:ends?|ending)\s+(?:with|in)\b", re.I)
_CONTAINS = re.compile(
    r"\b(?:contain(?:s|ing)?|mention(?:s|ing|ed)?|includ(?:e|es|ing)|refer(?:s|ring)? to|talk(?:s|ing)? about)\b", re.I
)
_WORD_OF = re.compile(r"^\s*(?:the\s+|a\s+|an\s+)?((?:word|phrase|term|string|name|text)s?\s+)?", re.I)
_NEGATE = re.compile(
    r"\b(?:not|isn't|aren't|doesn't|don't|other than|except|excluding|apart from|besides|never)\b", re.I
)
_QUOTED = re.compile(r"\"([^\"]+)\"|“([^”]+)”|'([^']+)'(?!\w)")
_TOKEN = re.compile(r"[\w][\w&.'-]*")


def iso_dates(text: str) -> str:
    """``January 3, 2024`` / ``3 Jan 2024`` written as ``2024-01-03`` (so a comma or "after" inside a date
    is not read as a clause boundary); impossible dates are left as written."""

    def iso(mon: str, day: str, year: str, whole: str) -> str:
        month = next(i for i, m in enumerate(MONTHS, 1) if m == mon.lower()[:3])
        try:
            return date(int(year), month, int(day)).isoformat()
        except ValueError:
            return whole

    text = _MDY.sub(lambda m: iso(m[1], m[2], m[3], m[0]), text)
    return _DMY.sub(lambda m: iso(m[2], m[1], m[3], m[0]), text)


@dataclass
class Found:
    """A condition on ``column``: ``sql`` is the row's truth; a removal clause keeps ``negated``."""

    column: str
    sql: str
    negated: str | None = None  # when plainer than coalesce(NOT (sql), true)
    negate: bool = False  # the clause says "not", "other than", "doesn't mention"
    consumed: str = ""  # the words it was read from (a date phrase), not a value for another condition


def quoted(text: str) -> list[str]:
    return [next(g for g in m.groups() if g) for m in _QUOTED.finditer(text)]


def date_condition(text: str, col: str, ctype: str) -> Found | None:
    """A comparison with the clause's ISO dates; on a TIMESTAMP column a day means the whole day."""
    c, whole_day = quote_ident(col), ctype.upper().startswith("TIMESTAMP")

    def day(s: str, plus: int = 0) -> str:
        return quote_literal((date.fromisoformat(s) + timedelta(days=plus)).isoformat())

    for pattern, op in _DATE_OPS:
        m = re.search(pattern, text, re.I)
        if m is None:
            continue
        try:
            if op == "between":
                hi = f"{c} < {day(m[2], 1)}" if whole_day else f"{c} <= {day(m[2])}"
                return Found(col, f"{c} >= {day(m[1])} AND {hi}", consumed=m[0])
            if whole_day and op in ("=", ">", "<="):
                nxt = day(m[1], 1)
                sql = {"=": f"{c} >= {day(m[1])} AND {c} < {nxt}", ">": f"{c} >= {nxt}", "<=": f"{c} < {nxt}"}[op]
                return Found(col, sql, consumed=m[0])
            return Found(col, f"{c} {op} {day(m[1])}", consumed=m[0])
        except ValueError:  # 2024-02-30
            return None
    return None


def null_condition(text: str, col: str) -> Found | None:
    if not _NULL.search(text):
        return None
    c, negate = quote_ident(col), bool(_NEGATE.search(text) or _NON_NULL.search(text))
    return Found(col, f"{c} IS NULL", negated=f"{c} IS NOT NULL", negate=negate)


def _like(value: str, where: str) -> str:
    esc = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = {"start": f"{esc}%", "end": f"%{esc}", "in": f"%{esc}%"}[where]
    return f"ILIKE {quote_literal(pattern)} ESCAPE '\\'"


def text_condition(
    text: str,
    named: str | None,
    values: dict[str, list[str]],
    main: str,
    concept: Callable[[str], bool],
) -> Found | None:
    """contains / starts with / ends with a literal (case-insensitive), on the named column or, with
    none named, the column whose sampled values hold the literal (the main text column first)."""
    m = _STARTS.search(text) or _ENDS.search(text) or _CONTAINS.search(text)
    if m is None:
        return None
    where = "start" if m.re is _STARTS else "end" if m.re is _ENDS else "in"
    literals = quoted(text[m.end() :]) or quoted(text)
    bare = not literals
    if bare:  # "mention Tesla or Nvidia": each alternative is a value
        lead = _WORD_OF.match(text[m.end() :])
        rest = text[m.end() + lead.end() :].strip(" .,;:!?")
        literals = [v for v in re.split(r"\s*(?:,|\bor\b)\s*", rest) if v]
        if not literals or any(len(v.split()) > 4 for v in literals):
            return None
        if not lead[1] and not all(re.search(r"[A-Z]", v) for v in literals):
            return None  # "mention politics" is a topic (a judge's work); "Tesla", "the word x" are literals

    def held(c: str, x: str) -> bool:
        return any(x.lower() in v.lower() for v in values.get(c, ()))

    col = named
    if col is None:
        holding = [c for c in values if any(held(c, x) for x in literals)]
        col = main if main in holding else (holding or [None])[0]
    if col is None:
        return None
    if bare and any(concept(w) for x in literals if not held(col, x) for w in _TOKEN.findall(x)):
        return None  # "HTML tags" the data does not show: an operator's concept, not a value
    sql = " OR ".join(f"{quote_ident(col)} {_like(v, where)}" for v in literals)
    negate = bool(_NEGATE.search(text[: m.start()]))
    return Found(col, sql if len(literals) == 1 else f"({sql})", negate=negate)


def value_condition(text: str, named: str | None, values: dict[str, list[str]], first: str) -> Found | None:
    """Equality or membership: the clause's quoted, capitalised or (on a named column) any words that
    are values of one column's sample; the data's own spelling is used. "not"/"other than" negate."""
    tokens = _TOKEN.findall(text)
    grams = {" ".join(tokens[i : i + n]) for n in (1, 2, 3) for i in range(len(tokens) - n + 1)}
    picked = set(quoted(text)) | {g for g in grams if g[:1].isupper() and g != first}
    col, hits = None, []
    for c, vals in values.items():
        lower = {v.lower(): v for v in vals}
        pool = grams | picked if c == named else picked
        got = sorted({lower[g.lower()] for g in pool if g.lower() in lower and len(g) > 1})
        if got and (c == named or len(got) > len(hits)):
            col, hits = c, got
            if c == named:
                break
    if col is None and named is not None and named in values:
        col, hits = named, quoted(text)  # a quoted value the sample lacks, on the named column
    if col is None or not hits:
        return None
    c = quote_ident(col)
    sql = f"{c} = {quote_literal(hits[0])}" if len(hits) == 1 else f"{c} IN ({', '.join(map(quote_literal, hits))})"
    return Found(col, sql, negate=bool(_NEGATE.search(text)))
