"""SFT recipe: instruction/response synthesis from passages and DataFlow's named selection methods.

DataFlow's SFT selection operators are known by their papers' names (Alpagasus, Deita quality and
complexity, InsTag, Superfiltering/IFD, Tree-Instruct, a reward model); a request naming one means
that operator, bound to the instruction/response columns the data has or the synthesis step writes.
"keep/select/drop" picks the ``*Filter`` (score and keep range in one step, DataFlow's default
range), "score/rate/tag" alone the ``*SampleEvaluator``.
"""

import re

from dataflow_dagster.agent.intent import Intent
from dataflow_dagster.agent.profile import DataProfile
from dataflow_dagster.agent.recipe_plan import RecipePlan, column, has
from dataflow_dagster.core.pipeline import Step

# method words -> DataFlow operator stem; order matters (Deita complexity before Deita quality)
METHODS: tuple[tuple[str, str], ...] = (
    (r"alpa(?:ca)?gasus", "Alpagasus"),
    (r"deita\W+(?:\w+\W+){0,3}?complex\w*|complex\w*\W+(?:\w+\W+){0,3}?deita", "DeitaComplexity"),
    (
        r"deita\W+(?:\w+\W+){0,2}?quality|quality\W+(?:\w+\W+){0,3}?deita|deita(?!\W+(?:\w+\W+){0,3}?complex)",
        "DeitaQuality",
    ),
    (r"ins[- ]?tag|intention tags?", "Instag"),
    (r"super[- ]?filter\w*|\bifd\b|instruction[- ]following difficulty", "Superfiltering"),
    (r"tree[- ]?instruct", "Treeinstruct"),
    (r"reward[- ]model|\brm score", "RM"),
)
MEASURES = {
    "Instag": r"\btags?\b",
    "DeitaComplexity": r"\bcomplex\w*",
    "DeitaQuality": r"\bquality\b",
    "Superfiltering": r"\bifd\b|following difficulty",
    "Alpagasus": r"\brat(?:ing|ed)s?\b",
    "RM": r"\breward\w*",
}
_SYNTH = (
    r"instructions?\s*(?:[-/&]|and)?\s*(?:an?\s+|its\s+|their\s+)?(?:response|output|answer)s?|"
    r"instruction (?:data|pairs?|samples?)|"
    r"\bsft (?:data|pairs?|samples?)|supervised fine-?tun\w*"
)
_GENERATE = r"\b(?:turn|convert|make|create|generate|synthesi[sz]e|write|build|produce)\b"
_KEEP = r"\b(?:keep|select|pick|retain|drop|remove|discard|filter\w*|throw|only|best|worth)\b"
_SCRATCH = (
    r"from scratch|without (?:any )?(?:seed|input|source)s?|out of nothing|from nothing|"
    r"random (?:knowledge )?domains?|(?:across|over) (?:random|many|various) (?:knowledge )?domains?"
)
# "spread over finance, law and medicine", "covering X and Y", "in the domains of X, Y"
_DOMAIN_LIST = re.compile(
    r"(?:over|across|covering|about|in|on|for|from)\s+(?:the\s+)?(?:domains?\s+(?:of\s+)?|topics?\s+(?:of\s+)?)?"
    r"([a-z][\w-]*(?:\s*,\s*[a-z][\w-]*)*,?\s+(?:and|or)\s+[a-z][\w-]*)",
    re.I,
)
INSTRUCTION_COLUMNS = ("instruction", "prompt", "question", "query")
RESPONSE_COLUMNS = ("output", "response", "answer", "completion")


def sft(intent: Intent, data: DataProfile) -> RecipePlan | None:
    """(passages -> instruction/response) -> named selection method(s)."""
    from operators.core.registry import all_operators
    from operators.sft.synthesis import InstructionResponseGenerator

    text = intent.request
    methods = [stem for pattern, stem in METHODS if has(text, pattern)]

    has_pairs = any(c in data.columns for c in INSTRUCTION_COLUMNS)
    synth = not has_pairs and has(text, _SYNTH) and has(text, _GENERATE)
    if not methods and not synth:
        return None
    steps: list[Step] = []
    notes: list[str] = []
    if synth:
        steps.append(Step("sft_pairs", InstructionResponseGenerator(input_key=data.text_column)))
        instruction, response = "instruction", "output"
    else:
        instruction = column(data, INSTRUCTION_COLUMNS)
        response = next((c for c in RESPONSE_COLUMNS if c in data.columns), None)
    ops = all_operators()
    # the selection clause is the one naming the method; its verb says filter or evaluator
    keep = has(text, _KEEP) or not has(text, r"\b(?:scor\w*|rat(?:e|ing)|tag|label|evaluat\w*)\b")
    for stem in methods:
        cls = ops[f"{stem}Filter" if keep else f"{stem}SampleEvaluator"]
        cfg: dict[str, object] = {"input_instruction_key": instruction}
        bound = intent.limits.get("score", {})  # "keep pairs with Deita quality >= 3"
        if keep:
            cfg.update({f"{k}_score": v for k, v in bound.items() if f"{k}_score" in cls.Config.model_fields})
            top = cls.Config.model_fields.get("max_score")
            if "max" not in bound and top is not None and float(cfg.get("min_score", 0)) > float(top.default):
                cfg["max_score"] = 1e9  # a stated lower bound above the default range: no upper bound
        if response is not None and "input_output_key" in cls.Config.model_fields:
            cfg["input_output_key"] = response
        op = cls(**cfg)
        absent = [c for c in op.input_columns() if c not in data.columns and not synth]
        if absent:  # e.g. Alpagasus rates a response, and the data has none: retrieval decides instead
            return None
        name = re.sub(r"(?<=[a-z])(?=[A-Z])", "_", stem).lower()
        steps.append(Step(name if keep else f"{name}_score", op))
    # a later clause speaking of the method's own measure ("drop instructions with too many tags"
    # after InsTag) is that method's keep range, not another filter
    measures = [MEASURES[m] for m in methods if m in MEASURES]
    claims = re.compile("|".join([p for p, _ in METHODS] + measures) + rf"|{_SYNTH}", re.I)
    cols = [data.text_column] if synth else [instruction] + ([response] if response else [])
    return RecipePlan("sft", steps, cols, notes, claims=claims)


def sft_from_scratch(intent: Intent, data: DataProfile) -> RecipePlan | None:
    """SFT samples written from nothing, whatever the data file holds ("from scratch", "over random
    knowledge domains"); tried before the document recipes, which the word "knowledge" would match."""
    text = intent.request
    if has(text, _SCRATCH) and (has(text, r"\bsft\b|instruction|fine-?tun|training|synthetic|samples") or intent.count):
        return _from_scratch(intent)
    return None


def _from_scratch(intent: Intent) -> RecipePlan:
    """SFT samples written from nothing (DataFlow's random-domain knowledge rows): the request's count
    is the number written, its listed domains the ones drawn from."""
    from operators.prompted.domain_rows import RandomDomainKnowledgeRowGenerator

    m = _DOMAIN_LIST.search(intent.request)
    domains = [d.strip() for d in re.split(r",|\band\b|\bor\b", m.group(1)) if d.strip()] if m else []
    cfg: dict[str, object] = {"generation_num": intent.count or 1}
    if domains:
        cfg["domain_keys"] = ", ".join(domains)
    notes = [f"domains from the request: {domains}"] if domains else ["no domains named: the operator's own list"]
    step = Step("from_scratch", RandomDomainKnowledgeRowGenerator(**cfg))
    return RecipePlan("sft_from_scratch", [step], [], notes, claims=re.compile(_SCRATCH, re.I), composable=False)
