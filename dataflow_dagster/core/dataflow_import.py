"""DataFlow pipeline files (``class ...Pipeline`` with ``__init__`` and ``forward``) to our YAML.

The file is parsed with ``ast`` and never executed (DataFlow pipelines import torch and start LLM
servers at construction). What is read: the ``FileStorage(first_entry_file_name=...)`` of
``__init__``, every ``self.x = SomeOperator(...)`` whose class comes from ``dataflow.operators``, and
every ``self.x.run(storage=..., key=...)`` call of ``forward`` in order. Constructor and ``run()``
keys become the step's config through the same translation the YAML loader applies (aliases and
``dataflow_keys``); serving objects (``llm_serving``, ...) become the pipeline's LLM resource and are
noted in the file's header, so nothing DataFlow was told is dropped without a word.
"""

import ast
import keyword
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
from pydantic import ValidationError

from dataflow_dagster.core.io_formats import import_file
from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from operators.core.contract import Kind, OperatorError
from operators.core.registry import resolve

# Constructor/run keys that hold serving objects or storage: configured once per pipeline here.
RESOURCE_KEYS = {
    "storage": "the step's input/output tables are managed by the pipeline",
    "llm_serving": "LLM calls go to the pipeline's LLM resource (embedded model, or DATAFLOW_LLM_BASE_URL)",
    "embedding_serving": "embeddings come from the pipeline's LLM resource",
    "serving": "model calls go to the pipeline's LLM resource",
    "database_manager": "databases are found under the step's db_root setting",
}
FORMATS = {".jsonl": "jsonl", ".json": "json", ".csv": "csv", ".parquet": "parquet"}


class ImportRefused(OperatorError):
    """The file cannot be converted; the message names each missing operator or bad key."""


@dataclass
class _Obj:
    """A value that is not a literal: a call (``FormatStrPrompt(...)``) or an unresolvable expression."""

    call: str | None
    kwargs: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    def as_config(self) -> Any:
        return dict(self.kwargs) if self.call else self.source


@dataclass
class ConvertedPipeline:
    pipeline: Pipeline
    notes: list[str]
    source_path: str


def _name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


class _Reader:
    def __init__(self, tree: ast.Module, file: Path) -> None:
        self.file = file
        self.operators = {
            alias.asname or alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dataflow.operators")
            for alias in node.names
        }
        self.values: dict[str, Any] = {}  # "self.x" / "x" -> evaluated value

    def value(self, node: ast.expr) -> Any:
        try:
            return ast.literal_eval(node)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            pass
        key = ast.unparse(node)
        if key in self.values:
            return self.values[key]
        if isinstance(node, ast.Call):
            kwargs = {kw.arg: self.value(kw.value) for kw in node.keywords if kw.arg}
            return _Obj(_name(node.func), kwargs, key)
        if isinstance(node, ast.List | ast.Tuple):
            return [self.value(e) for e in node.elts]
        if isinstance(node, ast.Dict):
            return {self.value(k): self.value(v) for k, v in zip(node.keys, node.values, strict=True) if k is not None}
        return _Obj(None, source=key)


def _pipeline_class(tree: ast.Module, file: Path) -> ast.ClassDef:
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            methods = {b.name for b in node.body if isinstance(b, ast.FunctionDef | ast.AsyncFunctionDef)}
            if {"__init__", "forward"} <= methods:
                return node
    raise ImportRefused(f"{file}: no class with __init__ and forward (a DataFlow pipeline) was found")


def _method(cls: ast.ClassDef, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef:
    return next(b for b in cls.body if isinstance(b, ast.FunctionDef | ast.AsyncFunctionDef) and b.name == name)


def _step_name(attr: str, used: set[str]) -> str:
    base = re.sub(r"_+", "_", re.sub(r"\W", "_", attr)).strip("_") or "step"
    if base[0].isdigit() or keyword.iskeyword(base):
        base = f"s_{base}"
    name, i = base, 2
    while name in used:
        name, i = f"{base}_{i}", i + 1
    used.add(name)
    return name


def _source_path(path: str, data_root: Path | None) -> str:
    """DataFlow's examples live under ``example_data/`` next to its pipelines; map that folder to ``data_root``."""
    if data_root is not None and "example_data/" in path:
        return str((data_root / path.split("example_data/", 1)[1]).resolve())
    return path


def read_dataflow_pipeline(file: Path, data_root: Path | None = None, name: str | None = None) -> ConvertedPipeline:
    """Our pipeline for a DataFlow pipeline file; ImportRefused names every operator or key that stops it."""
    tree = ast.parse(file.read_text(encoding="utf-8"), str(file))
    reader = _Reader(tree, file)
    cls = _pipeline_class(tree, file)
    storage_path: str | None = None
    declared: dict[str, tuple[str, dict[str, Any], int]] = {}
    for node in ast.walk(_method(cls, "__init__")):
        if not isinstance(node, ast.Assign) or len(node.targets) != 1:
            continue
        target = ast.unparse(node.targets[0])
        value = reader.value(node.value)
        reader.values[target] = value
        if isinstance(value, _Obj) and value.call == "FileStorage":
            first = value.kwargs.get("first_entry_file_name")
            if first is None and isinstance(node.value, ast.Call) and node.value.args:
                first = reader.value(node.value.args[0])
            storage_path = first if isinstance(first, str) else None
        elif isinstance(value, _Obj) and value.call in reader.operators:
            declared[target] = (value.call, value.kwargs, node.lineno)
    if storage_path is None:
        raise ImportRefused(f"{file}: no FileStorage(first_entry_file_name=...) in __init__; nothing to read")
    runs: list[tuple[str, dict[str, Any], int]] = []
    for node in ast.walk(_method(cls, "forward")):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "run":
            target = ast.unparse(node.func.value)
            if target in declared:
                kwargs = {kw.arg: reader.value(kw.value) for kw in node.keywords if kw.arg}
                runs.append((target, kwargs, node.lineno))
    runs.sort(key=lambda r: r[2])
    if not runs:
        raise ImportRefused(f"{file}: forward() runs no DataFlow operator")
    missing = []
    for target, _, line in runs:
        op_name = declared[target][0]
        try:
            resolve(op_name)
        except OperatorError as exc:
            missing.append(f"{op_name} ({target}, line {line}): {exc}")
    if missing:
        raise ImportRefused(f"{file}: cannot convert; missing operator(s):\n  " + "\n  ".join(missing))
    notes: list[str] = []
    steps, used = [], set()
    for target, run_kwargs, line in runs:
        op_name, init_kwargs, _ = declared[target]
        step = _step_name(target.removeprefix("self."), used)
        steps.append(_step(file, step, op_name, {**init_kwargs, **run_kwargs}, line, notes))
    source = Source(path=_source_path(storage_path, data_root), format=FORMATS.get(Path(storage_path).suffix))
    pipe_name = name or _step_name(file.stem, set())
    pipeline = Pipeline(
        pipe_name, source, steps, description=f"converted from DataFlow's {file.name}", base_dir=file.parent
    )
    _check_columns(file, pipeline, {s.name: declared[t][0] for s, (t, _, _) in zip(steps, runs, strict=True)}, notes)
    return ConvertedPipeline(pipeline, notes, storage_path)


def _check_columns(file: Path, pipeline: Pipeline, dataflow_ops: dict[str, str], notes: list[str]) -> None:
    """Refuse a conversion whose steps would not find their columns (an approximated operator that writes
    fewer columns than DataFlow's, say), naming the DataFlow operators involved; the input file's
    columns are read when it exists."""
    path = pipeline.source_path()
    if not path.is_file():
        notes.append(f"source {path} was not found: the steps' columns were not checked against it")
        return
    con = duckdb.connect()
    try:
        import_file(con, path, "__source", pipeline.source.format)
        columns = [r[0] for r in con.execute("DESCRIBE __source").fetchall()]
    finally:
        con.close()
    try:
        pipeline.check(columns)
    except OperatorError as exc:
        names = [s.name for s in pipeline.steps]
        bad = next((n for n in names if f"step '{n}'" in str(exc)), names[-1])
        before = ", ".join(f"{n}={dataflow_ops[n]}" for n in names[: names.index(bad)]) or "none"
        raise ImportRefused(
            f"{file}: step {bad} (DataFlow's {dataflow_ops[bad]}) would not find its columns once converted: {exc}. "
            f"The operators before it ({before}) do not all write what DataFlow's do (`dataflow-dagster ops dataflow`)"
        ) from None


def _step(file: Path, step: str, op_name: str, raw: dict[str, Any], line: int, notes: list[str]) -> Step:
    op_cls, alias = resolve(op_name)
    fields = op_cls.Config.model_fields
    config: dict[str, Any] = {}
    for key, value in raw.items():
        if key in RESOURCE_KEYS and key not in fields:
            if key != "storage":
                notes.append(f"{step}: DataFlow's {key} is not a setting here: {RESOURCE_KEYS[key]}")
            continue
        if key == "output_key" and op_cls.kind == Kind.FILTER and "output_key" not in fields:
            notes.append(
                f"{step}: DataFlow's label column output_key={value!r} is not written: kept rows are the step's "
                f"table, rejected rows its __rejected table with _reason"
            )
            continue
        if key == "prompt_template" and isinstance(value, _Obj) and value.call != "FormatStrPrompt":
            notes.append(f"{step}: DataFlow's prompt {value.source} is replaced by {op_cls.name}'s own prompt")
            continue
        config[key] = value.as_config() if isinstance(value, _Obj) else value
    table = {**op_cls.Config.all_dataflow_keys(), **(alias.keys if alias else {})}
    for key, value in config.items():  # keys accepted as already our behaviour: say so in the header
        entry = table.get(key)
        if entry is not None and entry.note and key not in fields:
            try:
                if entry.apply(key, value) == {}:
                    notes.append(f"{step}: DataFlow's {key}={value!r} needs no setting here: {entry.note}")
            except ValueError:
                pass  # refused below, with the reason
    try:
        if alias is not None:
            config = alias.translate(op_name, config)
        op = op_cls(op_cls.Config(**config))
    except (ValidationError, ValueError) as exc:
        problem = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        if isinstance(exc, ValidationError) and exc.errors()[0]["type"] == "extra_forbidden":
            key = ".".join(str(x) for x in exc.errors()[0]["loc"])
            problem = f"DataFlow setting `{key}` has no counterpart in {op_cls.name} (settings: {sorted(fields)})"
        raise ImportRefused(
            f"{file}:{line}: step {step} ({op_name}): {problem.removeprefix('Value error, ')}"
        ) from None
    if alias is not None:
        notes.append(f"{step}: DataFlow's {op_name} is our {op_cls.name} ({alias.fidelity}: {alias.note})")
    return Step(step, op)
