"""Recipes composed with retrieval: clean-up clauses before the domain work, and clauses after it.

A request often wraps a domain chain in general steps: "drop empty documents, then write multi-hop
QA" (a prefix on the source's column) or "write multi-hop QA, then remove duplicate questions and
score them" (a suffix on what the chain produced). The recipe knows the chain; the clauses around it
are chosen by retrieval exactly as a plain rule request would be, and bound to the column they name
or, failing that, to the recipe's main column (prefix) or its main output (suffix).

A trailing clause the recipe already serves is not repeated: a keep/drop clause after a chain that
ends in its own gate (verified answers, passing code, valid tool calls, an SFT selection filter) is
that gate when the recipe claims its words, and a scoring clause after a chain that ends in its own
judge is that judge. A clause
stating a numeric limit ("drop questions longer than 40 words") is always a rule step of its own.
"""

import re

from dataflow_dagster.agent.decompose import Clause
from dataflow_dagster.agent.intent import DATA_NOUNS, Intent
from dataflow_dagster.agent.planner import Compiled, DataProfile, Planner, Selection, _slot_of
from dataflow_dagster.agent.recipe_plan import RecipePlan
from dataflow_dagster.agent.retrieval import _stem
from dataflow_dagster.core.pipeline import Step
from operators.core.contract import Kind

_LEADING = ("filter", "dedup", "refine")
_TRAILING = ("filter", "dedup", "evaluate", "threshold", "check", "refine")


def prefix(
    planner: Planner, intent: Intent, data: DataProfile, recipe: RecipePlan, sel: Selection
) -> tuple[Compiled, int]:
    """Clean-up clauses the request puts before the domain work ("remove duplicate problems, then
    solve them"), bound to the recipe's main column, and how many clauses they were; a filter clause
    the recipe claims ("keep only those that pass") is the recipe's own."""
    lead: list[Clause] = []
    for c in intent.clauses:
        if c.slot not in _LEADING or not recipe.composable:
            break
        if (c.slot != "filter" and _claimed(recipe, c)) or (
            c.slot == "filter" and (_claimed(recipe, c) or (c.limits and _scores_only(c) and recipe_gates(recipe)))
        ):
            break  # the recipe's own selection ("keep pairs between 0.2 and 0.9" with Superfiltering)
        lead.append(c)
    main = next((c for c in recipe.source_columns if c in data.columns), data.text_column)
    compiled = _retrieve(planner, lead, intent, DataProfile(data.path, data.columns, main), sel)
    _rename(compiled, {s.name for s in recipe.steps}, "before")
    if compiled.steps:
        compiled.notes.append(f"composed: {[s.op.name for s in compiled.steps]} before recipe {recipe.recipe}")
    return compiled, len(lead)


def suffix(
    planner: Planner, intent: Intent, data: DataProfile, recipe: RecipePlan, sel: Selection, lead: int
) -> Compiled:
    """Clauses after the domain work that the recipe does not serve, on the columns it produced."""
    clauses = intent.clauses[lead:]
    claimed = recipe.claims
    # the domain work ends with the last generation clause or the last clause naming the recipe's method
    last = max(
        (
            i
            for i, c in enumerate(clauses)
            if c.slot == "generate" or (c.slot == "evaluate" and claimed is not None and claimed.search(c.text))
        ),
        default=-1,
    )
    served = _served_slots(recipe)
    trail = [
        c
        for c in clauses[last + 1 :]
        if c.slot in _TRAILING
        and (c.limits or c.slot in ("dedup", "filter") or _kind(c) not in served)
        and not (c.slot == "evaluate" and _own_words(planner, recipe, c))
        and not (
            c.slot == "filter"
            and _scores_only(c)
            and (_claimed(recipe, c) or ("filter" in served and (c.limits or _gate_words(planner, recipe, c))))
        )
    ]
    if not trail or not recipe.steps:
        return Compiled([])
    if all(c.slot == "threshold" for c in trail):  # "... and keep the best": a gate on the chain's own score
        return _gate(recipe)
    produced = [c for s in recipe.steps for c in s.op.output_columns()]
    main = _named(trail, produced) or _main_output(recipe)
    # "questions" after a multi-hop chain are its multi-hop questions, not the atomic ones it started from
    tail = main.rsplit("_", 1)[-1]
    columns = {
        c: t
        for c, t in {**data.columns, **dict.fromkeys(produced, "VARCHAR")}.items()
        if c == main or c.rsplit("_", 1)[-1] != tail
    }
    compiled = _retrieve(planner, trail, intent, DataProfile(data.path, columns, main), sel, keep_good=True, main=main)
    compiled.steps = [s for s in compiled.steps if s.op.name not in {r.op.name for r in recipe.steps}]
    _rename(compiled, {s.name for s in recipe.steps}, "after")
    if compiled.steps:
        compiled.notes.append(
            f"composed: {[s.op.name for s in compiled.steps]} after recipe {recipe.recipe}, on column '{main}'"
        )
    compiled.source_columns = []  # they read what the recipe produced, not the source
    return compiled


def _gate(recipe: RecipePlan) -> Compiled:
    """A ThresholdFilter at mid-scale of the score the chain's last judge writes, if it writes one."""
    from dataflow_dagster.agent.binding import _score_column
    from operators.core.generic import ThresholdFilter

    judge = next((s for s in reversed(recipe.steps) if _score_column(s.op) is not None), None)
    if judge is None:
        return Compiled([])
    col, mid = _score_column(judge.op)  # type: ignore[misc]
    step = Step("keep_best", ThresholdFilter(input_key=col, min_value=mid))
    return Compiled([step], [f"composed: ThresholdFilter on '{col}' >= {mid} after recipe {recipe.recipe}"])


def recipe_gates(recipe: RecipePlan) -> bool:
    return "filter" in _served_slots(recipe)


def _scores(planner: Planner, recipe: RecipePlan, c: Clause) -> tuple[float, float]:
    """(best retrieval score of any operator, best of the chain's own operators) on the clause's words."""
    from dataflow_dagster.agent.decompose import object_words

    # data nouns ("code", "questions") match a domain's every operator; they say nothing of which one
    scores = planner.index.scores_for([w for w in object_words(c.text) if w not in DATA_NOUNS])
    return max(scores.values(), default=0.0), max((scores.get(s.op.name, 0.0) for s in recipe.steps), default=0.0)


def _gate_words(planner: Planner, recipe: RecipePlan, c: Clause) -> bool:
    """Do the clause's words describe the recipe's own gate ("drop instructions with too many tags"
    after InsTag), or nothing in particular, rather than another operator ("the 3 most diverse by
    k-center greedy")?"""
    best, own = _scores(planner, recipe, c)
    return best < 3.0 or own >= 0.5 * best


def _own_words(planner: Planner, recipe: RecipePlan, c: Clause) -> bool:
    """A scoring clause whose words describe one of the chain's own operators ("check whether each
    question is well-posed" after the validity judge) is that operator, not a second judge."""
    best, own = _scores(planner, recipe, c)
    return best >= 3.0 and own >= 0.5 * best


def _claimed(recipe: RecipePlan, c: Clause) -> bool:
    return recipe.claims is not None and recipe.claims.search(c.text) is not None


def _scores_only(c: Clause) -> bool:
    """No limit, or only a score bound ("Deita complexity >= 3"): the recipe's own gate says it; a
    length limit ("questions shorter than 6 words") is a rule step of its own."""
    return set(c.limits) <= {"score"}


def _kind(c: Clause) -> str:
    return "filter" if c.slot in ("threshold", "check") else c.slot


def _served_slots(recipe: RecipePlan) -> set[str]:
    """What the chain's tail already does: its own gate (a filter step) and its own judge (an
    evaluator after the last filter; evaluators before a filter are that filter's contract)."""
    kinds = [_slot_of(type(s.op)) for s in recipe.steps]
    out = {"filter"} if any(k in ("filter", "threshold") for k in kinds) else set()
    last_filter = max((i for i, k in enumerate(kinds) if k in ("filter", "threshold")), default=-1)
    if any(k == "evaluate" for k in kinds[last_filter + 1 :]):
        out.add("evaluate")
    return out


def _named(clauses: list[Clause], produced: list[str]) -> str | None:
    """A produced column the trailing clauses name ("duplicate questions" -> question)."""
    words = {_stem(w) for c in clauses for w in re.findall(r"[a-z]+", c.text.lower())}
    for col in reversed(produced):  # the latest producer's column of that name wins
        parts = [_stem(p) for p in col.lower().split("_") if p]
        if parts and parts[-1] in words:
            return col
    return None


def _main_output(recipe: RecipePlan) -> str:
    """The last generated text column: what a trailing judge or filter should read."""
    for step in reversed(recipe.steps):
        if step.op.kind in (Kind.GENERATE, Kind.REFINE) and step.op.output_columns():
            return step.op.output_columns()[0]
    return recipe.source_columns[0] if recipe.source_columns else "text"


def _retrieve(
    planner: Planner,
    clauses: list[Clause],
    intent: Intent,
    data: DataProfile,
    sel: Selection,
    keep_good: bool = False,
    main: str | None = None,
) -> Compiled:
    """Retrieval's steps for ``clauses``; with ``main``, every step reads that column unless its clause
    names another (an operator's default column may be one the recipe consumed, e.g. a chunker's text)."""
    if not clauses:
        return Compiled([])
    sub = Intent(request=", ".join(c.text for c in clauses), clauses=clauses)
    sub.actions = list(dict.fromkeys(c.slot for c in clauses if c.slot not in ("threshold", "check")))
    if not sub.actions:
        sub.actions = ["filter"]
    sub.keep_good = keep_good and any(c.slot == "threshold" for c in clauses)
    sub.count, sub.settings = intent.count, intent.settings
    if all(c.slot in ("evaluate", "refine", "threshold") for c in clauses):  # a code judge for code;
        sub.domains = list(intent.domains)  # but a length limit or a dedup is a general text filter
    for c in clauses:
        sub.limits.update(c.limits)
    choice = planner.retrieval_choice(sub, planner.candidates(sub), data)
    compiled = planner.compile(choice.names, sub, data, choice.preset, choice.bind)
    if main is not None:
        for step in compiled.steps:
            cfg = step.op.config_dict()
            if "input_key" in cfg and step.op.name not in choice.bind and cfg["input_key"] != main:
                step.op = type(step.op)(**{**cfg, "input_key": main})
    sel.decided.update(choice.decided)
    return compiled


def _rename(compiled: Compiled, taken: set[str], tag: str) -> None:
    for s in compiled.steps:
        if s.name in taken:
            s.name = f"{s.name}_{tag}"
