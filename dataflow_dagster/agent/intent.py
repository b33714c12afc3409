"""Intent parsing: which data-preparation actions a sentence asks for, in rules, not in the model.

The embedded 135M model cannot be trusted to tell "dedup my corpus" from "Barack Obama was born in
Hawaii", so the actions, the target size, numeric limits and named domains are read with a small
lexicon (English and Chinese). The model only ever chooses among retrieved operators later on.
"""

import re
from dataclasses import dataclass, field

from dataflow_dagster.agent.retrieval import _stem

# action -> trigger words (stems after lower-casing); order in the request is kept.
ACTIONS: dict[str, tuple[str, ...]] = {
    "dedup": ("dedup", "deduplicate", "dedupe", "duplicate", "duplicates", "duplicated", "去重", "重复"),
    "generate": (
        "generate",
        "synthesize",
        "synthesise",
        "create",
        "produce",
        "make",
        "write",
        "augment",
        "caption",
        "生成",
        "合成",
        "构造",
    ),
    "evaluate": (
        "score",
        "rate",
        "judge",
        "grade",
        "evaluate",
        "assess",
        "classify",
        "label",
        "categorize",
        "categorise",
        "tag",
        "评分",
        "打分",
        "评估",
        "分类",
        "标注",
    ),
    "filter": (
        "filter",
        "remove",
        "drop",
        "discard",
        "exclude",
        "clean",
        "keep",
        "strip",
        "过滤",
        "清洗",
        "删除",
        "剔除",
    ),
    "refine": (
        "rewrite",
        "refine",
        "normalize",
        "normalise",
        "paraphrase",
        "fix",
        "translate",
        "transcribe",
        "改写",
        "规范",
        "翻译",
    ),
}
_ACTION_OF = {_stem(w): a for a, words in ACTIONS.items() for w in words}

_NOUNS = (
    "data dataset datasets sample samples row rows record records pair pairs text texts corpus passage "
    "passages document documents example examples question questions answer answers qa sft entry entries "
    "line lines jsonl csv parquet instruction instructions sentence sentences paragraph paragraphs article "
    "articles 数据 样本 语料 文本 问答"
)
DATA_NOUNS = frozenset(_stem(w) for w in _NOUNS.split(" "))

# Domain words whose absence from every operator means the request cannot be served faithfully.
DOMAINS: dict[str, tuple[str, ...]] = {
    "text2sql": ("sql", "text2sql", "text-to-sql", "nl2sql"),
    "code": ("code", "program", "programs", "python", "function", "functions", "代码"),
    "math": ("math", "maths", "mathematics", "arithmetic", "数学"),
    "reasoning": ("cot", "chain-of-thought", "reasoning", "推理"),
    "rag": ("rag", "multi-hop", "multihop", "retrieval"),
    "knowledge": ("knowledge", "kg", "triples", "知识"),
    "image": ("image", "images", "picture", "photo", "photos", "图片", "图像"),
    "audio": ("audio", "speech", "voice", "音频", "语音"),
    "video": ("video", "videos", "视频"),
}
UNSERVABLE = frozenset({"image", "audio", "video"})

KEEP_GOOD = re.compile(
    r"\b(keep|only|retain)\b.*\b(good|best|high|higher|top|above|quality|clear)\b|"
    r"\b(high[- ]quality|above|at least \d+ (?:points|score))\b|保留|高质量",
    re.I,
)
_COUNT = re.compile(
    r"(\d+(?:\.\d+)?)\s*(k|m|thousand|million|万)?\s*(?:[a-z\-]+\s+){0,3}?"
    r"(samples|rows|examples|pairs|records|items|questions|条|个)",
    re.I,
)
_MIN = r"(?:at least|min(?:imum)?|more than|over|no fewer than|>=?)"
_MAX = r"(?:at most|max(?:imum)?|fewer than|less than|under|up to|no more than|<=?)"
_LIMIT = re.compile(rf"({_MIN}|{_MAX})\s*(\d+(?:\.\d+)?)\s*([a-z]+)", re.I)
_DROPPING = re.compile(r"\b(drop|remove|discard|exclude|filter out|delete)\b", re.I)
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
    refusal: str | None = None


def _words(text: str) -> list[str]:
    """Latin words and (for Chinese) every 2-character window, so 去重 inside a sentence is found."""
    out = [_stem(w.lower()) for w in re.findall(r"[A-Za-z][A-Za-z\-]*", text)]
    for run in re.findall(r"[\u4e00-\u9fff]+", text):
        out += [run[i : i + 2] for i in range(max(1, len(run) - 1))]
    return out


def parse_intent(request: str) -> Intent:
    text = request.strip()
    intent = Intent(request=text)
    if not text:
        intent.refusal = "the request is empty; describe the data preparation, e.g. 'remove duplicate texts'"
        return intent
    words = _words(text)
    for w in words:
        action = _ACTION_OF.get(w)
        if action and action not in intent.actions:
            intent.actions.append(action)
    only_generic = not any(
        _ACTION_OF.get(w) == "filter" and w not in ("remove", "drop", "clean", "filter") for w in words
    )
    says_what = re.search(r"\b(empty|short|long|symbol|null|blank|words?|length)\b|空|短", text, re.I)
    # "dedupe and filter X" asks for a filter of its own; "filter out duplicates" does not.
    own_filter = re.search(r"\bfilter(?:ing)?\b(?!\s+(?:out\s+)?(?:the\s+)?(?:duplicat|repeat|dup))", text, re.I)
    if "dedup" in intent.actions and "filter" in intent.actions and only_generic and not says_what and not own_filter:
        intent.actions.remove("filter")  # "remove duplicates" is one action, not a generic filter as well
    lower = text.lower()
    for domain, terms in DOMAINS.items():
        if any(re.search(rf"(?<![a-z]){re.escape(t)}(?![a-z])", lower) if t.isascii() else t in text for t in terms):
            intent.domains.append(domain)
    m = _COUNT.search(text)
    if m:
        mult = {"k": 1_000, "thousand": 1_000, "m": 1_000_000, "million": 1_000_000, "万": 10_000}
        intent.count = int(float(m.group(1)) * mult.get((m.group(2) or "").lower(), 1))
    for m in _LIMIT.finditer(text):
        bound, value, noun = m.groups()
        kind = "min" if re.fullmatch(_MIN, bound.lower()) else "max"
        clause = re.split(r"[,;.]|\band\b", text[: m.start()])[-1]
        if _DROPPING.search(clause):  # "drop texts with fewer than 20 words" keeps >= 20
            kind = "max" if kind == "min" else "min"
        intent.limits.setdefault(_stem(noun.lower()), {})[kind] = float(value)
    p = _PATH.search(text)
    if p:
        intent.data_path = p.group(0)
    intent.keep_good = bool(KEEP_GOOD.search(text)) and "evaluate" in intent.actions
    filter_words = {w for w in words if _ACTION_OF.get(w) == "filter"}
    if intent.keep_good and filter_words <= {"keep", "retain"} and "filter" in intent.actions:
        intent.actions.remove("filter")  # "keep only the good ones" is the score gate, not another filter
    has_data_noun = any(w in DATA_NOUNS for w in words)
    bad_domain = [d for d in intent.domains if d in UNSERVABLE]
    if not intent.actions:
        intent.refusal = (
            "no data-preparation action found (generate, filter, deduplicate, score, classify, "
            "rewrite...); say what to do with which data, e.g. 'remove duplicate and short texts'"
        )
    elif bad_domain:
        intent.refusal = f"the request is about {', '.join(bad_domain)} data; operators here process text tables only"
    elif not has_data_noun and intent.data_path is None:
        intent.refusal = (
            "the request does not say which data to process (texts, samples, QA pairs, a .jsonl "
            "file...); e.g. 'score the QA pairs in data/qa.jsonl'"
        )
    return intent
