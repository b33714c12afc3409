"""Intent parsing: which data-preparation actions a sentence asks for, in rules, not in the model.

The embedded 135M model cannot be trusted to tell "dedup my corpus" from "Barack Obama was born in
Hawaii", so the ordered actions and their limits come from ``decompose`` (clauses and verb classes),
and the target size, data file and named domains from the patterns below (English and Chinese). A
capable model may propose a decomposition of its own (``agent.model_plan``); this is the fallback.
"""

import re
from dataclasses import dataclass, field

from dataflow_dagster.agent.decompose import Clause, decompose
from dataflow_dagster.agent.retrieval import _stem

_NOUNS = (
    "data dataset datasets sample samples row rows record records pair pairs text texts corpus passage "
    "passages document documents example examples question questions answer answers qa sft entry entries "
    "line lines jsonl csv parquet instruction instructions sentence sentences paragraph paragraphs article "
    "articles problem problems function functions code snippet snippets program programs table tables headline "
    "headlines news file files corpus dialogue dialogues conversation conversations message messages post posts "
    "review reviews comment comments response responses prompt prompts output outputs solution solutions task tasks "
    "doc docs query queries item items review 数据 样本 语料 文本 问答 句子 段落 文档 题目 代码"
)
DATA_NOUNS = frozenset(_stem(w) for w in _NOUNS.split(" "))

# Domain words whose absence from every operator means the request cannot be served faithfully.
DOMAINS: dict[str, tuple[str, ...]] = {
    "text2sql": ("sql", "text2sql", "text-to-sql", "nl2sql"),
    "code": ("code", "program", "programs", "python", "function", "functions", "snippet", "snippets", "代码"),
    "math": (
        "math",
        "maths",
        "mathematics",
        "arithmetic",
        "algebra",
        "geometry",
        "calculus",
        "gsm8k",
        "equation",
        "equations",
        "数学",
    ),
    "reasoning": ("cot", "chain-of-thought", "reasoning", "推理"),
    "rag": ("rag", "multi-hop", "multihop", "two-hop", "retrieval"),
    "knowledge": ("knowledge", "kg", "triples", "知识"),
    "image": (
        "image",
        "images",
        "picture",
        "pictures",
        "photo",
        "photos",
        "png",
        "jpg",
        "jpeg",
        "图片",
        "图像",
        "照片",
    ),
    "audio": (
        "audio",
        "speech",
        "voice",
        "podcast",
        "podcasts",
        "mp3",
        "wav",
        "flac",
        "transcribe",
        "音频",
        "语音",
        "录音",
    ),
    "video": ("video", "videos", "mp4", "footage", "视频"),
}
UNSERVABLE = frozenset({"image", "audio", "video"})

_COUNT = re.compile(
    r"(?<![0-9A-Za-z.,-])(\d+(?:[.,]\d+)?)\s*(k|m|thousand|million|万|千)?(?![0-9A-Za-z-])\s*(条|个)?", re.I
)
_PER = re.compile(r"^(?:per|each|every|for)$", re.I)  # "5 solutions per problem" is not a total
# a setting named with its value: "threshold 0.8", "similarity threshold of 0.9", "temperature=0.7"
_SETTING = re.compile(
    r"\b(threshold|temperature|num[ _]perm|ngram|top[ _-]?k|seed)\s*(?:of|=|:|to|at)?\s*(\d+(?:\.\d+)?)", re.I
)
_PATH = re.compile(r"[\w./\\-]+\.(?:jsonl|json|csv|parquet|ndjson)\b")


@dataclass
class Intent:
    request: str
    actions: list[str] = field(default_factory=list)
    count: int | None = None
    data_path: str | None = None
    domains: list[str] = field(default_factory=list)
    limits: dict[str, dict[str, float]] = field(default_factory=dict)  # noun stem -> {"min"/"max": value}
    keep_good: bool = False
    clauses: list[Clause] = field(default_factory=list)  # the request's transformations, in order
    refusal: str | None = None
    settings: dict[str, float] = field(default_factory=dict)  # "threshold 0.8", "temperature of 0.7"
    unnamed_data: bool = False  # refused only because no data noun was found (a column name may still say it)


def _words(text: str) -> list[str]:
    """Latin words and (for Chinese) every 2-character window, so 去重 inside a sentence is found."""
    out = [_stem(w.lower()) for w in re.findall(r"[A-Za-z][A-Za-z\-]*", text)]
    for run in re.findall(r"[\u4e00-\u9fff]+", text):
        out += [run[i : i + 2] for i in range(max(1, len(run) - 1))]
    return out


def _count(text: str) -> int | None:
    """The total number of output rows asked for ("5K samples", "2,000 QA pairs", "1k function-calling
    dialogues", "1000条"): a number followed, within four words, by a data noun, and not by
    "per"/"each" first (that is a per-row count)."""
    mult = {"k": 1_000, "thousand": 1_000, "m": 1_000_000, "million": 1_000_000, "万": 10_000, "千": 1_000}
    for m in _COUNT.finditer(text):
        value = int(float(m.group(1).replace(",", "")) * mult.get((m.group(2) or "").lower(), 1))
        if m.group(3):
            return value
        words = re.findall(r"[A-Za-z][A-Za-z\-]*", text[m.end() :])
        for i, word in enumerate(words[:4]):
            if _PER.match(word):
                break
            if any(_stem(w) in DATA_NOUNS for w in (word.lower(), word.lower().split("-")[-1])):
                if not any(_PER.match(w) and w.lower() != "for" for w in words[i + 1 : i + 3]):
                    return value
                break
    return None


def parse_intent(request: str) -> Intent:
    text = request.strip()
    intent = Intent(request=text)
    if not text:
        intent.refusal = "the request is empty; describe the data preparation, e.g. 'remove duplicate texts'"
        return intent
    words = _words(text)
    intent.clauses = decompose(text)
    for c in intent.clauses:
        if c.slot not in ("threshold", "check") and c.slot not in intent.actions:
            intent.actions.append(c.slot)
        for noun, bounds in c.limits.items():
            intent.limits.setdefault(noun, {}).update(bounds)
    intent.keep_good = any(c.slot == "threshold" for c in intent.clauses)
    if not intent.actions and any(c.slot == "check" for c in intent.clauses):
        intent.actions.append("filter")
    lower = text.lower()
    for domain, terms in DOMAINS.items():
        if any(re.search(rf"(?<![a-z]){re.escape(t)}(?![a-z])", lower) if t.isascii() else t in text for t in terms):
            intent.domains.append(domain)
    intent.count = _count(text)
    intent.settings = {
        m.group(1).lower().replace(" ", "_").replace("-", "_"): float(m.group(2)) for m in _SETTING.finditer(text)
    }
    p = _PATH.search(text)
    if p:
        intent.data_path = p.group(0)
    # a named data domain ("math", "SQL", "数学") says what data is meant as well as a noun would
    has_data_noun = any(w in DATA_NOUNS for w in words) or any(d not in UNSERVABLE for d in intent.domains)
    bad_domain = [d for d in intent.domains if d in UNSERVABLE]
    if not intent.actions:
        intent.refusal = (
            "no data-preparation action found (generate, filter, deduplicate, score, classify, "
            "rewrite...); say what to do with which data, e.g. 'remove duplicate and short texts'"
        )
    elif bad_domain:
        intent.refusal = f"the request is about {', '.join(bad_domain)} data; operators here process text tables only"
    elif not has_data_noun and intent.data_path is None:
        intent.unnamed_data = True
        intent.refusal = (
            "the request does not say which data to process (texts, samples, QA pairs, a .jsonl "
            "file...); e.g. 'score the QA pairs in data/qa.jsonl'"
        )
    return intent
