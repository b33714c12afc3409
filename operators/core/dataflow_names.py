"""DataFlow operator names that are not registered here under the same name.

Three kinds of name exist: one we register under DataFlow's own class name (found in the registry,
nothing to list here), one an operator of ours does under another name (``dataflow_aliases.ALIASES``:
same semantics or a documented approximation, plus how DataFlow's keys map onto our config), and one
we do not offer (``dataflow_unsupported.UNSUPPORTED``: why, and what to use instead). The registry
resolves all three, so ``op: ReasoningAnswerFormatterFilter`` gets our operator or a reason. This
module holds the record types, the key helpers and the key tables of same-name configs.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from operators.core.contract import DataflowKey

Fidelity = Literal["same", "approximated"]


@dataclass(frozen=True)
class Alias:
    """DataFlow's ``name`` is our ``ours``; ``keys`` maps DataFlow's keys (constructor and ``run()``)
    that differ from ours, ``defaults`` are settings that make ours behave like DataFlow's class."""

    ours: str
    fidelity: Fidelity
    note: str
    keys: dict[str, DataflowKey] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    finish: Callable[[dict[str, Any]], dict[str, Any]] | None = None  # keys that only make sense together

    def translate(self, dataflow_name: str, config: dict[str, Any]) -> dict[str, Any]:
        """Our config from DataFlow's keys; ValueError (naming the key) for what cannot be honoured."""
        out: dict[str, Any] = {}
        for key, value in config.items():
            entry = self.keys.get(key)
            mapped = {key: value} if entry is None else entry.apply(key, value)
            for ours, val in mapped.items():
                if ours in out and out[ours] != val:
                    raise ValueError(f"{dataflow_name}: `{key}` sets `{ours}` a second time; keep one")
                out[ours] = val
        out = {**self.defaults, **out}
        return self.finish(out) if self.finish else out


@dataclass(frozen=True)
class Unsupported:
    why: str
    instead: str

    def message(self, name: str) -> str:
        return f"DataFlow's {name} is not supported here: {self.why}. Instead: {self.instead}"


def rename(ours: str) -> DataflowKey:
    return DataflowKey(ours)


def single_column(ours: str = "input_key") -> DataflowKey:
    """DataFlow's ``input_keys=[...]`` on dedup filters: one column maps; several are joined in DataFlow."""
    return DataflowKey(
        convert=lambda v: {ours: v[0]} if isinstance(v, list | tuple) and len(v) == 1 else None,
        refuse="dedup over several columns: join them into one column in a step before, then dedup on it",
    )


def ignored(note: str) -> DataflowKey:
    """A DataFlow key whose every value is already our behaviour (the note says why it changes nothing)."""
    return DataflowKey(convert=lambda v: {}, note=note)


def accept(*values: Any, why: str) -> DataflowKey:
    return DataflowKey(accept=values, refuse=why)


def score_range_pass(note: str) -> dict[str, DataflowKey]:
    """DataFlow's code filters keep rows whose 0/1 rule score lies in [min_score, max_score]; 1.0..1.0 is
    'keep rows that pass', which is what ours do."""
    why = f"only min_score=max_score=1.0 (keep rows that pass) is offered; {note}"
    return {"min_score": accept(1.0, 1, why=why), "max_score": accept(1.0, 1, why=why)}


def resolve_dataflow(name: str) -> Alias | Unsupported | None:
    """The alias or the "not supported" entry for a DataFlow name (None when there is neither)."""
    from operators.core.dataflow_aliases import ALIASES
    from operators.core.dataflow_unsupported import UNSUPPORTED

    return ALIASES.get(name) or UNSUPPORTED.get(name)


# ---- DataFlow keys of operators registered under DataFlow's own names (used by their Configs) --------
NO_EFFECT = ignored("names where DataFlow caches downloads or which device it uses")
DEDUP_KEYS: dict[str, DataflowKey] = {"input_keys": single_column()}
WHITESPACE_WORDS: dict[str, DataflowKey] = {
    "use_tokenizer": accept(
        False,
        why="words are whitespace-split (DataFlow's use_tokenizer=False); NLTK's word_tokenize needs a download",
    )
}


def _lexical_bounds(prefix: str) -> DataflowKey:
    def convert(value: Any) -> dict[str, Any] | None:
        if not isinstance(value, dict) or not set(value) <= {"mtld", "hdd"}:
            return None
        return {f"{prefix}_{k}": v for k, v in value.items()}

    return DataflowKey(convert=convert, refuse=f"{prefix}_scores is a mapping with keys mtld and/or hdd")


LEXICAL_KEYS = {"min_scores": _lexical_bounds("min"), "max_scores": _lexical_bounds("max")}
