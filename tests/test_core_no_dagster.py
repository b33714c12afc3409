"""The engine (``dataflow_dagster.core``) never imports Dagster, so step subprocesses and CLI calls
that only need the engine don't pay Dagster's start-up. Checked in a fresh interpreter, because this
test process has imported Dagster long ago."""

import pkgutil
import subprocess
import sys
from pathlib import Path

import dataflow_dagster.core as core

PROBE = """
import importlib, pkgutil, sys
import dataflow_dagster.core as core
names = [m.name for m in pkgutil.walk_packages(core.__path__, "dataflow_dagster.core.")]
for name in names:
    importlib.import_module(name)
import operators.builtin
loaded = sorted(m for m in sys.modules if m == "dagster" or m.startswith("dagster."))
print(len(names), "modules;", "dagster loaded by: " + ",".join(loaded[:3]) if loaded else "no dagster")
sys.exit(1 if loaded else 0)
"""


def test_engine_modules_import_without_dagster():
    names = [m.name for m in pkgutil.walk_packages(core.__path__, "dataflow_dagster.core.")]
    assert len(names) >= 10  # the probe really walks the engine
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=Path(__file__).parents[1], timeout=120
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "no dagster" in out.stdout
