"""The identity of an operator's implementation, folded into its fingerprint.

Why: a step's ``code_version`` and its row-memo key must change when the code that computes the
step changes, not only when someone remembers to bump ``Operator.version``. A hand-kept version is
forgotten on the most ordinary edit (a keep rule from ``>= 5`` to ``>= 7``), and the memo then
serves old verdicts forever. Hashing source is what cannot be forgotten.

Granularity, and why: we hash the *source files of the modules* that define each class in the
operator's MRO, plus the project modules those modules use directly (functions, classes, SQL
helpers and constants they import: one level of the import graph), plus the native kernel sources
(``.c``/``.h``) when the native kernel package is among them. Module granularity is cheap, robust
(helper functions and module-level SQL constants next to the class are covered without parsing),
and errs towards marking too much stale rather than too little: an edit to a module used by an
operator recomputes that operator's steps, which costs time, never correctness. Modules outside
the operator's own top-level package (the standard library, DuckDB, numpy) are pinned by the
environment, not hashed. An operator whose work is done by another class (an evaluator derived
from a filter) names it in ``delegates_to`` and inherits its identity.
"""

import hashlib
import inspect
import sys
from functools import lru_cache
from pathlib import Path
from types import ModuleType

_SKIP_MODULES = {"builtins", "abc", "typing"}
_NATIVE_PACKAGE = "operators.general_text.native"


def _digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _module_file(module: ModuleType) -> str | None:
    try:
        path = inspect.getsourcefile(module)
    except TypeError:
        return None
    return path if path and Path(path).is_file() else None


def _used_modules(module: ModuleType) -> set[str]:
    """Modules of the same top-level package that ``module`` uses by name (one import level)."""
    top = module.__name__.split(".")[0]
    used: set[str] = set()
    for value in vars(module).values():
        name = value.__name__ if isinstance(value, ModuleType) else getattr(value, "__module__", None)
        if isinstance(name, str) and name.split(".")[0] == top and name != module.__name__:
            used.add(name)
    return used


def _native_sources() -> list[str]:
    module = sys.modules.get(_NATIVE_PACKAGE)
    folder = Path(module.__file__).parent if module and module.__file__ else None
    if folder is None:
        return []
    return sorted(str(p) for p in folder.iterdir() if p.suffix in (".c", ".h"))


@lru_cache(maxsize=4096)
def implementation_hash(cls: type) -> str:
    """sha256 over the source files that implement ``cls`` (see the module docstring).

    Cached per class object: the code that runs is the code that was imported, and a reload (or a
    new code-location process) makes a new class, hence a fresh hash.
    """
    modules: set[str] = set()
    for klass in cls.__mro__:
        if klass.__module__ in _SKIP_MODULES or klass is object:
            continue
        modules.add(klass.__module__)
    for name in list(modules):
        mod = sys.modules.get(name)
        if mod is not None:
            modules |= _used_modules(mod)
    h = hashlib.sha256()
    for name in sorted(modules):
        mod = sys.modules.get(name)
        path = _module_file(mod) if mod is not None else None
        if path is None:
            # defined without a source file (exec, a notebook cell): the class's own source if it
            # can be found, else its qualified name, so identity is at worst as coarse as before
            try:
                text = inspect.getsource(cls)
            except (OSError, TypeError):
                text = cls.__qualname__
            h.update(f"{name}\0{hashlib.sha256(text.encode()).hexdigest()}\n".encode())
            continue
        h.update(f"{name}\0{_digest(path)}\n".encode())
    if _NATIVE_PACKAGE in modules:
        for path in _native_sources():
            h.update(f"{Path(path).name}\0{_digest(path)}\n".encode())
    for delegate in getattr(cls, "delegates_to", ()):
        h.update(f"delegate\0{implementation_hash(delegate)}\n".encode())
    return h.hexdigest()
