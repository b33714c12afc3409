# ruff: noqa: RUF001, RUF002  (fullwidth and CJK punctuation are matched on purpose)
"""Text refiners after DataFlow's general_text refiners, as DuckDB SQL rewrites of one column.

Each keeps the row and its ``_id`` and rewrites ``input_key`` in place. Where DataFlow's refiner is
a no-op or destroys text by accident (documented in docs/general_text.md) the intended rewrite is
done instead. NULL stays NULL.
"""

from typing import ClassVar

from operators.core.registry import register
from operators.core.sql_ops import SQLRefiner, TextConfig
from operators.general_text.heuristics_content import HTML_ENTITIES
from operators.general_text.textsql import NOT_WS, PUNCT, WORD_CLASS, WS, lit, regex_escape, words
from operators.general_text.wordlists import bundled, load_list


class _Refiner(SQLRefiner):
    tags: ClassVar[tuple[str, ...]] = ("refine", "clean", "pretrain")


def rx(col: str, pattern: str, repl: str = "") -> str:
    return f"regexp_replace({col}, {lit(pattern)}, {lit(repl)}, 'g')"


class HtmlEntityConfig(TextConfig):
    html_entities: list[str] = list(HTML_ENTITIES)


@register
class HtmlEntityRefiner(_Refiner):
    """Removes HTML entities ('&nbsp;', fullwidth '＆amp；' and mixed forms) from the text."""

    Config = HtmlEntityConfig

    def rewrite_sql(self, col: str) -> str:
        names = "|".join(regex_escape(e) for e in self.config.html_entities)
        return rx(col, f"[&＆](?:{names})[;；]")


@register
class HtmlUrlRemoverRefiner(_Refiner):
    """Removes http(s) URLs (with trailing line breaks) and HTML tags."""

    def rewrite_sql(self, col: str) -> str:
        return rx(rx(col, f"https?://{NOT_WS}+[\\r\\n]*"), "<.*?>")


@register
class LowercaseRefiner(_Refiner):
    """Lower-cases the text (unicode-aware)."""

    def rewrite_sql(self, col: str) -> str:
        return f"lower({col})"


# (pattern, replacement) applied in order, case-insensitive; the usual English contractions.
CONTRACTIONS = [
    (r"\bcan't\b", "cannot"),
    (r"\bwon't\b", "will not"),
    (r"\bshan't\b", "shall not"),
    (r"\blet's\b", "let us"),
    (r"\by'all\b", "you all"),
    (r"\bain't\b", "are not"),
    (r"\b(it|that|there|here|what|who|where|how|he|she)'s\b", "\\1 is"),
    (r"n't\b", " not"),
    (r"'re\b", " are"),
    (r"'ve\b", " have"),
    (r"'ll\b", " will"),
    (r"'d\b", " would"),
    (r"\bi'm\b", "I am"),
    (r"'m\b", " am"),
]


@register
class RemoveContractionsRefiner(_Refiner):
    """Expands English contractions ("can't" -> "cannot", "they're" -> "they are")."""

    def rewrite_sql(self, col: str) -> str:
        out = f"replace({col}, '’', '''')"
        for pattern, repl in CONTRACTIONS:
            out = rx(out, "(?i)" + pattern, repl)
        return out


EMOJI = "[\\x{1F600}-\\x{1F64F}\\x{1F300}-\\x{1F5FF}\\x{1F680}-\\x{1F6FF}\\x{1F1E0}-\\x{1F1FF}\\x{2702}-\\x{27B0}]+"


@register
class RemoveEmojiRefiner(_Refiner):
    """Removes pictographic emoji (emoticons, symbols, transport, flags, dingbats blocks)."""

    def rewrite_sql(self, col: str) -> str:
        return rx(col, EMOJI)


@register
class RemoveEmoticonsRefiner(_Refiner):
    """Removes text emoticons (':-)', ':D', '<3', '^_^', ...) that stand as whole tokens."""

    def rewrite_sql(self, col: str) -> str:
        items = sorted(bundled("emoticons.txt"), key=len, reverse=True)
        pattern = f"(^|{WS})(?:" + "|".join(regex_escape(e) for e in items) + f")({WS}|$)"
        # keep the whitespace after the emoticon; a match eats the one before, so a neighbouring
        # emoticon needs a second pass
        return rx(rx(col, pattern, "\\2"), pattern, "\\2")


@register
class RemoveExtraSpacesRefiner(_Refiner):
    """Collapses every whitespace run to one space and trims the ends (" ".join(text.split()))."""

    def rewrite_sql(self, col: str) -> str:
        return f"array_to_string({words(col)}, ' ')"


IMAGE_REFS = (
    (
        r"!\[\]\(images\/[0-9a-fA-F]\.jpg\)|[a-fA-F0-9]+\.[a-zA-Z]{3,4}\)|!\[\]\(images\/[a-f0-9]"
        r"|图\s+\d+-\d+：[\x{4e00}-\x{9fa5}a-zA-Z0-9]+|u200e|&#247;|\? :|[�□]|\{\/U\}"
        r"|U\+26[0-F][0-D]|U\+273[3-4]|U\+1F[3-6][0-4][0-F]|U\+1F6[8-F][0-F]"
    )
    .replace(r"\s", WS)
    .replace(r"\d", r"\p{Nd}")
)


@register
class RemoveImageRefsRefiner(_Refiner):
    """Removes markdown image references, figure captions ('图 3-1：...') and escaped-unicode residue."""

    def rewrite_sql(self, col: str) -> str:
        return rx(col, IMAGE_REFS)


# str.isdigit(): decimal digits plus the "Digit" numeric type (superscripts, circled digits, ...).
DIGITS = (
    r"[\p{Nd}\x{B2}-\x{B3}\x{B9}\x{1369}-\x{1371}\x{19DA}\x{2070}\x{2074}-\x{2079}\x{2080}-\x{2089}"
    r"\x{2460}-\x{2468}\x{2474}-\x{247C}\x{2488}-\x{2490}\x{24EA}\x{24F5}-\x{24FD}\x{24FF}\x{2776}-\x{277E}"
    r"\x{2780}-\x{2788}\x{278A}-\x{2792}\x{10A40}-\x{10A43}\x{10E60}-\x{10E68}\x{11052}-\x{1105A}"
    r"\x{1F100}-\x{1F10A}]"
)


@register
class RemoveNumberRefiner(_Refiner):
    """Removes digit characters (str.isdigit: decimal digits, superscripts, subscripts)."""

    def rewrite_sql(self, col: str) -> str:
        return rx(col, DIGITS)


@register
class RemovePunctuationRefiner(_Refiner):
    """Removes ASCII punctuation (Python's string.punctuation)."""

    def rewrite_sql(self, col: str) -> str:
        return rx(col, PUNCT)


# Characters whose runs collapse to one: ASCII punctuation, common CJK punctuation, underscore.
REPEATABLE = [c for c in "!\"#$%&'()*+,-./:;<=>?@[\\]^`{|}~_。，、！？；：…—～·《》「」【】（）"]


@register
class RemoveRepetitionsPunctuationRefiner(_Refiner):
    """Collapses runs of one repeated punctuation mark ('!!!' -> '!', '___' -> '_').

    RE2 has no back-references, so runs are matched per character, nine characters per pass
    (one capture group each; unmatched groups rewrite to nothing).
    """

    def rewrite_sql(self, col: str) -> str:
        out = col
        for i in range(0, len(REPEATABLE), 9):
            chunk = REPEATABLE[i : i + 9]
            pattern = "|".join(f"({regex_escape(c)}){regex_escape(c)}+" for c in chunk)
            repl = "".join(f"\\{k + 1}" for k in range(len(chunk)))
            out = rx(out, pattern, repl)
        return out


class StopwordsConfig(TextConfig):
    path: str | None = None  # one stop word a line; default: NLTK's English list (bundled)


@register
class RemoveStopwordsRefiner(_Refiner):
    """Drops stop words (case-insensitive) and re-joins the remaining words with single spaces."""

    Config = StopwordsConfig

    def rewrite_sql(self, col: str) -> str:
        stops = "[" + ", ".join(lit(w) for w in load_list(self.config.path, "stopwords_en.txt")) + "]"
        return f"array_to_string(list_filter({words(col)}, lambda w: NOT list_contains({stops}, lower(w))), ' ')"


REF_TAGS = r"<ref\b[^>]*>.*?</ref>|<ref\b[^>]*>[^<]*$|<ref\b[^>]*>.*?/br"
CITE = r"\{\{cite\s+\w+\|[^}]*\}\}|\{\{cite\s+\w+\|[^}]*$".replace(r"\s", WS).replace(r"\w", f"[{WORD_CLASS}]")


@register
class ReferenceRemoverRefiner(_Refiner):
    """Removes wiki reference tags (<ref>...</ref>, unclosed <ref>) and {{cite ...}} templates."""

    def rewrite_sql(self, col: str) -> str:
        return rx(rx(col, REF_TAGS), CITE)


MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"
W = f"[{WORD_CLASS}]"
NW = f"[^{WORD_CLASS}]"


@register
class TextNormalizationRefiner(_Refiner):
    """Normalises dates to ISO (dd/mm/yyyy, 'Month d, yyyy', 'd Month yyyy') and '$12' to '12 USD'.

    As DataFlow: numeric dates are all rewritten; for each named-month form only the first candidate
    in the text is parsed, and if it is a real date every copy of it is replaced.
    """

    def rewrite_sql(self, col: str) -> str:
        d = "\\p{Nd}"
        out = rx(col, f"({d}{{1,2}})[/.]({d}{{1,2}})[/.]({d}{{2,4}})", "\\3-\\2-\\1")
        for pattern, fmt in (
            (f"(?:^|{NW})({W}+{WS}+{d}{{1,2}},{WS}+{d}{{4}})(?:{NW}|$)", "%B %d, %Y"),
            (f"(?:^|{NW})({d}{{1,2}}{WS}+{W}+{WS}+{d}{{4}})(?:{NW}|$)", "%d %B %Y"),
        ):
            found = f"regexp_extract({out}, {lit(pattern)}, 1)"
            parsed = f"try_strptime(regexp_replace({found}, '{WS}+', ' ', 'g'), {lit(fmt)})"
            out = (
                f"CASE WHEN {found} <> '' AND {parsed} IS NOT NULL "
                f"THEN replace({out}, {found}, strftime({parsed}, '%Y-%m-%d')) ELSE {out} END"
            )
        return rx(out, f"\\$(?:{WS})?({d}+)", "\\1 USD")
