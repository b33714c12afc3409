"""Lexical diversity (MTLD, HD-D) and n-gram repetition filters, vectorised over token batches.

DuckDB tokenises (``str.split``, punctuation stripped, lower-cased, as DataFlow's scorers do);
numpy scores a whole batch at once from dictionary-encoded token ids:
  * n-gram repetition: a rolling hash over token ids, distinct (document, n-gram) pairs counted;
  * HD-D: per-document type counts and the hypergeometric term from a log-factorial table;
  * MTLD: its sequential factor count runs in lockstep across all documents of the batch (one
    numpy step per token position); the few very long documents left when most are done switch to
    a per-segment search that jumps from one factor boundary to the next.
Texts too short for a metric get NULL, and NULL passes the filter, as in DataFlow.
"""

from typing import ClassVar, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from operators.core.contract import DataflowKey
from operators.core.dataflow_names import LEXICAL_KEYS
from operators.core.registry import register
from operators.core.sql_ops import TextConfig
from operators.general_text.base import BatchMetricFilter
from operators.general_text.textsql import PUNCT, WORD_CLASS, WS, WS_CLASS, lit, words

_LOGFACT = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, 1001, dtype=np.float64)))])


def encode_lists(tokens: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Token ids (flat) and offsets of a list<string> array; NULL lists count as empty."""
    tokens = pc.fill_null(tokens, pa.scalar([], type=tokens.type))
    lists = tokens.cast(pa.large_list(pa.large_string()))
    offsets = lists.offsets.to_numpy().astype(np.int64)
    offsets = offsets - offsets[0]
    flat = lists.flatten()
    codes = (
        pc.dictionary_encode(flat).indices.to_numpy(zero_copy_only=False).astype(np.int64)
        if len(flat)
        else np.zeros(0, dtype=np.int64)
    )
    return codes, offsets


def _prev_occurrence(codes: np.ndarray, doc: np.ndarray) -> np.ndarray:
    """For each token, the flat index of the previous same token in the same document, else -1."""
    key = doc * (int(codes.max()) + 1 if codes.size else 1) + codes
    order = np.argsort(key, kind="stable")
    ks = key[order]
    prev_sorted = np.full(len(order), -1, dtype=np.int64)
    same = np.zeros(len(order), dtype=bool)
    same[1:] = ks[1:] == ks[:-1]
    prev_sorted[same] = order[np.flatnonzero(same) - 1]
    prev = np.empty_like(prev_sorted)
    prev[order] = prev_sorted
    return prev


def _mtld_one_direction(codes: np.ndarray, offsets: np.ndarray, thr: float, tail: int = 8) -> np.ndarray:
    lengths = np.diff(offsets)
    n_docs = len(lengths)
    doc = np.repeat(np.arange(n_docs), lengths)
    prev = _prev_occurrence(codes, doc)
    order = np.argsort(-lengths, kind="stable")  # longest first: active documents are a prefix
    starts, lens = offsets[:-1][order], lengths[order]
    seg = starts.copy()
    types = np.zeros(n_docs, dtype=np.int64)
    toks = np.zeros(n_docs, dtype=np.int64)
    factors = np.zeros(n_docs, dtype=np.float64)
    k = 0
    while True:
        m = int(np.searchsorted(-lens, -k, side="left"))  # documents with length > k
        if m <= tail:
            break
        i = starts[:m] + k
        new = prev[i] < seg[:m]
        types[:m] += new
        toks[:m] += 1
        hit = types[:m] / toks[:m] <= thr
        factors[:m] += hit
        types[:m][hit] = 0
        toks[:m][hit] = 0
        seg[:m][hit] = i[hit] + 1
        k += 1
    # long tail: jump from factor boundary to factor boundary per document
    for j in range(int((lens > k).sum())):
        end = starts[j] + lens[j]
        pos = starts[j] + k
        s, ty, to = seg[j], types[j], toks[j]
        while pos < end:
            window = 64
            while True:
                stop = min(pos + window, end)
                new = (prev[pos:stop] < s).astype(np.int64)
                t_cum = ty + np.cumsum(new)
                n_cum = to + np.arange(1, stop - pos + 1)
                hits = np.flatnonzero(t_cum / n_cum <= thr)
                if hits.size or stop == end:
                    break
                window *= 4
            if hits.size:
                h = int(hits[0])
                factors[j] += 1
                pos = pos + h + 1
                s, ty, to = pos, 0, 0
            else:
                ty, to = int(t_cum[-1]), int(n_cum[-1])
                pos = end
        types[j], toks[j] = ty, to
    ttr = np.where(toks > 0, types / np.maximum(toks, 1), 1.0)
    factors += (1.0 - ttr) / (1.0 - thr)
    out_sorted = np.where(factors != 0, lens / np.where(factors != 0, factors, 1), -1.0)
    out = np.empty(n_docs, dtype=np.float64)
    out[order] = out_sorted
    return out


def mtld(codes: np.ndarray, offsets: np.ndarray, thr: float = 0.72) -> np.ndarray:
    """MTLD per document (mean of forward and backward passes); NaN for 50 tokens or fewer."""
    lengths = np.diff(offsets)
    out = np.full(len(lengths), np.nan)
    ok = np.flatnonzero(lengths > 50)
    if ok.size == 0:
        return out
    sel_off = np.zeros(ok.size + 1, dtype=np.int64)
    np.cumsum(lengths[ok], out=sel_off[1:])
    idx = np.repeat(offsets[:-1][ok] - sel_off[:-1], lengths[ok]) + np.arange(sel_off[-1])
    fwd_codes = codes[idx]
    # reversed token order within each document
    pos_in_doc = np.arange(sel_off[-1]) - np.repeat(sel_off[:-1], lengths[ok])
    rev_idx = np.repeat(sel_off[1:] - 1, lengths[ok]) - pos_in_doc
    fwd = _mtld_one_direction(fwd_codes, sel_off, thr)
    bwd = _mtld_one_direction(fwd_codes[rev_idx], sel_off, thr)
    out[ok] = (fwd + bwd) / 2
    return out


def hdd(codes: np.ndarray, offsets: np.ndarray, sample: int = 42) -> np.ndarray:
    """HD-D per document; NaN unless 50 < tokens < 1000."""
    lengths = np.diff(offsets)
    out = np.full(len(lengths), np.nan)
    doc = np.repeat(np.arange(len(lengths)), lengths)
    ok_tok = (lengths[doc] > 50) & (lengths[doc] < 1000)
    if not ok_tok.any():
        return out
    d, c = doc[ok_tok], codes[ok_tok]
    keys, counts = np.unique(d * (int(c.max()) + 1) + c, return_counts=True)
    kd = keys // (int(c.max()) + 1)
    n = lengths[kd]
    absent = n - counts  # population without this type
    log_p0 = (
        _LOGFACT[np.maximum(absent, 0)] - _LOGFACT[np.maximum(absent - sample, 0)] - _LOGFACT[n] + _LOGFACT[n - sample]
    )
    p0 = np.where(absent >= sample, np.exp(log_p0), 0.0)
    sums = np.bincount(kd, weights=(1.0 - p0) / sample, minlength=len(lengths))
    has = (lengths > 50) & (lengths < 1000)
    out[has] = sums[has]
    return out


class LexicalDiversityConfig(TextConfig):
    dataflow_keys: ClassVar[dict[str, DataflowKey]] = LEXICAL_KEYS
    min_mtld: float = 50
    max_mtld: float = 99999
    min_hdd: float = 0.8
    max_hdd: float = 1.0


@register
class LexicalDiversityFilter(BatchMetricFilter):
    """Keeps texts whose MTLD and HD-D lie within bounds; texts too short to score pass (NULL)."""

    Config = LexicalDiversityConfig
    rejects_empty = False
    tags = ("diversity", "quality", "pretrain")
    metric_types: ClassVar[dict[str, str]] = {"mtld": "DOUBLE", "hdd": "DOUBLE"}

    def input_sql(self) -> str:
        return f"list_transform({words(self.col())}, lambda w: lower(regexp_replace(w, {lit(PUNCT)}, '', 'g')))"

    def compute(self, batch: pa.RecordBatch) -> dict[str, np.ndarray]:
        codes, offsets = encode_lists(batch.column(1))
        return {"mtld": mtld(codes, offsets), "hdd": hdd(codes, offsets)}

    def keep_sql(self, m: dict[str, str]) -> str:
        c = self.config
        return (
            f"({m['mtld']} IS NULL OR isnan({m['mtld']}) OR {m['mtld']} BETWEEN {c.min_mtld!r} AND {c.max_mtld!r})"
            f" AND ({m['hdd']} IS NULL OR isnan({m['hdd']}) OR {m['hdd']} BETWEEN {c.min_hdd!r} AND {c.max_hdd!r})"
        )


class NgramConfig(TextConfig):
    min_score: float = 0.8
    max_score: float = 1.0
    ngrams: int = 5
    language: Literal["en", "zh"] = "en"


@register
class NgramFilter(BatchMetricFilter):
    """Keeps texts whose distinct n-grams / n-grams lies in [min_score, max_score] (repetition filter).

    Words for 'en' (lower-cased, punctuation removed), characters for 'zh'; texts with fewer than
    n tokens score 0.
    """

    Config = NgramConfig
    rejects_empty = False
    tags = ("repetition", "quality", "pretrain")
    metric_types: ClassVar[dict[str, str]] = {"ngram_score": "DOUBLE"}

    def input_sql(self) -> str:
        clean = f"regexp_replace(lower({self.col()}), '[^{WORD_CLASS}{WS_CLASS}]', '', 'g')"
        if self.config.language == "zh":
            return f"string_split(regexp_replace({clean}, '{WS}+', '', 'g'), '')"
        return words(clean)

    def compute(self, batch: pa.RecordBatch) -> dict[str, np.ndarray]:
        codes, offsets = encode_lists(batch.column(1))
        n = int(self.config.ngrams)
        lengths = np.diff(offsets)
        grams = np.maximum(lengths - n + 1, 0)
        total = len(codes)
        h = np.zeros(total, dtype=np.uint64)
        with np.errstate(over="ignore"):
            for k in range(n):
                view = h[: total - k]
                np.multiply(view, np.uint64(0x9E3779B97F4A7C15), out=view)
                np.add(view, codes[k:].astype(np.uint64) + np.uint64(1), out=view)
        valid = np.ones(total, dtype=bool)
        for k in range(1, n):
            tails = offsets[1:] - k
            valid[tails[(tails >= offsets[:-1]) & (tails >= 0)]] = False
        doc = np.repeat(np.arange(len(lengths)), lengths)[valid]
        hv = h[valid]
        distinct = np.zeros(len(lengths), dtype=np.int64)
        if hv.size:
            pairs = np.unique(np.stack([doc.astype(np.uint64), hv], axis=1), axis=0)
            distinct = np.bincount(pairs[:, 0].astype(np.int64), minlength=len(lengths))
        score = np.where(grams > 0, distinct / np.maximum(grams, 1), 0.0)
        return {"ngram_score": score}

    def keep_sql(self, m: dict[str, str]) -> str:
        c = self.config
        return f"{m['ngram_score']} >= {c.min_score!r} AND {m['ngram_score']} <= {c.max_score!r}"
