"""Operator registry: by decorator for this package, by entry point for users' packages.

The registry is the one place YAML pipelines, the CLI and the pipeline agent look operators up, so
it keeps enough metadata (kind, domain, tags, needs-LLM, description) to be searched.
"""

import importlib
import os
import tomllib
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from operators.core.contract import Kind, Operator, OperatorError

if TYPE_CHECKING:
    from operators.core.dataflow_names import Alias

ENTRY_POINT_GROUP = "dataflow_dagster.operators"
# A project's own operator modules: the package here is called ``operators``, so a user's project
# cannot add an ``operators/`` package of its own; it names its modules instead.
USER_MODULES_ENV = "DATAFLOW_OPERATOR_MODULES"

_REGISTRY: dict[str, type[Operator]] = {}
_entry_points_loaded = False

T = TypeVar("T", bound=type[Operator])


def register(cls: T) -> T:
    """Class decorator: make an operator available by name to pipelines, YAML and the agent."""
    existing = _REGISTRY.get(cls.name)
    if existing is not None and existing is not cls:
        same_place = (existing.__module__, existing.__qualname__) == (cls.__module__, cls.__qualname__)
        if not same_place:
            raise OperatorError(
                f"operator name '{cls.name}' is registered twice: {existing.__module__}.{existing.__qualname__}"
                f" and {cls.__module__}.{cls.__qualname__}; give one of them another `name`"
            )
    _REGISTRY[cls.name] = cls
    return cls


def load_entry_points() -> None:
    """Import every ``dataflow_dagster.operators`` entry point once (each registers on import/call)."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    from operators.builtin import register_all

    register_all()
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.value == "operators.builtin:register_all":
            continue
        loaded = ep.load()
        if callable(loaded) and not isinstance(loaded, type):
            loaded()


_user_modules_loaded: set[str] = set()


def user_module_names(cwd: str | os.PathLike[str] | None = None) -> list[str]:
    """Module names from ``$DATAFLOW_OPERATOR_MODULES`` (comma separated) and from
    ``[tool.dataflow-dagster] operator-modules`` in the working directory's pyproject.toml."""
    names = [n.strip() for n in os.environ.get(USER_MODULES_ENV, "").split(",") if n.strip()]
    pyproject = Path(cwd or os.getcwd()) / "pyproject.toml"
    if pyproject.is_file():
        try:
            tool = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {})
        except tomllib.TOMLDecodeError as exc:
            raise OperatorError(f"{pyproject}: invalid TOML ({exc}); fix it to load operator modules") from exc
        extra = tool.get("dataflow-dagster", {}).get("operator-modules", [])
        names += [n for n in extra if isinstance(n, str) and n not in names]
    return names


def load_user_modules() -> None:
    """Import the project's operator modules (each registers on import); new names are picked up
    on every registry lookup, so setting the variable in a running process works too."""
    for name in user_module_names():
        if name in _user_modules_loaded:
            continue
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise OperatorError(
                f"cannot import operator module '{name}' (from ${USER_MODULES_ENV} or pyproject.toml "
                f"[tool.dataflow-dagster] operator-modules): {exc}; check the name and that its directory "
                "is on PYTHONPATH"
            ) from exc
        _user_modules_loaded.add(name)


def get(name: str) -> type[Operator]:
    """The operator registered as ``name``; a DataFlow name we offer under another name resolves to
    that operator (see ``resolve`` for its key translation), one we do not offer raises with the reason."""
    return resolve(name)[0]


def resolve(name: str) -> "tuple[type[Operator], Alias | None]":
    """``(operator, alias)``: ``alias`` is set when ``name`` is a DataFlow name for an operator of ours
    registered under another name; its ``translate`` turns DataFlow's config keys into ours."""
    from operators.core.dataflow_names import Alias, resolve_dataflow

    load_entry_points()
    load_user_modules()
    if name in _REGISTRY:
        return _REGISTRY[name], None
    known = resolve_dataflow(name)
    if isinstance(known, Alias) and known.ours in _REGISTRY:
        return _REGISTRY[known.ours], known
    if known is not None and not isinstance(known, Alias):
        raise OperatorError(known.message(name))
    try:
        return _REGISTRY[name]
    except KeyError:
        close = [n for n in _REGISTRY if name.lower() in n.lower() or n.lower() in name.lower()]
        hint = f" Did you mean: {', '.join(sorted(close)[:5])}?" if close else ""
        raise OperatorError(f"unknown operator '{name}'.{hint} See `dataflow-dagster ops list`.") from None


def all_operators() -> dict[str, type[Operator]]:
    load_entry_points()
    load_user_modules()
    return dict(sorted(_REGISTRY.items()))


def search(
    text: str | None = None,
    kind: Kind | str | None = None,
    domain: str | None = None,
    tag: str | None = None,
    needs_llm: bool | None = None,
) -> list[type[Operator]]:
    out = []
    for cls in all_operators().values():
        if kind is not None and cls.kind != Kind(kind):
            continue
        if domain is not None and cls.domain != domain:
            continue
        if tag is not None and tag not in cls.tags:
            continue
        if needs_llm is not None and (cls.default_prompt is not None) != needs_llm:
            continue
        if text:
            hay = " ".join([cls.name, cls.domain, *cls.tags, cls.__doc__ or ""]).lower()
            if not all(word in hay for word in text.lower().split()):
                continue
        out.append(cls)
    return out


def info(cls: type[Operator]) -> dict[str, Any]:
    return {
        "name": cls.name,
        "kind": str(cls.kind),
        "domain": cls.domain,
        "tags": list(cls.tags),
        "version": cls.version,
        "needs_llm": cls.default_prompt is not None,
        "description": (cls.__doc__ or "").strip(),
        "config": cls.Config.model_json_schema(),
        "prompt": cls.default_prompt.template if cls.default_prompt else None,
    }
