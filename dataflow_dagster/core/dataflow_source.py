"""The real open-dataflow package, read as source: its operator registry and its shipped pipelines.

DataFlow imports torch and friends at import time, so nothing here imports it: the wheel is fetched
once with ``pip download --no-deps`` into a cache folder and its files are read with ``ast`` from the
zip. A class counts as registered when it carries DataFlow's ``@OPERATOR_REGISTRY.register()``
decorator, which is exactly what DataFlow's own registry collects; so coverage figures computed
from here cannot drift from the package.
"""

import ast
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from operators.core.contract import OperatorError

DATAFLOW_VERSION = "1.0.13"
CACHE_ENV = "DATAFLOW_COMPAT_CACHE"
PIPELINE_DIRS = ("cpu_pipelines", "api_pipelines", "gpu_pipelines", "core_text")


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "dataflow-dagster" / "open-dataflow")


def wheel_path(download: bool = True) -> Path:
    """The cached open-dataflow wheel, downloaded (no dependencies, nothing imported) when missing."""
    folder = cache_dir()
    pattern = f"open_dataflow-{DATAFLOW_VERSION}-*.whl"
    found = sorted(folder.glob(pattern))
    if found:
        return found[0]
    if not download:
        raise OperatorError(f"open-dataflow {DATAFLOW_VERSION} is not in {folder}; run scripts/install.sh")
    folder.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", f"open-dataflow=={DATAFLOW_VERSION}", "-d"]
    proc = subprocess.run([*cmd, str(folder)], capture_output=True, text=True, timeout=600)
    found = sorted(folder.glob(pattern))
    if proc.returncode != 0 or not found:
        raise OperatorError(
            f"could not download open-dataflow {DATAFLOW_VERSION} into {folder} (pip said: "
            f"{(proc.stderr or proc.stdout).strip()[-300:]}); download the wheel there yourself or set ${CACHE_ENV}"
        )
    return found[0]


@dataclass(frozen=True)
class DataflowOperator:
    name: str
    family: str  # the folder under dataflow/operators (general_text, reasoning, ...)
    module: str
    init_keys: tuple[str, ...]
    run_keys: tuple[str, ...]


def _keys(fn: ast.FunctionDef | None, drop: set[str]) -> tuple[str, ...]:
    if fn is None:
        return ()
    args = [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs]
    return tuple(a.arg for a in args if a.arg not in drop)


def _registered(tree: ast.Module) -> list[ast.ClassDef]:
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        and any("OPERATOR_REGISTRY.register" in ast.unparse(d) for d in node.decorator_list)
    ]


@cache
def registry(wheel: Path | None = None) -> dict[str, DataflowOperator]:
    """Every operator DataFlow registers, by class name (first definition wins, as in DataFlow)."""
    out: dict[str, DataflowOperator] = {}
    with zipfile.ZipFile(wheel or wheel_path()) as zf:
        for member in sorted(zf.namelist()):
            if not (member.startswith("dataflow/operators/") and member.endswith(".py")):
                continue
            tree = ast.parse(zf.read(member).decode("utf-8"), member)
            for cls in _registered(tree):
                fns = {b.name: b for b in cls.body if isinstance(b, ast.FunctionDef)}
                out.setdefault(
                    cls.name,
                    DataflowOperator(
                        cls.name,
                        member.split("/")[2],
                        member.removesuffix(".py").replace("/", "."),
                        _keys(fns.get("__init__"), {"self"}),
                        _keys(fns.get("run"), {"self", "storage"}),
                    ),
                )
    return out


def shipped_pipelines(wheel: Path | None = None) -> dict[str, str]:
    """DataFlow's shipped pipeline files (statics/pipelines/{cpu,api,gpu}_pipelines/**.py and the prompted
    examples in core_text/): path -> source."""
    out: dict[str, str] = {}
    with zipfile.ZipFile(wheel or wheel_path()) as zf:
        for member in sorted(zf.namelist()):
            parts = member.split("/")
            if (
                member.startswith("dataflow/statics/pipelines/")
                and len(parts) > 4
                and parts[3] in PIPELINE_DIRS
                and member.endswith(".py")
                and not parts[-1].startswith("__")
            ):
                out["/".join(parts[3:])] = zf.read(member).decode("utf-8")
    return out
