# ruff: noqa: RUF001  (confusable characters are test input on purpose)
"""What each rule filter keeps and drops on crafted edge cases: empty, blank, unicode, CJK, long, HTML, code."""

from typing import Any

import pytest
from test_text_helpers import run_op

from operators.core.registry import get

pytestmark = pytest.mark.usefixtures("text_engine")

PROSE = (
    "The river runs through the valley and the people of the town use it for water. "
    "It was built in the last century. Is it still in use? Yes, it is! "
)
LONG = PROSE * 400  # ~ 12k words
CODE = "def f(x):\n    return {k: v for k, v in x.items()}\n" * 5
HTML = "<div>Tom &amp; Jerry</div>&nbsp;<p>more</p>"
CJK = "数据流是一个数据准备系统。它可以清洗文本！它支持中文吗？支持。"
BLANKS = [None, "", " ", "\n\t", "\u3000\xa0"]

# (filter, config, text, kept?)
CASES: list[tuple[str, dict[str, Any], str | None, bool]] = [
    *[("ContentNullFilter", {}, t, False) for t in BLANKS],
    ("ContentNullFilter", {}, "x", True),
    ("ContentNullFilter", {}, CJK, True),
    ("WordNumberFilter", {}, PROSE, True),
    ("WordNumberFilter", {}, "one two", False),
    ("WordNumberFilter", {"min_words": 0, "max_words": 3}, "", True),
    ("WordNumberFilter", {"min_words": 2, "max_words": 3}, "a\u3000b\xa0c", False),  # 3 words, max exclusive
    ("WordNumberFilter", {"min_words": 2, "max_words": 4}, "a\u3000b\xa0c", True),
    ("WordNumberFilter", {}, CJK, False),  # one whitespace token
    ("WordNumberFilter", {}, LONG, True),
    ("ColonEndFilter", {}, "Here is the list:", False),
    ("ColonEndFilter", {}, "Done.", True),
    ("ColonEndFilter", {}, "", False),
    ("ColonEndFilter", {}, "ends with colon:\n", True),
    ("SentenceNumberFilter", {}, PROSE, True),
    ("SentenceNumberFilter", {}, "Only one sentence here.", False),
    ("SentenceNumberFilter", {}, CJK, False),  # CJK full stops are not sentence ends for DataFlow
    ("SentenceNumberFilter", {}, "... !!! ???", False),
    ("CharNumberFilter", {}, "x" * 99, False),
    ("CharNumberFilter", {}, "x " * 100, True),
    ("CharNumberFilter", {}, " " * 500, False),
    ("CharNumberFilter", {"threshold": 10}, CJK, True),
    ("MeanWordLengthFilter", {}, PROSE, True),
    ("MeanWordLengthFilter", {}, "a b c d", False),
    ("MeanWordLengthFilter", {}, "x" * 40, False),
    ("MeanWordLengthFilter", {}, " ", False),
    ("SymbolWordRatioFilter", {}, "# # # heading", False),
    ("SymbolWordRatioFilter", {}, PROSE, True),
    ("SymbolWordRatioFilter", {}, "wait… what… really…", False),
    ("SymbolWordRatioFilter", {}, " ", False),
    ("CurlyBracketFilter", {}, CODE, False),
    ("CurlyBracketFilter", {}, PROSE, True),
    ("CapitalWordsFilter", {}, "NASA AND THE USA", False),
    ("CapitalWordsFilter", {}, PROSE, True),
    ("CapitalWordsFilter", {}, " ", True),  # no words: ratio 0, as DataFlow
    ("CapitalWordsFilter", {}, "ÉCOLE ÉTÉ été", False),
    ("CapitalWordsFilter", {}, "123 456", True),
    ("UniqueWordsFilter", {}, "spam " * 50, False),
    ("UniqueWordsFilter", {}, PROSE, True),
    ("UniqueWordsFilter", {}, "Spam SPAM spam", True),  # 1/3 unique after lower-casing > 0.1
    ("AlphaWordsFilter", {}, "123 456 789 abc", False),
    ("AlphaWordsFilter", {}, PROSE, True),
    ("AlphaWordsFilter", {}, CJK, False),
    ("LineEndWithEllipsisFilter", {}, "one...\ntwo…\nthree.", False),
    ("LineEndWithEllipsisFilter", {}, "one...   \n\n\n two\nthree\nfour", True),
    ("LineEndWithEllipsisFilter", {}, "\n\n", False),
    ("LineStartWithBulletpointFilter", {}, "• a\n• b\n  ▪ c", False),
    ("LineStartWithBulletpointFilter", {}, "• a\nplain\nplain", True),
    ("LineWithJavascriptFilter", {}, "javascript\n" * 10, False),
    ("LineWithJavascriptFilter", {}, "java-script\nJavaScript\njs\n", True),  # only 3 lines
    ("LineWithJavascriptFilter", {}, "javascript\n" * 6 + "a\nb\nc\n", True),
    ("LineWithJavascriptFilter", {}, "!!!\n...\n", False),  # punctuation-only lines vanish
    ("NoPuncFilter", {}, "word " * 113, False),
    ("NoPuncFilter", {}, ("word " * 100 + ". ") * 3, True),
    ("NoPuncFilter", {}, " ", True),
    ("HtmlEntityFilter", {}, HTML, False),
    ("HtmlEntityFilter", {}, "Tom ＆amp；Jerry", False),
    ("HtmlEntityFilter", {}, "Tom & Jerry; AT&T", True),
    ("HtmlEntityFilter", {}, "", False),
    ("IDCardFilter", {}, "ID number, id card, identity", False),
    ("IDCardFilter", {}, "身 份证 身份", True),
    ("IDCardFilter", {"threshold": 2}, "身 份证 身份", False),
    ("IDCardFilter", {}, PROSE, True),
    ("SpecialCharacterFilter", {}, "broken � text", False),
    ("SpecialCharacterFilter", {}, "emoji U+1F600", False),
    ("SpecialCharacterFilter", {}, CJK, True),
    ("SpecialCharacterFilter", {}, "u200e residue", False),
    ("WatermarkFilter", {}, "Copyright 2024 ACME", False),
    ("WatermarkFilter", {}, "copyright 2024", True),
    ("WatermarkFilter", {"watermarks": ["版权所有"]}, "本文版权所有", False),
    ("LoremIpsumFilter", {}, "Lorem Ipsum dolor sit amet", False),
    ("LoremIpsumFilter", {}, PROSE, True),
    ("StopWordFilter", {}, PROSE, True),
    ("StopWordFilter", {}, "buy cheap pills online now", False),
    ("StopWordFilter", {}, "the of and", True),
    ("StopWordFilter", {}, "the of", False),  # needs > 2
    ("StopWordFilter", {}, CJK, False),
    ("BlocklistFilter", {}, "fuck this shit", False),
    ("BlocklistFilter", {}, "fuck off", True),
    ("BlocklistFilter", {}, "FUCK SHIT", False),
    ("BlocklistFilter", {}, "fuck, shit.", True),  # tokens
    ("BlocklistFilter", {"language": "zh", "threshold": 0}, "这是色情网站", True),  # no spaces: one token
    ("BlocklistFilter", {"language": "zh", "threshold": 0, "match": "substring"}, "这是色情网站", False),
    ("PIIFilter", {}, "write to a.b@example.org", False),
    ("PIIFilter", {}, "call +1 (555) 123-4567", False),
    ("PIIFilter", {}, "server 10.0.0.1", False),
    ("PIIFilter", {}, PROSE, True),
    ("PIIFilter", {}, None, True),
    ("PIIFilter", {}, "version 1.2.3 in 2024", True),
    ("NgramFilter", {}, "the cat sat on the mat " * 10, False),
    ("NgramFilter", {}, PROSE * 2, False),
    ("NgramFilter", {}, PROSE, True),
    ("NgramFilter", {}, "too short", False),
    ("NgramFilter", {"language": "zh", "ngrams": 2}, CJK, True),
    ("NgramFilter", {"language": "zh"}, "哈哈哈哈哈哈哈哈哈哈", False),
    ("LexicalDiversityFilter", {}, "short text passes", True),
    ("LexicalDiversityFilter", {}, None, True),
    ("LexicalDiversityFilter", {}, "the cat sat on the mat " * 20, False),
    ("LexicalDiversityFilter", {}, " ".join(f"w{i}" for i in range(60)), False),  # MTLD -1, as DataFlow
    ("LexicalDiversityFilter", {}, LONG, False),
    ("LanguageFilter", {"allowed_languages": ["en"], "top_k": 1}, PROSE, True),
    ("LanguageFilter", {"allowed_languages": ["en"], "top_k": 1}, CJK, False),
    ("LanguageFilter", {"allowed_languages": ["zh"], "top_k": 1}, CJK, True),
    ("LanguageFilter", {"allowed_languages": ["de"], "top_k": 1}, "Das ist ein Satz über das Wetter.", True),
]


def _id(case: tuple[str, dict[str, Any], str | None, bool]) -> str:
    name, cfg, text, kept = case
    short = repr(text)[:24]
    return f"{name}{cfg or ''}-{short}-{'keep' if kept else 'drop'}"


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_keeps_or_drops(case: tuple[str, dict[str, Any], str | None, bool]) -> None:
    name, cfg, text, expect_kept = case
    kept, _, reasons = run_op(get(name)(**cfg), [text, PROSE])
    assert (0 in kept) is expect_kept, f"{name} {cfg} on {text!r}: reasons {reasons}"
    if not expect_kept:
        assert reasons[0].startswith(name), reasons[0]


def test_reason_carries_the_measured_value() -> None:
    _, _, reasons = run_op(get("WordNumberFilter")(min_words=5), ["one two three", ""])
    assert reasons == {0: "WordNumberFilter: words=3", 1: "WordNumberFilter: words=0"}
    _, _, reasons = run_op(get("ColonEndFilter")(), [None])
    assert reasons == {0: "ColonEndFilter: empty text"}


def test_batch_filters_stream_in_batches() -> None:
    texts = [PROSE, PROSE * 30, None, CODE] * 300
    op = get("LexicalDiversityFilter")()
    op.batch_rows = 128  # many batches, one of them partial
    kept, rejected, _ = run_op(op, texts)
    assert len(kept) + len(rejected) == len(texts)
    assert set(kept) == {i for i in range(len(texts)) if i % 4 in (0, 2, 3)}
