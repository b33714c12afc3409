"""From an intent to an ordered, key-bound list of steps: retrieval, (model) selection, binding, order.

The model is optional and never trusted: it may only pick among retrieved candidates (the JSON
schema's ``enum`` is the candidate list), and its pick is accepted only when it covers every action
the intent asked for. Otherwise retrieval's ranking decides. Keys are bound by the operators' own
contract (``input_columns``/``output_columns`` after configuration), and steps are placed in the
order their inputs become available, so the compiled pipeline is valid by construction before the
dry run confirms it on real rows.
"""

import re
from dataclasses import dataclass, field
from typing import Any

from dataflow_dagster.agent.binding import (
    _accepts_none,
    _named_text_column,
    _same_column,
    _score_column,
    _threshold_unit,
)
from dataflow_dagster.agent.decompose import Clause, object_stop, object_words
from dataflow_dagster.agent.intent import _PATH, DATA_NOUNS, DOMAINS, Intent
from dataflow_dagster.agent.profile import AgentRefusal, DataProfile, profile_data
from dataflow_dagster.agent.retrieval import GENERIC, OperatorIndex, _stem, tokenize
from dataflow_dagster.agent.synthesis import synthesise
from dataflow_dagster.core.pipeline import Step
from operators.core.contract import Kind, Operator, OperatorError
from operators.core.llm import LLMClient
from operators.core.rowids import ID, PARENTS

__all__ = ["AgentRefusal", "Compiled", "DataProfile", "Planner", "Selection", "profile_data"]

RANK = {"refine": 0, "filter": 1, "dedup": 2, "generate": 3, "evaluate": 4, "threshold": 5, "dependency": 3}


@dataclass
class Selection:
    names: list[str]
    by: str  # "recipe" | "llm" | "retrieval"
    note: str = ""
    preset: dict[str, dict[str, Any]] = field(default_factory=dict)  # synthesised operator -> its config
    decided: dict[str, str] = field(default_factory=dict)  # operator -> which path decided it, and why
    bind: dict[str, str] = field(default_factory=dict)  # operator -> the data column its clause names
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)  # operator -> settings a model proposed
    synthesised: dict[str, Clause] = field(default_factory=dict)  # Prompted* operator -> the clause it serves


@dataclass
class Compiled:
    steps: list[Step]
    notes: list[str] = field(default_factory=list)
    source_columns: list[str] = field(default_factory=list)


def _is_dedup(cls: type[Operator]) -> bool:
    return cls.kind == Kind.FILTER and ("dedup" in cls.tags or "dedup" in cls.name.lower())


def _is_threshold(cls: type[Operator]) -> bool:
    return cls.kind == Kind.FILTER and "threshold" in cls.tags


def _slot_of(cls: type[Operator]) -> str:
    if _is_threshold(cls):
        return "threshold"
    if _is_dedup(cls):
        return "dedup"
    return str(cls.kind)


GENERAL_DOMAINS = ("general", "general_text", "core_text", "text", "text_pt")  # pretraining filters are text filters


def _domain_match(cls: type[Operator], domain: str) -> bool:
    if cls.domain == domain:
        return True
    toks = set(tokenize(" ".join([cls.name, *cls.tags, cls.__doc__ or ""])))
    return any(t in toks for term in DOMAINS[domain] for t in tokenize(term) if t not in GENERIC)


class Planner:
    def __init__(self, operators: dict[str, type[Operator]], llm: LLMClient | None = None) -> None:
        self.ops = operators
        self.index = OperatorIndex(operators)
        self.llm = llm

    # ---- retrieval ------------------------------------------------------------------------------
    def candidates(self, intent: Intent) -> dict[str, list[tuple[str, float]]]:
        """Ranked operators per requested action; refuses actions or domains nothing covers."""
        for d in intent.domains:
            if not any(_domain_match(c, d) for c in self.ops.values()):
                terms = ", ".join(DOMAINS[d][:3])
                raise AgentRefusal(
                    f"no registered operator handles {d} data ({terms}); see `dataflow-dagster ops "
                    f"list` or add one (docs/agent.md, custom operators)"
                )
        ranked = self.index.rank(intent.request, limit=len(self.ops))
        scores = dict(ranked)
        out: dict[str, list[tuple[str, float]]] = {}
        for slot in intent.actions:
            pool = [n for n, c in self.ops.items() if _slot_of(c) == slot]
            if not pool:
                raise AgentRefusal(
                    f"no registered operator can {slot} ('{intent.request}'); see `dataflow-dagster ops list`"
                )
            in_domain = [n for n in pool if any(_domain_match(self.ops[n], d) for d in intent.domains)]
            if intent.domains and in_domain:
                pool = in_domain
            elif not intent.domains:  # no domain named: domain-specific operators (code, SQL...) are no fit
                general = [n for n in pool if self.ops[n].domain in GENERAL_DOMAINS]
                pool = general or pool
            elif intent.domains and slot in ("generate", "evaluate", "refine"):
                raise AgentRefusal(f"no registered operator can {slot} {'/'.join(intent.domains)} data")
            out[slot] = sorted(((n, scores.get(n, 0.0)) for n in pool), key=lambda x: (-x[1], x[0]))
        return out

    def _clause_scores(self, text: str, limits: dict[str, dict[str, float]], pool: list[str]) -> dict[str, float]:
        """Scores on a clause's object words only ("empty", "short", "symbols", "minhash"; the verb chose
        the kind already), plus a boost for operators with a ``min_X``/``max_X`` setting for a limit
        the clause states ("20 words")."""
        scores = self.index.scores_for(object_words(text))
        out = {}
        for n in pool:
            fields = self.ops[n].Config.model_fields
            limit_hit = any(re.fullmatch(r"(min|max)_(\w+)", f) and _stem(f[4:]) in limits for f in fields)
            limit_hit = limit_hit or _threshold_unit(self.ops[n]) in limits
            named = _names_operator(n, text)  # "MinHash", "SimHash", "Deita": the user named this operator
            out[n] = scores.get(n, 0.0) + (100.0 if limit_hit else 0.0) + (50.0 if named else 0.0)
        return out

    def unknown_words(self, text: str) -> list[str]:
        """The clause's specific English words that no operator description (nor a synonym) contains.
        Data nouns, file names, verbs and generic words are not specific; Chinese is not judged."""
        out = []
        for raw in re.findall(r"[A-Za-z][A-Za-z\-]+", _PATH.sub(" ", text)):
            toks = tokenize(raw, expand=True)
            if not toks or toks[0] in GENERIC or toks[0] in DATA_NOUNS or toks[0] in object_stop():
                continue
            if not any(self.index.covers(t) for t in toks):
                out.append(toks[0])
        return out

    def _concept(self, word: str) -> bool:
        """Does a registered operator's description speak of ``word`` ("HTML", "URLs")?"""
        return any(self.index.covers(t) for t in tokenize(word) if t not in GENERIC and t not in DATA_NOUNS)

    def _match(self, name: str, text: str) -> float:
        """Operator ``name``'s strongest score on one word of the clause other than its data nouns
        (8.7 for SpellingCorrectionRefiner on "spelling"; 3.3 for a URL remover on "one line")."""
        words = [w for w in object_words(text) if w not in DATA_NOUNS]
        return max((self.index.scores_for([w]).get(name, 0.0) for w in words), default=0.0)

    def _fits(self, name: str, text: str, unknown: list[str]) -> bool:
        """Does operator ``name`` match more of the clause's object words than the registry lacks?"""
        words = object_words(text)
        matched = [w for w in words if self.index.scores_for([w]).get(name, 0.0) > 0]
        return len(matched) > len(unknown)

    def retrieval_choice(
        self, intent: Intent, cands: dict[str, list[tuple[str, float]]], data: DataProfile | None = None
    ) -> Selection:
        """One operator per clause, in the request's order, ranked on that clause's own words; with the
        data's profile, a condition on a column of the data becomes a synthesised SQL row rule."""
        from dataflow_dagster.agent.rule_synthesis import row_rule

        sel = Selection([], "retrieval")
        names = sel.names
        for i, clause in enumerate(intent.clauses or []):
            ranked = cands.get(clause.slot)
            if not ranked:
                continue
            rulable = data is not None and "GeneralFilter" in self.ops
            rule = row_rule(clause, data, concept=self._concept) if rulable else None
            if rule is not None:  # every rule clause joins the one synthesised GeneralFilter
                if "GeneralFilter" not in names:
                    names.append("GeneralFilter")
                sel.preset.setdefault("GeneralFilter", {"filter_rules": []})["filter_rules"].append(rule.rule)
                said = sel.decided.get("GeneralFilter", "")
                sel.decided["GeneralFilter"] = (said and said + "; ") + (
                    f"synthesised SQL rule `{rule.rule}` for clause '{clause.text}' (column '{rule.column}'; "
                    f"keeps {rule.kept} of {rule.sampled} sample rows)"
                )
                continue
            text = clause.text
            pronoun = re.search(r"\b(?:them|those|these|they|it|its|their)\b|它们|这些|其", clause.text, re.I)
            if i and (clause.slot in ("generate", "evaluate") or (clause.slot == "refine" and pronoun)):
                text += " " + intent.clauses[i - 1].text
            spec = self._clause_scores(text, clause.limits, [n for n, _ in ranked])
            whole = dict(ranked)
            best = max(spec, key=lambda n: (spec[n], whole.get(n, 0.0)))
            obj = clause.text  # a rewrite verb names the operation; other verbs ("throw away") only the kind
            if clause.slot != "refine":
                obj = re.sub(re.escape(clause.verb), " ", obj, flags=re.I)
            synth = synthesise(clause, self.unknown_words(obj))
            limited = bool(clause.limits) and spec[best] >= 100.0
            # a rewrite is an operator's only when it names what that operator does ("fix spelling",
            # "lowercase", "strip URLs"); "translate", "summarise in one line", "make more helpful" are not
            latin = not re.search(r"[\u4e00-\u9fff]", clause.text)  # Chinese words are matched as bigrams, weaker
            weak_rewrite = clause.slot == "refine" and latin and self._match(best, clause.text) < 5.0
            if weak_rewrite and synth is None:
                synth = synthesise(clause, [_stem(clause.verb.lower())])
            unknown_objects = [w for w in (synth[2] if synth else []) if w != _stem(clause.verb.lower())]
            strong_rewrite = clause.slot == "refine" and not weak_rewrite  # it names the operator's operation
            fits = synth is None or limited or strong_rewrite or self._fits(best, text, unknown_objects)
            if spec[best] > 0 and not (weak_rewrite and synth is not None) and fits:
                chosen = best
            elif synth is not None and synth[0] not in names:  # no registered operator fits this clause
                names.append(synth[0])
                sel.preset[synth[0]] = synth[1]
                sel.synthesised[synth[0]] = clause
                sel.decided[synth[0]] = f"synthesised for clause '{clause.text}' (no registered operator fits)"
                continue
            elif clause.slot == "filter":  # an unspecific "filter" drops nothing valid: the empty-row filter
                chosen = next((n for n, _ in ranked if n == "ContentNullFilter"), ranked[0][0])
            else:
                chosen = ranked[0][0]
            if chosen not in names:
                names.append(chosen)
                sel.decided[chosen] = f"rules: clause '{clause.text}' ({clause.slot}, verb '{clause.verb}')"
                named = _named_text_column(clause.text, data) if data is not None else None
                if named and "input_key" in self.ops[chosen].Config.model_fields:
                    sel.bind[chosen] = named
        for slot, ranked in cands.items():  # an action no clause carried: retrieval's top-ranked operator
            if not any(_slot_of(self.ops[n]) == slot for n in names):
                names.append(ranked[0][0])
                sel.decided[ranked[0][0]] = f"retrieval: top-ranked {slot} operator for the whole request"
        return sel

    # ---- binding and ordering -------------------------------------------------------------------
    def _bind(
        self,
        cls: type[Operator],
        available: list[str],
        text_col: str,
        intent: Intent,
        score_col: tuple[str, float] | None,
        preset: dict[str, Any] | None = None,
    ) -> tuple[Operator | None, list[str]]:
        fields = cls.Config.model_fields
        cfg: dict[str, Any] = dict(preset or {})
        for fname, f in fields.items():
            m = re.fullmatch(r"(min|max)_(\w+)", fname)
            stated = intent.limits.get(_stem(m.group(2)), {}) if m else {}
            if m and m.group(1) in stated:
                value = stated[m.group(1)]
                cfg[fname] = int(value) if f.annotation is int else value
            elif m and m.group(1) == "min" and stated:  # "at most 200 words" states no lower bound
                cfg[fname] = 0
        unit = _threshold_unit(cls)  # CharNumberFilter keeps texts of at least `threshold` characters
        if unit in intent.limits and "min" in intent.limits[unit]:
            cfg["threshold"] = int(intent.limits[unit]["min"])
        for fname, value in intent.settings.items():  # "minhash with threshold 0.8"
            if fname in fields and fname not in cfg:
                cfg[fname] = int(value) if fields[fname].annotation is int else value
        for fname, f in fields.items():  # a selection size it cannot default ("pick the 300 most diverse")
            if fname in ("num_samples", "k", "top_k") and f.is_required() and intent.count:
                cfg.setdefault(fname, intent.count)
        if _is_threshold(cls):
            if score_col is None:
                return None, ["<score column>"]
            cfg["input_key"] = score_col[0]
            stated = intent.limits.get("score", {})  # "keep scores of 8 and up"
            cfg.setdefault("min_value", stated.get("min", score_col[1] if "max" not in stated else None))
            if "max" in stated:
                cfg.setdefault("max_value", stated["max"])
        elif "input_key" in fields and "input_key" not in cfg:
            default = fields["input_key"].default
            if not isinstance(default, str) or default not in available:
                cfg["input_key"] = text_col
        try:  # some operators check their settings only when asked for their columns
            op = cls(**cfg)
            needs = op.input_columns()
            # an optional input the data lacks ("lines_key: lines", "language_key: language"): the
            # operator declares it can do without, so it is switched off rather than produced
            absent = {
                f: spec
                for f, spec in fields.items()
                if f.endswith("_key") and f not in cfg and spec.default in needs and spec.default not in available
            }
            # an input named after a column the data has ("code_key: generated_code" and a "code" column)
            renamed = {f: c for f, spec in absent.items() if (c := _same_column(f, spec.default, available))}
            optional = {
                f: None
                for f, spec in absent.items()
                if f not in renamed and not spec.is_required() and _accepts_none(spec.annotation)
            }
            if optional or renamed:
                op = cls(**{**cfg, **optional, **renamed})
                needs = op.input_columns()
        except (OperatorError, ValueError):  # pydantic's ValidationError is a ValueError
            return None, ["<config>"]
        return op, [c for c in needs if c not in available]

    def _producer(
        self, missing: list[str], available: list[str], text_col: str, intent: Intent, used: set[str]
    ) -> Operator | None:
        # operators of a requested domain first, then general ones, then the rest (registry order otherwise)
        def rank(item: tuple[str, type[Operator]]) -> int:
            cls = item[1]
            if any(_domain_match(cls, d) for d in intent.domains):
                return 0
            return 1 if cls.domain in GENERAL_DOMAINS else 2

        for name, cls in sorted(self.ops.items(), key=rank):
            if name in used or cls.kind not in (Kind.GENERATE, Kind.EVALUATE):
                continue
            op, miss = self._bind(cls, available, text_col, intent, None)
            if op is not None and not miss and set(missing) <= set(op.output_columns()):
                return op
        return None

    def compile(
        self,
        names: list[str],
        intent: Intent,
        data: DataProfile,
        preset: dict[str, dict[str, Any]] | None = None,
        bind: dict[str, str] | None = None,
        settings: dict[str, dict[str, Any]] | None = None,
    ) -> Compiled:
        """Place the chosen operators in the order their inputs become available; ``bind`` sets an
        operator's ``input_key`` to the column its clause names ("titles with fewer than 12 words")."""
        preset = {**{n: {"input_key": c} for n, c in (bind or {}).items()}, **(preset or {})}
        synthesised = {n for n, cfg in preset.items() if set(cfg) != {"input_key"}}
        for n, cfg in (settings or {}).items():  # a model's settings: chosen, not synthesised
            preset[n] = {**preset.get(n, {}), **cfg}
        todo = self.order(names, intent)
        if intent.keep_good and not any(_is_threshold(self.ops[n]) for n in todo):
            todo += [n for n, c in self.ops.items() if _is_threshold(c)][:1]
        available = [ID, *data.columns]
        result = Compiled([])
        score_col: tuple[str, float] | None = None
        used: set[str] = set()
        while todo:
            placed = False
            for name in list(todo):
                cfg = (preset or {}).get(name)
                op, missing = self._bind(self.ops[name], available, data.text_column, intent, score_col, cfg)
                if op is not None and not missing:
                    self._place(result, op, available, used, synthesised=name in synthesised)
                    todo.remove(name)
                    score_col = _score_column(op) or score_col
                    placed = True
                    break
            if placed:
                continue
            head = todo[0]
            op, missing = self._bind(
                self.ops[head], available, data.text_column, intent, score_col, (preset or {}).get(head)
            )
            producer = self._producer(missing, available, data.text_column, intent, used | set(todo))
            if producer is not None:
                self._place(result, producer, available, used)
                result.notes.append(f"added {producer.name}: {head} needs {missing}")
                score_col = _score_column(producer) or score_col
                continue
            result.notes.append(f"dropped {head}: needs {missing}, which nothing available provides")
            todo.remove(head)
        result.source_columns = sorted({c for s in result.steps for c in s.op.input_columns() if c in data.columns})
        return result

    def order(self, names: list[str], intent: Intent) -> list[str]:
        """The request's order (first clause of each operator's slot); the contract's order breaks ties."""
        slots = [c.slot for c in intent.clauses]

        def key(n: str) -> tuple[int, int]:
            slot = _slot_of(self.ops[n])
            return (slots.index(slot) if slot in slots else len(slots), RANK[slot])

        return sorted(names, key=key)

    def _place(
        self, result: Compiled, op: Operator, available: list[str], used: set[str], synthesised: bool = False
    ) -> None:
        base = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", op.name).lower()
        if synthesised:  # visible in the YAML, in `plan` and in the Dagster asset names
            base = f"synthesised_{_slot_of(type(op))}"
        name, i = base, 2
        while any(s.name == name for s in result.steps):
            name, i = f"{base}_{i}", i + 1
        result.steps.append(Step(name, op))
        used.add(op.name)
        if op.kind == Kind.GENERATE and PARENTS not in available:
            available.append(PARENTS)
        available += [c for c in op.output_columns() if c not in available]


def _names_operator(name: str, text: str) -> bool:
    """Does the clause name this operator by its own leading name parts ("minhash", "sim-hash", "ngram
    hash")? Two or more CamelCase parts, written together or apart: a single word ("content") is an
    ordinary word, which retrieval weighs already."""
    parts = [p.lower() for p in re.findall(r"[A-Z][a-z0-9]+", name)]  # acronyms (PII, ID) are not names
    words = " ".join(re.findall(r"[a-z0-9]+", text.lower()))
    for k in range(2, min(3, len(parts)) + 1):
        if len("".join(parts[:k])) >= 6 and re.search(r"\b" + r"[\s-]?".join(parts[:k]) + r"\b", words):
            return True
    return False
