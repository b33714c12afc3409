"""Word lists bundled as package data (stop words, blocklists, emoticons) and SQL to count them.

Counting list members token by token with list lambdas costs one list scan per token; instead the
text is rewritten so every whitespace token is framed by its own spaces and one RE2 alternation of
the escaped words counts whole-token matches in a single pass (an automaton, whatever the list size).
"""

from functools import cache
from importlib import resources
from pathlib import Path

from operators.core.contract import OperatorError
from operators.general_text import native
from operators.general_text.textsql import WS_CLASS, lit, regex_escape, unless_rare_ws

DATA = "operators.general_text.data"


@cache
def bundled(name: str) -> tuple[str, ...]:
    text = resources.files(DATA).joinpath(name).read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def load_list(path: str | None, bundled_name: str, lower: bool = True) -> tuple[str, ...]:
    """A user's word file (one entry a line, '#' comments) or the bundled one."""
    if path is None:
        items = bundled(bundled_name)
    else:
        p = Path(path)
        if not p.is_file():
            raise OperatorError(
                f"word list file '{path}' does not exist; give an existing UTF-8 text file "
                "with one entry per line, or leave `path` unset for the bundled list"
            )
        items = tuple(
            x.strip() for x in p.read_text(encoding="utf-8").splitlines() if x.strip() and not x.startswith("#")
        )
    return tuple(sorted({x.lower() if lower else x for x in items}))


def framed_tokens(col: str) -> str:
    """``col`` with at least two spaces between tokens and a space added at both ends.

    Each whitespace character becomes two spaces: a run of them then frames its neighbours just as
    one collapsed pair would (only the count of framed matches is used). Texts whose whitespace is
    only space/newline/tab (nearly all) take three plain replace() passes, the rest one RE2 pass.
    """
    fast = f"replace(replace(replace({col}, ' ', '  '), chr(10), '  '), chr(9), '  ')"
    exact = f"regexp_replace({col}, '[{WS_CLASS}]+', '  ', 'g')"
    return f"(' ' || {unless_rare_ws(col, fast, exact)} || ' ')"


def count_tokens_in(col: str, items: tuple[str, ...]) -> str:
    """Number of ``col.split()`` tokens equal to one of ``items`` (entries with whitespace never match)."""
    single = [w for w in items if w and not any(ch.isspace() for ch in w)]
    if not single:
        return "0"
    alternation = "|".join(regex_escape(w) for w in sorted(single, key=len, reverse=True))
    return f"len(regexp_extract_all({framed_tokens(col)}, {lit(' (?:' + alternation + ') ')}))"


def count_lower_tokens_in(col: str, items: tuple[str, ...]) -> str:
    """Number of ``col.lower().split()`` tokens in ``items`` (lower-cased already): the native kernel
    where it is built, else the SQL of :func:`count_tokens_in` over ``lower(col)``."""
    return native.count_in(col, items) or count_tokens_in(f"lower({col})", items)


def count_substrings_in(col: str, items: tuple[str, ...]) -> str:
    """Non-overlapping occurrences of any of ``items`` anywhere in ``col`` (for unsegmented CJK text)."""
    if not items:
        return "0"
    alternation = "|".join(regex_escape(w) for w in sorted(items, key=len, reverse=True))
    return f"len(regexp_extract_all({col}, {lit('(?:' + alternation + ')')}))"
