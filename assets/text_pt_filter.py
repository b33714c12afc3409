"""DataFlow's 23-step CPU pretraining filter (``text_pt_filter``), step for step.

open-dataflow 1.0.13 ships it as ``dataflow/statics/pipelines/cpu_pipelines/text_pt_filter.py``:
three refiners, a MinHash near-duplicate filter and nineteen rule filters over ``raw_content``, with
the thresholds below (DataFlow's values; where DataFlow names a key differently, our config name
with the same meaning: ``use_n_gram=True, ngram=5`` is our ``ngram=5`` character shingles, and
``CapitalWordsFilter(use_tokenizer=False)`` is our default whitespace split).

Planned as three stages: the refiners fuse into one, the dedup stands alone (set-wise), and the
nineteen filters fuse into one query and one snapshot (``dataflow-dagster plan`` shows it).
"""

import random
from pathlib import Path

from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from operators.general_text.dedup_minhash import MinHashDeduplicateFilter
from operators.general_text.heuristics import (
    CapitalWordsFilter,
    CharNumberFilter,
    ColonEndFilter,
    ContentNullFilter,
    CurlyBracketFilter,
    MeanWordLengthFilter,
    SentenceNumberFilter,
    SymbolWordRatioFilter,
    UniqueWordsFilter,
    WordNumberFilter,
)
from operators.general_text.heuristics_content import (
    BlocklistFilter,
    HtmlEntityFilter,
    LoremIpsumFilter,
    SpecialCharacterFilter,
    WatermarkFilter,
)
from operators.general_text.heuristics_lines import (
    LineEndWithEllipsisFilter,
    LineStartWithBulletpointFilter,
    LineWithJavascriptFilter,
    NoPuncFilter,
)
from operators.general_text.refiners import HtmlUrlRemoverRefiner, RemoveEmojiRefiner, RemoveExtraSpacesRefiner

DATA_DIR = Path(__file__).parent / "data"
TEXT = "raw_content"


def text_pt_filter_pipeline(source_path: str | Path | None = None, name: str = "text_pt_filter") -> Pipeline:
    k = {"input_key": TEXT}
    return Pipeline(
        name=name,
        description="DataFlow's text_pt_filter CPU pipeline: 3 refiners, MinHash dedup, 19 rule filters",
        source=Source(path=str(source_path or DATA_DIR / "pt_input.jsonl"), required_columns=[TEXT]),
        steps=[
            Step("remove_emoji", RemoveEmojiRefiner(**k)),
            Step("html_remove", HtmlUrlRemoverRefiner(**k)),
            Step("remove_extra_spaces", RemoveExtraSpacesRefiner(**k)),
            Step("minhash_dedup", MinHashDeduplicateFilter(num_perm=128, threshold=0.9, ngram=5, **k)),
            Step("blocklist", BlocklistFilter(**k)),
            Step("word_number", WordNumberFilter(min_words=20, max_words=100000, **k)),
            Step("colon_end", ColonEndFilter(**k)),
            Step("sentence_number", SentenceNumberFilter(min_sentences=3, max_sentences=7500, **k)),
            Step("line_end_with_ellipsis", LineEndWithEllipsisFilter(threshold=0.3, **k)),
            Step("content_null", ContentNullFilter(**k)),
            Step("mean_word_length", MeanWordLengthFilter(min_length=3, max_length=10, **k)),
            Step("symbol_word_ratio", SymbolWordRatioFilter(threshold=0.4, **k)),
            Step("html_entity", HtmlEntityFilter(**k)),
            Step("no_punc", NoPuncFilter(threshold=112, **k)),
            Step("special_character", SpecialCharacterFilter(**k)),
            Step("watermark", WatermarkFilter(watermarks=["Copyright", "Watermark", "Confidential"], **k)),
            Step("curly_bracket", CurlyBracketFilter(threshold=0.025, **k)),
            Step("capital_words", CapitalWordsFilter(threshold=0.2, **k)),
            Step("lorem_ipsum", LoremIpsumFilter(threshold=3e-8, **k)),
            Step("unique_words", UniqueWordsFilter(threshold=0.1, **k)),
            Step("char_number", CharNumberFilter(threshold=100, **k)),
            Step("line_start_with_bulletpoint", LineStartWithBulletpointFilter(threshold=0.9, **k)),
            Step("line_with_javascript", LineWithJavascriptFilter(threshold=3, **k)),
        ],
    )


_WORDS = [
    "energy",
    "system",
    "model",
    "data",
    "process",
    "cell",
    "river",
    "theory",
    "market",
    "signal",
    "method",
    "language",
    "network",
    "structure",
    "protein",
    "climate",
    "history",
    "music",
    "island",
    "engine",
    "circuit",
    "pattern",
    "region",
    "species",
    "value",
    "surface",
    "library",
    "measure",
    "culture",
    "origin",
    "element",
    "vessel",
    "harbor",
    "orbit",
    "mineral",
    "forest",
    "archive",
    "lattice",
]

# Each kind of document one of the pipeline's steps acts on (rewrites or drops), so a corpus built
# from them exercises every step; "clean" documents pass all of them.
_FLAWS = (
    "clean",
    "clean",
    "clean",
    "emoji",
    "url",
    "spaces",
    "duplicate",
    "short",
    "colon",
    "ellipsis",
    "symbols",
    "entity",
    "nopunc",
    "watermark",
    "curly",
    "capitals",
    "lorem",
    "repeat",
    "bullets",
    "javascript",
)


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(8, 16))]
    return words[0].capitalize() + " " + " ".join(words[1:]) + "."


def _document(rng: random.Random, flaw: str) -> str:
    lines = [" ".join(_sentence(rng) for _ in range(rng.randint(2, 4))) for _ in range(rng.randint(2, 5))]
    if flaw == "emoji":
        lines[0] += " \U0001f600\U0001f680"
    elif flaw == "url":
        lines[-1] += " see https://example.org/page?id=7 and <b>bold</b> text."
    elif flaw == "spaces":
        lines[0] = lines[0].replace(" ", "   ", 3)
    elif flaw == "short":
        return _sentence(rng)
    elif flaw == "colon":
        lines[-1] = lines[-1].rstrip(".") + ":"
    elif flaw == "ellipsis":
        lines = [ln.rstrip(".") + "..." for ln in lines]
    elif flaw == "symbols":
        lines = [" ".join(f"#{w}" for w in ln.split()) for ln in lines]
    elif flaw == "entity":
        lines[0] += " &nbsp; &amp; here."
    elif flaw == "nopunc":
        lines = [" ".join(rng.choice(_WORDS) for _ in range(150))]
    elif flaw == "watermark":
        lines[-1] += " Copyright 2024 Example Corp."
    elif flaw == "curly":
        lines.append("{" * 40 + "}" * 40)
    elif flaw == "capitals":
        lines = [ln.upper() for ln in lines]
    elif flaw == "lorem":
        lines[0] = "Lorem ipsum dolor sit amet. " + lines[0]
    elif flaw == "repeat":
        lines = [" ".join(["energy."] * 60)]
    elif flaw == "bullets":
        lines = ["\u2022 " + ln for ln in lines]
    elif flaw == "javascript":
        lines = ["Enable javascript to continue." for _ in range(5)] + lines[:1]
    return "\n".join(lines)


def synthetic_corpus(path: str | Path, rows: int, seed: int = 0) -> Path:
    """A seeded JSONL corpus of ``rows`` documents for this pipeline: mostly clean prose plus one
    document kind per step that acts on it, and exact duplicates of earlier documents."""
    import json

    rng = random.Random(seed)
    docs: list[str] = []
    for i in range(rows):
        flaw = _FLAWS[rng.randrange(len(_FLAWS))]
        if flaw == "duplicate" and docs:
            docs.append(docs[rng.randrange(len(docs))])
            continue
        docs.append(f"Note {i}. " + _document(rng, flaw))
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as fh:
        for d in docs:
            fh.write(json.dumps({TEXT: d}, ensure_ascii=False) + "\n")
    return out
