"""Imports every built-in operator module so their ``@register`` decorators run.

This is the target of the package's own ``dataflow_dagster.operators`` entry point; third-party
packages point the same entry point group at a callable or module of their own.
"""

import importlib

BUILTIN_MODULES = (
    "operators.core.generic",
    "operators.general_text.heuristics",
    "operators.general_text.dedup",
    "operators.general_text.llm_qa",
)


def register_all() -> None:
    for mod in BUILTIN_MODULES:
        importlib.import_module(mod)
