"""BM25 retrieval over the operator registry's descriptions.

Hand-written over numpy instead of ``bm25s`` for two reasons: the corpus is the registry (tens to a
few hundred short documents, so a dense numpy matrix is instant), and requests arrive in Chinese as
well as English: the tokenizer below emits CJK character bigrams and splits CamelCase operator names
(``PassageQAGenerator`` -> passage, qa, generator), which bm25s's word regex does not.
"""

import re
from dataclasses import dataclass

import numpy as np

from operators.core.contract import Operator

_WORD = re.compile(r"[A-Za-z][a-z]+|[A-Z]+(?![a-z])|\d+|[\u4e00-\u9fff]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")

_STOP = (
    "a an the and or of to in on for with by from into per as at is are be it its this that these those "
    "each every all my our your their i we you me please can could would should will some any which "
    "then than so do does using use via want need"
)
STOPWORDS = frozenset(_STOP.split(" "))

# Words users write -> words operator docs use. Kept small and generic (no operator names).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "duplicate": ("dedup", "duplicates"),
    "duplicates": ("dedup",),
    "deduplicate": ("dedup",),
    "dedupe": ("dedup",),
    "unique": ("dedup",),
    "repeated": ("dedup",),
    "short": ("length", "words"),
    "long": ("length", "words"),
    "length": ("words",),
    "empty": ("null",),
    "blank": ("null",),
    "missing": ("null",),
    "score": ("judge", "rate", "score"),
    "rate": ("score", "judge"),
    "grade": ("score", "judge"),
    "judge": ("score",),
    "quality": ("score", "judge"),
    "assess": ("score",),
    "evaluate": ("score", "judge"),
    "classify": ("label", "topic"),
    "categorize": ("label", "topic"),
    "category": ("topic",),
    "subject": ("topic",),
    "label": ("classify",),
    "question": ("qa",),
    "questions": ("qa",),
    "answer": ("qa",),
    "answers": ("qa",),
    "pairs": ("qa",),
    "passage": ("passages", "text"),
    "passages": ("passage",),
    "symbols": ("symbol",),
    "hashtags": ("symbol",),
    "ellipsis": ("symbol",),
    "threshold": ("score",),
    "sql": ("text2sql",),
    "text2sql": ("sql",),
    "cot": ("reasoning",),
    "math": ("reasoning",),
    "code": ("code",),
    "pretraining": ("pretrain",),
    "pretrain": ("pretrain",),
    # language names say "language" (the operators' word)
    **{lang: ("language",) for lang in ("english", "chinese", "french", "german", "spanish", "japanese", "korean")},
    "normalize": ("normalizes", "normalization"),
    "normalise": ("normalizes", "normalization"),
    "privacy": ("pii",),
    "personal": ("pii",),
    "email": ("pii",),
    "emails": ("pii",),
    "phone": ("pii",),
    "whitespace": ("spaces",),
    "link": ("url",),
    "links": ("url",),
    "urls": ("url",),
    "markup": ("html",),
    "tags": ("html",),
    "diverse": ("diversity",),
    "varied": ("diversity",),
    "educational": ("education", "edu"),
    # Chinese request words
    "隐私": ("pii",),
    "个人": ("pii",),
    "邮箱": ("pii",),
    "电话": ("pii",),
    "空格": ("spaces", "whitespace"),
    "多余": ("extra",),
    "链接": ("url",),
    "网址": ("url",),
    "标签": ("html",),
    "英文": ("english", "language"),
    "中文": ("chinese", "language"),
    "语言": ("language",),
    "困惑": ("perplexity",),
    "质量": ("quality", "score"),
    "表情": ("emoji",),
    "标点": ("punctuation",),
    "多样": ("diversity",),
    "去重": ("dedup",),
    "重复": ("dedup",),
    "过滤": ("filter",),
    "生成": ("generate",),
    "评分": ("score",),
    "打分": ("score",),
    "问答": ("qa",),
    "分类": ("classify", "topic"),
    "清洗": ("clean", "filter"),
    "符号": ("symbol",),
    "长度": ("length", "words"),
    "空白": ("null",),
}


# Words that say "filter something" without saying what; they do not distinguish one filter from another.
GENERIC = frozenset(
    {
        "text",
        "drop",
        "remov",
        "remove",
        "filter",
        "keep",
        "out",
        "row",
        "data",
        "clean",
        "discard",
        "exclud",
        "delet",
        "full",
        "fewer",
        "more",
        "less",
        "than",
        "rule",
        "general",
        "passag",
        "passage",
        "corpu",
        "sample",
        "record",
        "entri",
        "entry",
        "document",
    }
)


def _stem(w: str) -> str:
    if len(w) > 8 and w.endswith("ional"):  # educational -> education, conditional -> condition
        return w[:-2]
    for suf in ("ing", "ed", "es", "s"):
        if len(w) > len(suf) + 3 and w.endswith(suf):
            return w[: -len(suf)]
    return w


def tokenize(text: str, expand: bool = False) -> list[str]:
    """Lower-case word stems, CamelCase split, CJK runs as character bigrams (+ synonyms if asked)."""
    out: list[str] = []
    for raw in _WORD.findall(_CAMEL.sub(" ", text.replace("_", " "))):
        if "\u4e00" <= raw[0] <= "\u9fff":
            grams = [raw[i : i + 2] for i in range(max(1, len(raw) - 1))]
            out += grams
            if expand:
                out += [s for g in grams for s in SYNONYMS.get(g, ())]
            continue
        w = raw.lower()
        if w in STOPWORDS or len(w) < 2:
            continue
        out.append(_stem(w))
        if expand:
            out += [_stem(s) for s in SYNONYMS.get(w, ())]
    return out


def operator_document(cls: type[Operator]) -> str:
    """What retrieval sees of an operator: name, kind, domain, tags, docstring, config field names."""
    fields = " ".join(cls.Config.model_fields)
    prompt = cls.default_prompt.template if cls.default_prompt is not None else ""
    return " ".join(
        [
            cls.name,
            str(cls.kind),
            cls.domain,
            *cls.tags,
            (cls.__doc__ or ""),
            fields,
            prompt,
            "llm" if cls.default_prompt is not None else "rule",
        ]
    )


@dataclass
class BM25:
    """Okapi BM25 over a fixed corpus (k1=1.5, b=0.75, Lucene idf)."""

    docs: list[list[str]]
    k1: float = 1.5
    b: float = 0.75

    def __post_init__(self) -> None:
        vocab = sorted({t for d in self.docs for t in d})
        self.index = {t: i for i, t in enumerate(vocab)}
        tf = np.zeros((len(self.docs), len(vocab)), dtype=np.float64)
        for r, d in enumerate(self.docs):
            for t in d:
                tf[r, self.index[t]] += 1
        lengths = tf.sum(axis=1)
        avg = lengths.mean() if len(lengths) else 1.0
        df = (tf > 0).sum(axis=0)
        n = len(self.docs)
        self.idf = np.log(1 + (n - df + 0.5) / (df + 0.5))
        denom = tf + self.k1 * (1 - self.b + self.b * (lengths[:, None] / max(avg, 1e-9)))
        self.weights = tf * (self.k1 + 1) / np.where(denom == 0, 1, denom) * self.idf

    def scores(self, query: list[str]) -> np.ndarray:
        cols = [self.index[t] for t in query if t in self.index]
        if not cols:
            return np.zeros(len(self.docs))
        return self.weights[:, cols].sum(axis=1)

    def known(self, token: str) -> bool:
        return token in self.index


class OperatorIndex:
    """BM25 index over a set of registered operators."""

    def __init__(self, operators: dict[str, type[Operator]]) -> None:
        self.names = list(operators)
        self.classes = operators
        self.bm25 = BM25([tokenize(operator_document(operators[n])) for n in self.names])

    def rank(self, query: str, kinds: set[str] | None = None, limit: int = 10) -> list[tuple[str, float]]:
        scores = self.bm25.scores(tokenize(query, expand=True))
        order = np.argsort(-scores, kind="stable")
        out = []
        for i in order:
            name = self.names[int(i)]
            if scores[i] <= 0:
                break
            if kinds is not None and str(self.classes[name].kind) not in kinds:
                continue
            out.append((name, float(scores[i])))
            if len(out) >= limit:
                break
        return out

    def scores_for(self, tokens: list[str]) -> dict[str, float]:
        """Scores for already tokenized query terms (no expansion), by operator name."""
        return dict(zip(self.names, (float(x) for x in self.bm25.scores(tokens)), strict=True))

    def covers(self, token: str) -> bool:
        return self.bm25.known(_stem(token.lower()))
