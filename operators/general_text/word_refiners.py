"""Word-by-word refiners (stemming, spelling correction) without a Python loop over rows.

DataFlow's StemmingLemmatizationRefiner and SpellingCorrectionRefiner rewrite ``text.split()`` word
by word and join with single spaces. The costly part is the per-word call into the stemmer or
SymSpell, and a corpus has far fewer distinct words than words: so the distinct words are collected
in DuckDB, each is mapped once in Python (in batches), and the texts are rebuilt in SQL by joining
their words with that map. Memory is bounded by the vocabulary, not the table.
"""

import functools
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from operators.core.batches import insert_rows
from operators.core.contract import Kind, Operator, OperatorContext, quote_ident
from operators.core.registry import register
from operators.core.sql_ops import POS, TextConfig
from operators.general_text.textsql import words

VOCAB_BATCH = 50_000


class WordMapRefiner(Operator):
    """Subclasses implement ``map_words`` (distinct words -> replacements, same order)."""

    kind: ClassVar[Kind] = Kind.REFINE
    row_local: ClassVar[bool] = True
    domain = "general"

    def input_columns(self) -> list[str]:
        return [self.config.input_key]

    def output_columns(self) -> list[str]:
        return [self.config.input_key]

    def map_words(self, vocab: list[str]) -> list[str]:
        raise NotImplementedError

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        col, src = quote_ident(self.config.input_key), quote_ident(ctx.source or "")
        con, vocab, tokens = ctx.con, quote_ident(f"{ctx.target}__vocab"), quote_ident(f"{ctx.target}__tokens")
        con.execute(
            f"CREATE TABLE {tokens} AS SELECT {POS} AS p, generate_subscripts(ws, 1) AS i, unnest(ws) AS w "
            f"FROM (SELECT {POS}, {words(col)} AS ws FROM {src} WHERE {col} IS NOT NULL)"
        )
        con.execute(f"CREATE TABLE {vocab} (w VARCHAR, r VARCHAR)")
        total = con.execute(f"SELECT count(DISTINCT w) FROM {tokens}").fetchall()[0][0]
        reader = con.cursor().sql(f"SELECT DISTINCT w FROM {tokens}").to_arrow_reader(VOCAB_BATCH)
        done, changed = 0, 0
        for batch in reader:
            terms = batch.column(0).to_pylist()
            mapped = self.map_words(terms)
            changed += sum(a != b for a, b in zip(terms, mapped, strict=True))
            insert_rows(ctx, f"{ctx.target}__vocab", {"w": terms, "r": mapped})
            done += len(terms)
            ctx.progress(done, total)
        con.execute(
            f"CREATE VIEW {quote_ident(ctx.target)} AS SELECT s.* REPLACE ("
            f"CASE WHEN s.{col} IS NULL THEN NULL ELSE coalesce(j.t, '') END AS {col}) FROM {src} s LEFT JOIN "
            f"(SELECT t.p, string_agg(v.r, ' ' ORDER BY t.i) AS t FROM {tokens} t JOIN {vocab} v USING (w) "
            f"GROUP BY t.p) j ON j.p = s.{POS}"
        )
        return {"distinct_words": int(total), "words_changed": changed}


class StemConfig(TextConfig):
    method: Literal["stemming", "lemmatization"] = "stemming"

    @field_validator("method")
    @classmethod
    def _no_wordnet(cls, method: str) -> str:
        if method == "lemmatization":
            raise ValueError(
                "method='lemmatization' needs NLTK's WordNet corpus, a download this package does not make; "
                "use method='stemming' (Porter), or lemmatise in a step of your own"
            )
        return method


@functools.cache
def _porter() -> Any:
    import snowballstemmer  # Snowball's implementation of the original Porter algorithm; pure Python, no data

    return snowballstemmer.stemmer("porter")


@register
class StemmingLemmatizationRefiner(WordMapRefiner):
    """Replaces every whitespace-separated word by its lower-cased Porter stem (single spaces between)."""

    Config = StemConfig
    tags = ("refine", "stemming", "normalise")
    dataflow_fidelity = "approximated"
    dataflow_note = (
        "stemming is the original Porter algorithm (snowballstemmer), NLTK's PorterStemmer adds a few extensions "
        "(rare words such as 'dying' differ); method='lemmatization' is refused (needs the WordNet download)"
    )

    def map_words(self, vocab: list[str]) -> list[str]:
        return _porter().stemWords([w.lower() for w in vocab])


class SpellConfig(TextConfig):
    max_edit_distance: int = Field(default=2, ge=0, le=3)
    prefix_length: int = Field(default=7, ge=1, le=12)
    dictionary_path: str = "frequency_dictionary_en_82_765.txt"

    @field_validator("dictionary_path")
    @classmethod
    def _shipped_dictionary(cls, path: str) -> str:
        if path != "frequency_dictionary_en_82_765.txt":
            raise ValueError(
                "only symspellpy's bundled English dictionary (frequency_dictionary_en_82_765.txt) is offered"
            )
        return path


@functools.cache
def _symspell(max_edit_distance: int, prefix_length: int) -> Any:
    from importlib.resources import files

    from symspellpy import SymSpell

    sym = SymSpell(max_dictionary_edit_distance=max_edit_distance, prefix_length=prefix_length)
    dictionary = files("symspellpy") / "frequency_dictionary_en_82_765.txt"  # ships in the wheel: no download
    if not sym.load_dictionary(str(dictionary), term_index=0, count_index=1):
        raise RuntimeError(f"symspellpy's dictionary could not be read at {dictionary}; reinstall symspellpy")
    return sym


@register
class SpellingCorrectionRefiner(WordMapRefiner):
    """Replaces every whitespace-separated word by SymSpell's closest dictionary word (within
    ``max_edit_distance``), or keeps it when there is none; single spaces between words."""

    Config = SpellConfig
    tags = ("refine", "spelling", "normalise")
    dataflow_note = "same SymSpell lookup (CLOSEST) on the same dictionary, which symspellpy ships (no download)"

    def map_words(self, vocab: list[str]) -> list[str]:
        from symspellpy import Verbosity

        c = self.config
        sym = _symspell(c.max_edit_distance, c.prefix_length)
        out = []
        for w in vocab:
            hits = sym.lookup(w, Verbosity.CLOSEST, c.max_edit_distance)
            out.append(hits[0].term if hits else w)
        return out
