"""Shared CLI pieces: exit codes, error types, options, and resolving a PIPELINE argument."""

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import yaml

from dataflow_dagster.core.pipeline import Pipeline
from dataflow_dagster.core.storage import Storage
from dataflow_dagster.core.yaml_loader import load_pipeline_dir, load_pipeline_file
from operators.core.contract import OperatorError
from operators.core.llm import LLMClient

EXIT_OK, EXIT_RUN_FAILED, EXIT_CONFIG, EXIT_REFUSED = 0, 1, 2, 3
PIPELINE_DIRS = ("pipelines", "assets/pipelines")


class UserError(click.ClickException):
    """A problem the user can fix: printed as ``error: ...`` with exit code 2, no traceback."""

    exit_code = EXIT_CONFIG

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


class RunFailed(click.ClickException):
    exit_code = EXIT_RUN_FAILED

    def show(self, file: Any = None) -> None:
        click.echo(f"failed: {self.format_message()}", err=True)


class AgentRefusalExit(click.ClickException):
    exit_code = EXIT_REFUSED

    def show(self, file: Any = None) -> None:
        click.echo(f"refused: {self.format_message()}", err=True)


def storage_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--storage",
        "storage_root",
        envvar="DATAFLOW_HOME",
        default=".dataflow",
        show_default=True,
        type=click.Path(file_okay=False, path_type=Path),
        help="Storage root (snapshots, refs, catalog, LLM cache); env DATAFLOW_HOME.",
    )(fn)


def workspace_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "-w",
        "--workspace",
        default="workspace.yaml",
        show_default=True,
        type=click.Path(path_type=Path),
        help="Dagster workspace whose code location lists the named pipelines (module attribute PIPELINES).",
    )(fn)


def _remember_mode(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value:
        ctx.meta["dataflow.structured_output"] = value


def llm_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option(
        "--structured-output",
        envvar="DATAFLOW_STRUCTURED_OUTPUT",
        type=click.Choice(["auto", "json_schema", "json_object", "none"]),
        default=None,
        expose_value=False,
        callback=_remember_mode,
        help="How JSON output is asked of an OpenAI-compatible server: auto (json_schema, falling back to "
        "json_object when the server refuses it), json_schema, json_object or none. Env DATAFLOW_STRUCTURED_OUTPUT.",
    )(fn)
    fn = click.option(
        "--llm-model",
        envvar="DATAFLOW_LLM_MODEL",
        default=None,
        help="Model name on that server; env DATAFLOW_LLM_MODEL.",
    )(fn)
    return click.option(
        "--llm-base-url",
        envvar="DATAFLOW_LLM_BASE_URL",
        default=None,
        help="OpenAI-compatible server (vLLM, llama.cpp, OpenAI); default: the embedded "
        "local model. Env DATAFLOW_LLM_BASE_URL; key from OPENAI_API_KEY.",
    )(fn)


def make_llm(base_url: str | None, model: str | None) -> tuple[LLMClient, dict[str, Any]]:
    from dataflow_dagster.defs.resources import llm_from_env

    ctx = click.get_current_context(silent=True)
    mode = ctx.find_root().meta.get("dataflow.structured_output") if ctx else None
    resource = llm_from_env(base_url, model, structured_output=mode).process_config_and_initialize()
    return resource.create_client(), resource.describe()


def open_storage(root: Path) -> Storage:
    return Storage(root)


def _location_module(workspace: Path) -> Any:
    """Import the code location a workspace.yaml names (python_module or python_file)."""
    try:
        spec = yaml.safe_load(workspace.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise OperatorError(f"{workspace}: not valid YAML ({exc})") from None
    for entry in spec.get("load_from", []) or []:
        if not isinstance(entry, dict):
            continue
        if "python_module" in entry:
            cfg = entry["python_module"]
            name = cfg if isinstance(cfg, str) else cfg.get("module_name")
            wd = workspace.parent / (cfg.get("working_directory", ".") if isinstance(cfg, dict) else ".")
            if str(wd.resolve()) not in sys.path:
                sys.path.insert(0, str(wd.resolve()))
            _forget_other_copies(name, wd.resolve())
            return importlib.import_module(name)
        if "python_file" in entry:
            cfg = entry["python_file"]
            rel = cfg if isinstance(cfg, str) else cfg.get("relative_path")
            path = (workspace.parent / rel).resolve()
            if str(path.parent) not in sys.path:
                sys.path.insert(0, str(path.parent))
            mod_spec = importlib.util.spec_from_file_location(f"_dataflow_location_{path.stem}", path)
            if mod_spec is None or mod_spec.loader is None:
                raise OperatorError(f"{workspace}: cannot import {path}")
            module = importlib.util.module_from_spec(mod_spec)
            mod_spec.loader.exec_module(module)
            return module
    raise OperatorError(f"{workspace}: no python_module or python_file entry under load_from")


def _forget_other_copies(module: str, wd: Path) -> None:
    """Drop an imported package of the same name from another folder (two projects named alike in one
    process, e.g. ``proj``), so the workspace's own module is imported."""
    top = module.split(".")[0]
    loaded = sys.modules.get(top)
    where = getattr(loaded, "__file__", None) or next(iter(getattr(loaded, "__path__", []) or []), None)
    if loaded is not None and where is not None and not Path(where).resolve().is_relative_to(wd):
        for name in [m for m in sys.modules if m == top or m.startswith(f"{top}.")]:
            del sys.modules[name]


def known_pipelines(workspace: Path) -> dict[str, Pipeline]:
    """Pipelines by name: the workspace location's ``PIPELINES`` list, else YAML files in ./pipelines."""
    found: dict[str, Pipeline] = {}
    if workspace.is_file():
        module = _location_module(workspace)
        for p in getattr(module, "PIPELINES", []) or []:
            found[p.name] = p
        if found:
            return found
    for d in PIPELINE_DIRS:
        for p in load_pipeline_dir(d):
            found.setdefault(p.name, p)
    return found


def resolve_pipeline(spec: str, workspace: Path) -> Pipeline:
    """PIPELINE is a YAML file path or the name of a pipeline the workspace defines."""
    path = Path(spec)
    if path.suffix.lower() in (".yaml", ".yml") or path.is_file():
        return load_pipeline_file(path)
    pipelines = known_pipelines(workspace)
    if spec in pipelines:
        return pipelines[spec]
    names = ", ".join(sorted(pipelines)) or "none found"
    raise OperatorError(f"no pipeline named '{spec}' (known: {names}); pass a YAML file path or one of those names")


def make_console() -> "Any":
    """A rich console at least 120 columns wide when output is not a terminal (logs, CI, pipes)."""
    import shutil

    from rich.console import Console

    return Console(width=max(120, shutil.get_terminal_size((120, 24)).columns))


def human_int(n: float | int | None) -> str:
    return "?" if n is None else f"{round(n):,}"


def parse_duration(text: str) -> float:
    """'90', '90s', '15m', '12h', '30d' -> seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    t = text.strip().lower()
    try:
        if t and t[-1] in units:
            return float(t[:-1]) * units[t[-1]]
        return float(t)
    except ValueError:
        raise click.BadParameter(f"'{text}' is not a duration like 90s, 15m, 12h or 30d") from None


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true", "yes")
