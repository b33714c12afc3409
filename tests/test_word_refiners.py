"""Stemming and spelling refiners: the SQL rebuild from a distinct-word map gives what DataFlow's
word-by-word loop gives (restated here with the same libraries), on a real DuckDB."""

import pytest
from symspellpy import Verbosity

from operators.core.contract import OperatorError
from operators.general_text.word_refiners import (
    SpellingCorrectionRefiner,
    StemmingLemmatizationRefiner,
    _porter,
    _symspell,
)
from tests.helpers import run_op

ROWS = [
    {"text": "The runners were running  quickly\tthrough caresses and ponies today"},
    {"text": "Ths sentense has speling erors in it"},
    {"text": "running running running"},
    {"text": ""},
    {"text": "   "},
    {"text": None},
]


def dataflow_loop(text, word_fn):
    """DataFlow's refiners: " ".join(f(w) for w in text.split())."""
    return None if text is None else " ".join(word_fn(w) for w in text.split())


def test_stemming_matches_the_word_loop_and_porter(tmp_path):
    kept, _, lineage = run_op(tmp_path, ROWS, StemmingLemmatizationRefiner())
    stem = _porter()
    assert [r["text"] for r in kept] == [dataflow_loop(r["text"], lambda w: stem.stemWord(w.lower())) for r in ROWS]
    assert kept[0]["text"].split()[:4] == ["the", "runner", "were", "run"]
    assert "caress" in kept[0]["text"] and " poni " in kept[0]["text"]  # Porter's classic cases
    assert lineage["stats"]["distinct_words"] < sum(len((r["text"] or "").split()) for r in ROWS)


def test_spelling_matches_symspell_word_loop(tmp_path):
    kept, _, _ = run_op(tmp_path, ROWS, SpellingCorrectionRefiner())
    sym = _symspell(2, 7)

    def closest(w):
        hits = sym.lookup(w, Verbosity.CLOSEST, 2)
        return hits[0].term if hits else w

    assert [r["text"] for r in kept] == [dataflow_loop(r["text"], closest) for r in ROWS]
    assert "sentence has spelling errors" in kept[1]["text"]


def test_refused_settings_say_why():
    with pytest.raises(OperatorError, match="WordNet"):
        StemmingLemmatizationRefiner(method="lemmatization")
    with pytest.raises(OperatorError, match="bundled English dictionary"):
        SpellingCorrectionRefiner(dictionary_path="/tmp/my_dict.txt")
