"""Request -> ordered actions: clauses, the verb class of each, and what each clause says to keep or drop.

A request is a sequence of data transformations joined by "then", "and", commas, "before"/"after" or
their Chinese equivalents. Each clause is classified by its verb (a general English/Chinese verb
lexicon: generation, evaluation, removal/keeping, deduplication, rewriting; nominal forms such as
"removal" or "deduplication" as well), and a clause without a verb ("... and anything shorter than 5
words") inherits the verb of the clause before it, so a removal verb governs every target listed
after it. Numeric limits are read per clause with the polarity of that clause's verb ("drop texts
shorter than 5 words" keeps >= 5 words). Which *operator* serves a clause is not decided here: the
planner ranks the registry's own metadata against the clause's words.
"""

import re
from dataclasses import dataclass, field

from dataflow_dagster.agent.retrieval import _stem
from dataflow_dagster.agent.rule_conditions import iso_dates

# slot -> verbs (base forms and common inflections are matched through _stem); general vocabulary.
VERBS: dict[str, tuple[str, ...]] = {
    "generate": [
        "generate",
        "synthesize",
        "synthesise",
        "create",
        "produce",
        "make",
        "write",
        "augment",
        "caption",
        "build",
        "compose",
        "draft",
        "construct",
        "derive",
        "extract",
        "solve",
        "answer",
        "expand",
        "invent",
        "formulate",
        "propose",
        "craft",
        "sample",
        "describe",
        "explain",
        "chunk",
        "split",
        "segment",
        "parse",
        "ingest",
        "生成",
        "合成",
        "构造",
        "编写",
        "解答",
        "求解",
        "解题",
        "作答",
        "写",
    ],
    "evaluate": [
        "compute",
        "calculate",
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
        "annotate",
        "measure",
        "rank",
        "estimate",
        "detect",
        "identify",
        "check",
        "verify",
        "评分",
        "打分",
        "评估",
        "分类",
        "标注",
        "评价",
    ],
    "remove": [
        "filter",
        "remove",
        "drop",
        "discard",
        "exclude",
        "delete",
        "eliminate",
        "purge",
        "prune",
        "strip",
        "reject",
        "skip",
        "toss",
        "clean",
        "cull",
        "ditch",
        "omit",
        "过滤",
        "清洗",
        "删除",
        "剔除",
        "去掉",
        "去除",
        "清理",
        "删掉",
        "丢掉",
        "扔掉",
        "过滤掉",
    ],
    "keep": ["keep", "retain", "preserve", "select", "only", "pick", "choose", "保留", "筛选", "挑选"],
    "dedup": ["dedup", "dedupe", "deduplicate", "去重"],
    "refine": [
        "anonymize",
        "anonymise",
        "mask",
        "redact",
        "lowercase",
        "rewrite",
        "refine",
        "normalize",
        "normalise",
        "paraphrase",
        "fix",
        "translate",
        "transcribe",
        "polish",
        "simplify",
        "improve",
        "correct",
        "edit",
        "reformat",
        "summarize",
        "summarise",
        "改写",
        "规范",
        "翻译",
        "润色",
    ],
}
# multi-word verbs, checked before single words
PHRASES: tuple[tuple[str, str], ...] = (
    (r"get rid of|throw (?:away|out)|weed out|filter out|leave out|cut out|clean up|take out", "remove"),
    (r"come up with|turn (?:\w+ ){0,5}into|convert (?:\w+ ){0,5}into|put together", "generate"),
    (r"only keep|keep only|hold on to|filter (?:\w+ ){0,3}?(?:down )?to|narrow (?:\w+ ){0,3}?down to", "keep"),
)
# nominal forms: "near-duplicate removal", "QA generation"
NOUN_FORMS = {
    "removal": "remove",
    "filtering": "remove",
    "cleaning": "remove",
    "deduplication": "dedup",
    "dedup": "dedup",
    "generation": "generate",
    "synthesis": "generate",
    "extraction": "generate",
    "scoring": "evaluate",
    "classification": "evaluate",
    "evaluation": "evaluate",
    "annotation": "evaluate",
    "labeling": "evaluate",
    "labelling": "evaluate",
    "rewriting": "refine",
    "translation": "refine",
    "normalization": "refine",
}
# a removal aimed at these is deduplication
DEDUP_TARGET = re.compile(
    r"duplicat\w*|\bdup(?:e|es|s)?\b|repeat\w*|redundan\w*|identical|\bunique\b|minhash|simhash|"
    r"\bsame (?:text|row|passage|document)s?\b|重复",
    re.I,
)
# what a removal takes out of each text rather than out of the data ("strip URLs", "清理多余的空格")
SUBTEXT = re.compile(
    r"\b(?:urls?|links?|hyperlinks?|html|tags|markup|emojis?|emoticons?|whitespace|spaces|punctuation|"
    r"stop ?words|digits|numbers|citations?|contractions|image (?:refs?|references|links))\b|"
    r"空格|空白字符|链接|网址|标签|表情|标点",
    re.I,
)
# ... unless the clause removes rows that contain it ("drop passages with URLs", "去掉包含邮箱的样本")
ROWS_WITH = re.compile(
    r"\b(?:texts?|passages?|documents?|docs?|rows?|samples?|entries|records?|pages?|articles?|files?|examples?|"
    r"lines?|items?|ones|those|anything|instructions?|questions?|answers?|pairs?|responses?|prompts?|"
    r"conversations?|dialogues?|chats?|snippets?|functions?|headlines?|posts?|reviews?|comments?)\b\s+"
    r"(?:\w+\s+){0,2}?(?:with|containing|that|which|having|where|whose|carrying|holding|including)\b|"
    r"\btoo (?:many|much|few)\b|"
    r"的(?:样本|文本|数据|条目|行)",
    re.I,
)
# a keep/remove clause after a scoring clause that speaks of quality is the score gate
QUALITY = re.compile(
    r"\b(good|better|best|high|higher|highest|top|strong|excellent|great|weak|low|lower|lowest|bad|worse|"
    r"worst|poor|poorly|quality|scor\w*|rated|mediocre|threshold)\b|高质量|低质量|高分|低分|好的|差的",
    re.I,
)
# conditions that name a check, not a column: "keep only code that passes", "answers that agree"
CHECK = re.compile(r"\b(pass(?:es|ed|ing)?|execut\w*|succe\w*|agree\w*|consisten\w*|verif\w*|correct)\b", re.I)

_MIN = r"(?:at least|min(?:imum)?|more than|longer than|over|above|no fewer than|no less than|>=?)"
_MAX = r"(?:at most|max(?:imum)?|fewer than|less than|shorter than|under|below|up to|no more than|<=?)"
_LIMIT = re.compile(rf"({_MIN}|{_MAX})\s*(\d+(?:\.\d+)?)\s*([a-z]+)?", re.I)
# "6 or above", "8 and up", "4+" are "at least 6/8/4"; "5 or fewer", "3 and below" are "at most 5/3"
# (rewritten before splitting, so "and"/"or" do not cut the bound in two)
_OR_MORE = re.compile(
    r"(?<![\w.])(\d+(?:\.\d+)?)(?:\s*\+|\s+or (?:above|more|higher|greater|better)\b|\s+and (?:up|above|higher)\b)",
    re.I,
)
_OR_LESS = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s+(?:or (?:below|less|fewer|lower)|and (?:below|under))\b", re.I)
_SCORE_BOUND = re.compile(
    r"\s*(?:scor\w*|rat(?:ed|ing)s?)\s+(?:of\s+)?(?:at least|at most|above|below|over|under|>=?|<=?)\b", re.I
)
_UNIT_WORDS = "word char character sentence line token paragraph byte letter digit symbol"
UNITS = frozenset(_stem(u + s) for u in _UNIT_WORDS.split(" ") for s in ("", "s"))
_BARE_WORDS = "anything everything goes go ones those them it is are gets get out cut dropped removed"
_BARE = frozenset(_BARE_WORDS.split(" "))
_ZH_MIN, _ZH_MAX = "至少|不少于|多于|大于|超过|高于", "少于|小于|低于|不足|不超过|至多|最多"
_ZH_LIMIT = re.compile(rf"({_ZH_MIN}|{_ZH_MAX})\s*(\d+(?:\.\d+)?)\s*个?\s*(字符|词|字|句|行)")
_ZH_NOUN = {"词": "word", "字": "char", "字符": "char", "句": "sentence", "行": "line"}

_SPLIT = re.compile(
    r"\s*(?:[;\uff1b\u3002]|,\s*(?:and\s+)?then\b|\band then\b|\bthen\b|\bafter that\b|\bfinally\b|\bnext\b|"
    r",\s*and\b|,|\uff0c|\u3001|\band\b|\bor\b|\bbefore\b(?!\s+\d{4}-\d\d-\d\d)|然后|之后|接着|再|并且|并|和)\s*",
    re.I,
)
# a quoted value or a parenthesised aside ("(emails, phone numbers)", full-width too) is never split
_QUOTED = re.compile(r"\"[^\"]*\"|“[^”]*”|(?<!\w)'[^']{1,40}'(?!\w)|\([^()]*\)|\uff08[^\uff08\uff09]*\uff09")
_DATE_RANGE = re.compile(r"\bbetween\s+(\d{4}-\d\d-\d\d)\s+and\s+(\d{4}-\d\d-\d\d)", re.I)
_AFTER = re.compile(r"^(.+?)\s+\bafter\b\s+(?!\d{4}-\d\d-\d\d)(.+)$|^\s*after\s+([^,]+),\s*(.+)$", re.I)


@dataclass
class Clause:
    text: str
    slot: str  # generate | evaluate | filter | dedup | refine | threshold | check
    verb: str  # the word that decided the slot ("inherited" when it came from the clause before)
    polarity: str = "remove"  # for filters: does the clause say what to remove or what to keep
    limits: dict[str, dict[str, float]] = field(default_factory=dict)


# verbs that choose a kind but say nothing about the operator; a rewrite verb ("summarize",
# "normalize") names the operation itself, so it stays a retrieval word
_VERB_WORDS = frozenset(
    _stem(v) for slot, verbs in VERBS.items() if slot != "refine" for v in verbs if v.isascii()
) | frozenset(NOUN_FORMS)


# function words that occur in many operator docstrings but never say which operator is meant
_FUNCTION_WORDS = frozenset(
    "not no non too many much very ones one them those these it its how what whose".split()  # noqa: SIM905
)


def object_stop() -> frozenset[str]:
    """Verb stems and nominal verb forms: they chose the clause's kind, not its operator."""
    return _VERB_WORDS | _FUNCTION_WORDS


def object_words(text: str) -> list[str]:
    """A clause's retrieval words without its verbs and generic words: what the clause acts on, and how."""
    from dataflow_dagster.agent.retrieval import GENERIC, tokenize

    return [t for t in tokenize(text, expand=True) if t not in GENERIC and t not in object_stop()]


def _verb(piece: str) -> tuple[str, str] | None:
    low = piece.lower()
    for pattern, slot in PHRASES:
        m = re.search(rf"\b(?:{pattern})\b", low)
        if m:
            return slot, m.group(0)
    for raw in re.findall(r"[a-z][a-z\-]*", low):
        w = raw.split("-")[-1]
        for slot, verbs in VERBS.items():
            if w in verbs or _stem(w) in verbs or _stem(w).rstrip("e") in {v.rstrip("e") for v in verbs}:
                return slot, raw
        if w in NOUN_FORMS:
            return NOUN_FORMS[w], raw
    m = re.search(r"打.{0,4}分|评.{0,3}分", piece)  # 打一个质量分: a score with words in between
    if m:
        return "evaluate", m.group(0)
    # Chinese verbs are substrings; the first in the sentence governs it (只保留去掉空白后...: keep)
    hits = [(piece.index(v), slot, v) for slot, verbs in VERBS.items() for v in verbs if not v.isascii() and v in piece]
    return min(hits)[1:] if hits else None


_BETWEEN = re.compile(r"\bbetween\s+(\d+(?:\.\d+)?)\s+(?:and|to)\s+(\d+(?:\.\d+)?)\s*([a-z]+)?", re.I)
_FIRST = re.compile(r"^\s*first\b,?\s*|\s*\bfirst\s*$", re.I)


def _limits(piece: str, polarity: str) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for lo, hi, noun in _BETWEEN.findall(piece):  # a range names both bounds, whatever the verb
        if polarity == "keep":
            noun = noun if noun and _stem(noun.lower()) in UNITS else "score"
            noun = "char" if noun.lower().startswith("char") else noun  # characters/chars: one unit
            out[_stem(noun.lower()) if noun != "score" else "score"] = {"min": float(lo), "max": float(hi)}
    piece = _BETWEEN.sub(" ", piece)
    found = [(b, v, n, bool(re.fullmatch(_MIN, b.lower()))) for b, v, n in _LIMIT.findall(piece)]
    found += [(b, v, _ZH_NOUN[n], bool(re.fullmatch(_ZH_MIN, b))) for b, v, n in _ZH_LIMIT.findall(piece)]
    for _bound, value, noun, is_min in found:
        kind = "min" if is_min else "max"
        noun = noun if noun and _stem(noun.lower()) in UNITS else "score"
        noun = "char" if noun.lower().startswith("char") else noun  # characters/chars: one unit
        if polarity == "remove":  # "drop texts shorter than 5 words" keeps >= 5
            kind = "max" if kind == "min" else "min"
        out.setdefault(_stem(noun.lower()), {})[kind] = float(value)
    return out


def _split(text: str) -> list[str]:
    """The pieces between clause boundaries; "keep X or Y" stays one condition (either may hold), while
    "remove X or Y" is two removals."""
    quoted = _QUOTED.findall(text)  # a quoted value ("AAPL, MSFT or more") is never split
    text = _QUOTED.sub(lambda m: f"\0{quoted.index(m[0])}\0", text)
    parts = re.split(f"({_SPLIT.pattern})", text, flags=re.I)
    out = [parts[0]]
    for sep, piece in zip(parts[1::2], parts[2::2], strict=True):
        keeps = (_verb(out[-1]) or ("", ""))[0] == "keep"
        value = re.fullmatch(r"\s*\0\d+\0[\s.!?]*", piece) is not None  # "says 'falls' or 'slips'": one condition
        if sep.strip().lower() == "or" and (keeps or value) and piece.strip() and _verb(piece) is None:
            out[-1] += f" or {piece}"
        else:
            out.append(piece)
    out = [p.strip().rstrip(".!?") for p in out]  # a sentence's full stop is not part of its last value
    return [re.sub(r"\0(\d+)\0", lambda m: quoted[int(m[1])], p) for p in out if p]


def _ordered_pieces(text: str) -> list[str]:
    """Clauses in execution order: "Y after X" and "after X, Y" run X first."""
    m = _AFTER.match(text.strip())
    if m:
        first, second = (m.group(2), m.group(1)) if m.group(1) else (m.group(3), m.group(4))
        return _ordered_pieces(first) + _ordered_pieces(second)
    if ":" in text:  # "clean the corpus: drop X, dedup, ..." -- the part after the colon says what
        _head, _, tail = text.partition(":")
        if _verb(tail):
            text = tail
    text = _BETWEEN.sub(lambda m: m.group(0).replace(" and ", " to "), text)  # "between 5 and 50" is one range
    text = _DATE_RANGE.sub(r"between \1 to \2", text)
    pieces = _split(text)
    firsts = [p for p in pieces if _FIRST.search(p)]  # "... and remove exact duplicates first"
    return [_FIRST.sub("", p) for p in firsts] + [p for p in pieces if p not in firsts]


def decompose(text: str) -> list[Clause]:
    text = iso_dates(text)  # "after January 3, 2024" is one condition, not an ordering and a comma
    text = _OR_LESS.sub(r"at most \1", _OR_MORE.sub(r"at least \1", text))
    clauses: list[Clause] = []
    prev: Clause | None = None
    lead = ""  # verbless words before the first clause ("find out which questions are ill-posed and remove them")
    for piece in _ordered_pieces(text):
        found = _verb(piece)
        if found is None:
            if prev is None:
                lead = f"{lead} {piece}".strip()
                continue
            bare = _limits(piece, prev.polarity)
            rest = [w for w in re.findall(r"[a-z]+", _LIMIT.sub(" ", piece.lower())) if w not in _BARE]
            if bare and set(bare) == {"score"} and not rest and prev.slot in ("filter", "threshold"):
                prev.limits.update(bare)  # "filter by perplexity, anything above 300 goes": the same metric
                continue
            if prev.slot in ("filter", "dedup") or DEDUP_TARGET.search(piece) or _limits(piece, prev.polarity):
                found = ("remove" if prev.polarity == "remove" else "keep", "inherited")
            else:  # an object continuing the clause before ("question and answer pairs")
                prev.text += f" and {piece}"
                prev.limits.update(_limits(piece, prev.polarity))
                continue
        slot, verb = found
        if prev is not None and slot == "evaluate" and _SCORE_BOUND.match(piece):
            prev.limits.update(_limits(piece, "keep"))  # "..., score 3 or more": the bound, not a new score
            continue
        if lead and prev is None and re.search(r"\b(?:them|those|these|they|it|ones)\b", piece, re.I):
            piece, lead = f"{lead}: {piece}", ""  # "remove them": what "them" is comes first
        polarity = "keep" if slot == "keep" else "remove"
        if slot == "remove" and SUBTEXT.search(piece) and not ROWS_WITH.search(piece) and not _limits(piece, "remove"):
            slot = "refine"  # "strip URLs and HTML tags": part of each text goes, not the row
        elif slot in ("remove", "keep"):
            slot = "filter"
            if DEDUP_TARGET.search(piece):
                slot = "dedup"
            elif any(c.slot == "evaluate" for c in clauses) and (
                QUALITY.search(piece) or set(_limits(piece, polarity)) == {"score"}
            ):  # "... and keep those at 3 or above": a bound on the score just asked for
                slot = "threshold"
            elif polarity == "keep" and CHECK.search(piece):
                slot = "check"
        clause = Clause(piece.strip(), slot, verb, polarity, _limits(piece, polarity))
        clauses.append(clause)
        prev = clause
    return clauses
