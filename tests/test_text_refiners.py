# ruff: noqa: RUF001  (confusable characters are test input on purpose)
"""Refiners: same output as DataFlow's per-row rewrite on a seeded corpus, plus crafted edge cases."""

import pytest
from test_text_dataflow_ref import REFINERS, synthetic_texts
from test_text_helpers import refine

from operators.core.registry import get

EXTRA = [
    "Hello &nbsp; world ＆amp；x &lt; &amp",
    "see https://x.com/a?b=1\nand <b>bold</b> text <a\nhref>",
    "hi 😀🚀 there ✂ 🇫🇷",
    "  a \t b\u3000c\n",
    "abc123 ½ ² ٣ ①",
    "what!!! wow??? __init__ ... 。。。！！",
    "On 12/03/2020 and March 5, 2020, paid $ 30 or $40",
    "5 June 2021 was fine",
    "Febtober 5, 2020 x",
    "February 30, 2020 invalid",
    "The And Of",
    "数据模型训练。",
    "",
    " ",
    "x" * 20000,
]
CORPUS = [t for t in synthetic_texts(1500, seed=3) if t is not None] + EXTRA


@pytest.mark.parametrize("name", sorted(REFINERS))
def test_same_output_as_dataflow(name: str) -> None:
    expected = [REFINERS[name](t) for t in CORPUS]
    got = refine(get(name)(), CORPUS)
    bad = [(t, g, e) for t, g, e in zip(CORPUS, got, expected, strict=True) if g != e]
    assert not bad, f"{name}: {len(bad)} differ, e.g. {bad[:2]!r}"
    assert any(g != t for g, t in zip(got, CORPUS, strict=True)), f"{name} changed nothing"


def test_null_stays_null_and_ids_unchanged() -> None:
    for name in [
        *REFINERS,
        "RemoveContractionsRefiner",
        "RemoveEmoticonsRefiner",
        "RemoveImageRefsRefiner",
        "ReferenceRemoverRefiner",
        "PIIAnonymizeRefiner",
    ]:
        assert refine(get(name)(), [None, "ok"])[0] is None, name


def test_contractions() -> None:
    out = refine(
        get("RemoveContractionsRefiner")(),
        ["I can't and they're here, it's ok, won't", "We’ve been there; I'm sure you'd like it", "cant"],
    )
    assert out == [
        "I cannot and they are here, it is ok, will not",
        "We have been there; I am sure you would like it",
        "cant",
    ]


def test_emoticons_only_as_tokens() -> None:
    out = refine(get("RemoveEmoticonsRefiner")(), ["nice :) work :D <3\nok", "http://x.y/z ok:) fine", ":)"])
    assert out == ["nice work\nok", "http://x.y/z ok:) fine", ""]


def test_image_refs_keep_long_words() -> None:
    # DataFlow's pattern also deletes every alphanumeric run of 7+ characters ("training"); ours does not
    out = refine(get("RemoveImageRefsRefiner")(), ["![](images/a.jpg) 图 3-1：数据流 training data", "abc.png) x"])
    assert out == ["  training data", " x"]


def test_reference_removal() -> None:
    out = refine(
        get("ReferenceRemoverRefiner")(),
        ["x<ref name=a>cite</ref> y {{cite web|url=z}} w", "tail <ref>unclosed", "{{cite book|t=open"],
    )
    assert out == ["x y  w", "tail ", ""]
