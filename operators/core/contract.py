"""The operator contract shared by every data-preparation step.

An operator reads one input relation from a DuckDB connection and creates one output relation
(table or view) under a name the caller chooses. Keeping the contract at the level of DuckDB
relations, not DataFrames, is what lets rule operators run as SQL over tables larger than memory and
lets the Dagster layer (which never leaks into this package) snapshot whatever relation results.
"""

import hashlib
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

import duckdb
from pydantic import BaseModel, ConfigDict, model_validator

from operators.core.code_identity import implementation_hash

if TYPE_CHECKING:
    from operators.core.llm import LLMClient
    from operators.core.prompt import PromptTemplate


class Kind(StrEnum):
    GENERATE = "generate"
    EVALUATE = "evaluate"
    FILTER = "filter"
    REFINE = "refine"


class OperatorError(Exception):
    """A problem a user can fix: the message says what, where and what to do."""


@dataclass(frozen=True)
class DataflowKey:
    """How one of DataFlow's constructor or ``run()`` keys maps onto an operator's config.

    ``to``: our key with the same meaning (the value is copied). ``convert``: value -> our settings,
    or None to refuse the value. ``accept``: values that already are our behaviour (nothing to set),
    any other value is refused. ``refuse``: why the key (or value) cannot be honoured and what to
    write instead. A key is never dropped silently: it is mapped, accepted as our behaviour, or refused.
    """

    to: str | None = None
    convert: Callable[[Any], dict[str, Any] | None] | None = None
    accept: tuple[Any, ...] | None = None
    refuse: str = ""
    note: str = ""

    def apply(self, key: str, value: Any) -> dict[str, Any]:
        if self.accept is not None:
            if any(value == ok and type(value) is type(ok) for ok in self.accept):
                return {}
            raise ValueError(f"DataFlow setting `{key}={value!r}` is not supported: {self.refuse or self.note}")
        if self.convert is not None:
            out = self.convert(value)
            if out is None:
                raise ValueError(f"DataFlow setting `{key}={value!r}` is not supported: {self.refuse or self.note}")
            return out
        if self.to is not None:
            return {self.to: value}
        raise ValueError(f"DataFlow setting `{key}` is not supported: {self.refuse or self.note}")


class OpConfig(BaseModel):
    """Base for operator configs; unknown keys are refused so a typo never silently falls back.

    ``dataflow_keys`` lets a config take DataFlow's own keys for the same operator (constructor and
    ``run()`` arguments): renamed, converted, accepted where they name our behaviour, or refused with
    what to write instead. Subclasses' tables extend their parents'. The key ``"**"`` collects every
    other unknown key into the dict setting it names (DataFlow's ``run(**input_keys)``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    dataflow_keys: ClassVar[dict[str, DataflowKey]] = {}

    @classmethod
    def all_dataflow_keys(cls) -> dict[str, DataflowKey]:
        table: dict[str, DataflowKey] = {}
        for klass in reversed(cls.__mro__):
            table.update(getattr(klass, "__dict__", {}).get("dataflow_keys", {}))
        return table

    @model_validator(mode="before")
    @classmethod
    def _dataflow_keys(cls, data: Any) -> Any:
        table = cls.all_dataflow_keys()
        if not table or not isinstance(data, dict):
            return data
        out = {k: v for k, v in data.items() if k in cls.model_fields}
        rest = {k: v for k, v in data.items() if k not in cls.model_fields}
        spill = table.get("**")
        for key, value in rest.items():
            entry = table.get(key)
            if entry is None and spill is not None and spill.to is not None:
                out.setdefault(spill.to, {})
                out[spill.to] = {**out[spill.to], key: value}
                continue
            if entry is None:
                out[key] = value  # unknown: the model refuses it with the list of settings
                continue
            for ours, val in entry.apply(key, value).items():
                if ours in out and out[ours] != val:
                    raise ValueError(
                        f"DataFlow setting `{key}={value!r}` means `{ours}={val!r}` but `{ours}={out[ours]!r}` "
                        "is also given; keep one"
                    )
                out[ours] = val
        return out


@dataclass(frozen=True)
class CheckSpec:
    """A data-quality gate an evaluator declares; the Dagster layer turns it into an asset check.

    ``metric_sql`` is an aggregate over the step's output table aliased ``t`` (e.g.
    ``avg((t.score IS NOT NULL)::INT)``); the check passes when ``metric <op> threshold``.
    ``parts`` names other tables of the same step (``"errors"``, ``"rejected"``) that the metric may
    read as relations of those names, e.g. ``(SELECT count(*) FROM errors) / count(*)``.
    """

    name: str
    metric_sql: str
    op: str
    threshold: float
    description: str = ""
    blocking: bool = True
    parts: tuple[str, ...] = ()

    def passes(self, value: float | None) -> bool:
        if value is None:
            return False
        return {
            ">=": value >= self.threshold,
            ">": value > self.threshold,
            "<=": value <= self.threshold,
            "<": value < self.threshold,
            "==": value == self.threshold,
        }[self.op]


@dataclass(frozen=True)
class RowSQL:
    """A row-local operator as SQL expressions over its input row, so a chain of them can run fused.

    A filter gives ``keep`` (a boolean; NULL means drop) and ``reason`` (text for a dropped row); a
    refiner gives ``replace`` (column -> new value, in place); an evaluator gives ``add`` (new
    columns, appended; an existing column of that name moves to the end, as ``EXCLUDE`` + append
    does). The fused executor evaluates a stage's expressions in one query over the stage input.
    """

    keep: str | None = None
    reason: str | None = None
    replace: dict[str, str] = field(default_factory=dict)
    add: dict[str, str] = field(default_factory=dict)


def _noop_progress(done: int, total: int | None) -> None:
    return None


@dataclass
class OperatorContext:
    """Everything an operator may touch while it runs.

    ``source`` is the name of the input relation (None for a source operator), ``target`` the name
    the operator must create. Filters also create ``rejected`` (input columns + ``_reason``); LLM
    operators also create ``errors`` (``_id``, ``_error``, ``_raw``) for rows that failed for good.
    """

    con: duckdb.DuckDBPyConnection
    source: str | None
    target: str
    rejected: str
    errors: str
    step: str = "step"
    llm: "LLMClient | None" = None
    prompt: "PromptTemplate | None" = None
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("dataflow"))
    progress: Callable[[int, int | None], None] = _noop_progress
    batch_size: int = 64
    counters: dict[str, Any] = field(default_factory=dict)

    def columns(self, relation: str | None = None) -> list[str]:
        rel = relation or self.source
        if rel is None:
            return []
        return [r[0] for r in self.con.execute(f"DESCRIBE {quote_ident(rel)}").fetchall()]

    def count(self, relation: str | None = None) -> int:
        rel = relation or self.source
        # fetchall, not fetchone: DuckDB 2 keeps a partly-fetched result open, which blocks register()
        rows = self.con.execute(f"SELECT count(*) FROM {quote_ident(rel or '')}").fetchall()
        return int(rows[0][0]) if rows else 0


class Operator(ABC):
    """One reusable step. Subclasses set ``kind``, a ``Config`` model and implement ``run``."""

    kind: ClassVar[Kind]
    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    domain: ClassVar[str] = "general"
    tags: ClassVar[tuple[str, ...]] = ()
    Config: ClassVar[type[OpConfig]] = OpConfig
    default_prompt: ClassVar["PromptTemplate | None"] = None
    # Incremental refreshes reuse earlier output for input rows already seen. That is sound only when
    # each input row's output depends on that row alone (filters, refiners, evaluators, one-row
    # generators): such operators set ``row_local = True``. Set-wise operators (dedup, clustering,
    # anything with a window over other rows) keep False and are recomputed over the whole input,
    # unless they implement ``run_incremental``.
    row_local: ClassVar[bool] = False
    # How this operator relates to DataFlow's class of the same name (when it has one): "same" semantics,
    # or "approximated" with ``dataflow_note`` saying how; `dataflow-dagster ops dataflow` reports both.
    dataflow_fidelity: ClassVar[str] = "same"
    dataflow_note: ClassVar[str] = ""
    # Row-local rule operators that can state their work as SQL over one row (``row_sql``): the
    # planner fuses consecutive ones into one stage, run as one query and one snapshot. LLM steps
    # (row-local but slow and batched), set-wise steps and generators never fuse.
    fusable: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("name"):
            cls.name = cls.__name__
        # A subclass that replaces ``run`` but not ``row_sql`` no longer does what its row_sql says:
        # it stops being fusable unless it says otherwise.
        if "run" in cls.__dict__ and "row_sql" not in cls.__dict__ and "fusable" not in cls.__dict__:
            cls.fusable = False

    def __init__(self, config: OpConfig | None = None, **kwargs: Any) -> None:
        try:
            self.config = config if config is not None else self.Config(**kwargs)
        except Exception as exc:  # pydantic ValidationError: re-raise with the operator's name
            raise OperatorError(f"invalid config for operator {self.name}: {exc}") from exc

    @property
    def needs_llm(self) -> bool:
        return self.default_prompt is not None

    @abstractmethod
    def input_columns(self) -> list[str]:
        """Columns the input relation must have."""

    @abstractmethod
    def output_columns(self) -> list[str]:
        """Columns this operator adds or rewrites in its output."""

    @abstractmethod
    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        """Create ``ctx.target`` (and ``ctx.rejected``/``ctx.errors`` where relevant); return stats."""

    def run_incremental(self, ctx: OperatorContext, previous: str) -> dict[str, Any] | None:
        """Process only new rows of a set-wise operator, judged against rows seen before.

        ``ctx.source`` holds the new input rows, ``previous`` the input rows of earlier runs that are
        still present (both with ``__pos``). Create ``ctx.target``/``ctx.rejected`` for the new rows
        only, such that earlier outputs plus these equal a full run; return None when that cannot
        be guaranteed (the caller then recomputes the whole input). The default always declines.
        """
        return None

    def row_sql(self, ctx: OperatorContext) -> RowSQL:
        """This operator's effect on one row as SQL (``fusable`` operators only). ``ctx`` is the
        stage's connection: create helper functions/tables there first, as ``run`` would."""
        raise OperatorError(f"operator {self.name} is not fusable (it has no row_sql); run it as its own step")

    def checks(self) -> list[CheckSpec]:
        return []

    def config_dict(self) -> dict[str, Any]:
        return self.config.model_dump(mode="json")

    def fingerprint(self) -> str:
        """Hash of what determines this operator's output apart from its input and prompt: name, version,
        config and the source of its implementation (``code_identity``), so a code edit changes it."""
        payload = json.dumps(
            {
                "op": self.name,
                "version": self.version,
                "code": implementation_hash(type(self)),
                "config": self.config_dict(),
            },
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode()).hexdigest()

    def describe(self) -> str:
        doc = (type(self).__doc__ or "").strip()
        return doc.splitlines()[0] if doc else self.name


def quote_ident(name: str) -> str:
    """Quote an identifier for DuckDB; names come from users' files and must never become SQL."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
