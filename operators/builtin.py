"""Imports every module of the ``operators`` package so their ``@register`` decorators run.

This is the target of the package's own ``dataflow_dagster.operators`` entry point; third-party
packages point the same entry point group at a callable or module of their own. Discovery walks the
package instead of listing modules, so adding an operator is adding a file.
"""

import importlib
import pkgutil

import operators


def register_all() -> None:
    for mod in pkgutil.walk_packages(operators.__path__, prefix="operators."):
        if mod.name.split(".")[-1].startswith("_") or mod.name == "operators.builtin":
            continue
        importlib.import_module(mod.name)
