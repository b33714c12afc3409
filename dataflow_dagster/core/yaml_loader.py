"""YAML pipelines: one file per pipeline, operators by registry name, configs checked by their models.

The file is parsed with PyYAML's node composer rather than ``safe_load`` because the nodes keep their
line and column: a typo in a config key deep inside step 7 is reported as ``file:line: key`` instead
of a bare pydantic dump, which is the difference between a no-code path and a debugging session.

Format (see docs/yaml.md)::

    pipeline: my_pipeline          # Python identifier; the Dagster group and job name
    description: ...               # optional
    source: {path: data/in.jsonl, format: jsonl, required_columns: [text]}   # path relative to the file
    steps:
      - name: clean                # asset key [pipeline, name]
        op: ContentNullFilter      # registry name (`dataflow-dagster ops list`)
        config: {input_key: text}  # validated by the operator's Config
        after: load                # optional; default: the previous step
        prompt: "text with {fields}"   # optional prompt override (or {template:, system:})
        llm: judge                 # optional: LLM resource key serving this step (default: llm)
"""

import logging
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from dataflow_dagster.core.export_options import ExportOptions
from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from operators.core.contract import OperatorError
from operators.core.prompt import PromptTemplate
from operators.core.registry import resolve as resolve_operator

_log = logging.getLogger("dataflow.yaml")

TOP_KEYS = {"pipeline", "description", "source", "steps"}
SOURCE_KEYS = {"path", "format", "required_columns", "name"}
STEP_KEYS = {"name", "op", "config", "after", "prompt", "description", "fuse", "llm", "export"}
PROMPT_KEYS = {"template", "system"}

Path_ = tuple[str | int, ...]
_SCALARS = yaml.SafeLoader("")


class PipelineFileError(OperatorError):
    """A YAML pipeline problem, with the file, line and key it is about."""

    def __init__(self, file: Path, line: int | None, key: str, message: str) -> None:
        self.file, self.line, self.key, self.problem = file, line, key, message
        where = f"{file}:{line}" if line is not None else str(file)
        super().__init__(f"{where}: {key}: {message}" if key else f"{where}: {message}")


@dataclass
class _Doc:
    """Plain data from the file plus the line of every node, keyed by its path."""

    file: Path
    data: Any
    lines: dict[Path_, int]

    def line(self, path: Path_) -> int | None:
        while path:  # fall back to the closest enclosing node that has a line
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())

    def error(self, path: Path_, message: str) -> PipelineFileError:
        return PipelineFileError(self.file, self.line(path), _dotted(path), message)


def _dotted(path: Path_) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


# Bounds on what a pipeline file may expand to. Aliases make a small file stand for a huge tree (a
# 420-byte "billion laughs" file once took 55 s and then a MemoryError at code-location load), and a
# recursive alias or thousands of nested levels recursed until Python gave up. A real pipeline file
# has a few hundred nodes and a depth under 10.
MAX_NODES = 100_000
MAX_DEPTH = 64


def _to_python(node: yaml.Node, path: Path_, lines: dict[Path_, int], file: Path, budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise PipelineFileError(
            file,
            node.start_mark.line + 1,
            _dotted(path),
            f"expands to more than {MAX_NODES} values (YAML aliases repeating large blocks?); "
            "write the pipeline without such aliases",
        )
    if len(path) > MAX_DEPTH:
        raise PipelineFileError(
            file,
            node.start_mark.line + 1,
            _dotted(path[:3]) + "...",
            f"nests deeper than {MAX_DEPTH} levels (a recursive alias?); a pipeline file is a few levels deep",
        )
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for knode, vnode in node.value:
            key = knode.value if isinstance(knode, yaml.ScalarNode) else None
            if not isinstance(key, str):
                raise PipelineFileError(file, knode.start_mark.line + 1, _dotted(path), f"key {key!r} must be text")
            if key in out:
                raise PipelineFileError(
                    file,
                    knode.start_mark.line + 1,
                    _dotted((*path, key)),
                    "appears twice in the same mapping; keep one",
                )
            out[key] = _to_python(vnode, (*path, key), lines, file, budget)
            lines[(*path, key)] = knode.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(v, (*path, i), lines, file, budget) for i, v in enumerate(node.value)]
    # Scalars: the safe constructor resolves the tag (int, float, bool, null, str) as safe_load would.
    value = _SCALARS.construct_object(node, deep=True)
    if isinstance(value, float) and not math.isfinite(value):
        raise PipelineFileError(
            file,
            node.start_mark.line + 1,
            _dotted(path),
            f"is {node.value}, not a finite number; thresholds and sizes must be finite (write a large number)",
        )
    return value


def parse_yaml(text: str, file: Path) -> _Doc:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:
        raise PipelineFileError(file, None, "", f"nests too deeply to read (more than {MAX_DEPTH} levels)") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise PipelineFileError(file, line, "", f"not valid YAML: {exc.problem or exc}") from None
    if node is None:
        raise PipelineFileError(file, 1, "", "the file is empty; a pipeline needs `pipeline`, `source` and `steps`")
    lines: dict[Path_, int] = {}
    return _Doc(file, _to_python(node, (), lines, file, [MAX_NODES]), lines)


def _require_map(doc: _Doc, value: Any, path: Path_, allowed: set[str], required: Iterable[str] = ()) -> dict:
    if not isinstance(value, dict):
        raise doc.error(path, f"must be a mapping, got {type(value).__name__}")
    for key in value:
        if key not in allowed:
            raise doc.error((*path, key), f"unknown key; allowed keys are {sorted(allowed)}")
    for key in required:
        if key not in value:
            raise doc.error(path, f"missing required key `{key}`")
    return value


def _prompt(doc: _Doc, raw: Any, path: Path_, op: Any, step_name: str) -> PromptTemplate | None:
    if raw is None:
        return None
    base = op.default_prompt  # the instance's: prompted operators build theirs from the config
    if base is None:
        raise doc.error(path, f"operator {op.name} does not use a prompt; remove `prompt`")
    if isinstance(raw, str):
        text, system = raw, base.system
    else:
        spec = _require_map(doc, raw, path, PROMPT_KEYS, ["template"])
        text, system = spec["template"], spec.get("system", base.system)
        if not isinstance(text, str) or not isinstance(system, str):
            raise doc.error(path, "`template` and `system` must be text")
    prompt = PromptTemplate(f"{base.name}@{step_name}", text, system, base.output_schema)
    try:
        prompt.fields()
    except ValueError as exc:
        msg = f"template is not a valid format string ({exc}); write literal braces as {{{{ }}}}"
        raise doc.error(path, msg) from None
    return prompt


def _step(doc: _Doc, raw: Any, i: int) -> Step:
    path: Path_ = ("steps", i)
    spec = _require_map(doc, raw, path, STEP_KEYS, ["name", "op"])
    op_name = spec["op"]
    try:
        op_cls, alias = resolve_operator(str(op_name))
    except OperatorError as exc:
        raise doc.error((*path, "op"), str(exc)) from None
    config = spec.get("config") or {}
    if not isinstance(config, dict):
        raise doc.error((*path, "config"), f"must be a mapping of {op_cls.name}'s settings")
    if alias is not None:  # a DataFlow name: its keys become ours
        try:
            config = alias.translate(str(op_name), config)
        except ValueError as exc:
            raise doc.error((*path, "config"), f"{op_name} (our {op_cls.name}): {exc}") from None
    try:
        op = op_cls(op_cls.Config(**config))
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        key_path = (*path, "config", *loc)
        field = ".".join(str(x) for x in loc) or "config"
        msg = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            allowed = sorted(op_cls.Config.model_fields)
            msg = f"{op_cls.name} has no setting `{field}`; its settings are {allowed}"
        else:
            msg = f"{op_cls.name} setting `{field}`: {msg}"
        more = f" (and {len(exc.errors()) - 1} more problem(s))" if len(exc.errors()) > 1 else ""
        raise doc.error(key_path, msg + more) from None
    name, after, desc, llm = spec["name"], spec.get("after"), spec.get("description"), spec.get("llm")
    for key, val in (("name", name), ("after", after), ("description", desc), ("llm", llm)):
        if val is not None and not isinstance(val, str):
            raise doc.error((*path, key), "must be text")
    fuse = spec.get("fuse", True)
    if not isinstance(fuse, bool):
        raise doc.error((*path, "fuse"), "must be true or false")
    if llm is not None and not llm.isidentifier():
        raise doc.error((*path, "llm"), f"'{llm}' is not a resource key (letters, digits, _), e.g. `llm: judge`")
    return Step(
        name,
        op,
        after=after,
        prompt=_prompt(doc, spec.get("prompt"), (*path, "prompt"), op, name),
        description=desc,
        fuse=fuse,
        llm=llm,
        export=_export(doc, spec.get("export"), (*path, "export")),
    )


def _export(doc: _Doc, raw: Any, path: Path_) -> ExportOptions | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise doc.error(path, "must be a mapping of export options, e.g. {out_dir: exports/qa, license: apache-2.0}")
    try:
        return ExportOptions(**raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        if first["type"] == "extra_forbidden":
            known = sorted(ExportOptions.model_fields)
            msg = f"export has no option `{'.'.join(map(str, loc))}`; its options are {known}"
        else:
            msg = f"export: {first['msg']}"
        raise doc.error((*path, *loc), msg) from None


def pipeline_from_doc(doc: _Doc) -> Pipeline:
    top = _require_map(doc, doc.data, (), TOP_KEYS, ["pipeline", "source", "steps"])
    src = _require_map(doc, top["source"], ("source",), SOURCE_KEYS, ["path"])
    cols = src.get("required_columns") or []
    if not isinstance(cols, list) or not all(isinstance(c, str) for c in cols):
        raise doc.error(("source", "required_columns"), "must be a list of column names")
    steps_raw = top["steps"]
    if not isinstance(steps_raw, list) or not steps_raw:
        raise doc.error(("steps",), "must be a non-empty list of steps")
    steps = [_step(doc, raw, i) for i, raw in enumerate(steps_raw)]
    seen = {str(src.get("name") or "load")}
    for i, st in enumerate(steps):  # checked here, not only in Pipeline, to point at the right line
        if not st.name.isidentifier() or "__" in st.name:
            raise doc.error(("steps", i, "name"), f"'{st.name}' must be an identifier without '__'")
        if st.name in seen:
            raise doc.error(("steps", i, "name"), f"step name '{st.name}' is used twice; names must be unique")
        if st.after is not None and st.after not in seen:
            raise doc.error(
                ("steps", i, "after"),
                f"'{st.after}' is not an earlier step (known: {sorted(seen)}); steps may only follow steps above them",
            )
        seen.add(st.name)
    source = Source(
        path=str(src["path"]),
        format=src.get("format"),
        required_columns=list(cols),
        **({"name": src["name"]} if src.get("name") else {}),
    )
    try:
        pipeline = Pipeline(
            name=str(top["pipeline"]),
            source=source,
            steps=steps,
            description=str(top.get("description") or ""),
            base_dir=doc.file.parent,
        )
    except OperatorError as exc:
        msg = str(exc)
        bad = next((i for i, s in enumerate(steps) if f"'{s.name}'" in msg), None)
        raise doc.error(("steps", bad) if bad is not None else ("pipeline",), msg) from None
    return pipeline


def _component_attributes(doc: _Doc) -> _Doc:
    """A Dagster component file (``type: dataflow_dagster.PipelineComponent`` + ``attributes:``) holds
    a pipeline under ``attributes``; lines keep pointing into the file."""
    data = doc.data
    is_component = (
        isinstance(data, dict)
        and set(data) <= {"type", "attributes", "requirements", "post_processing"}
        and "attributes" in data
        and str(data.get("type", "")).endswith("PipelineComponent")
    )
    if not is_component:
        return doc
    lines = {p[1:]: n for p, n in doc.lines.items() if p[:1] == ("attributes",)}
    return _Doc(doc.file, data["attributes"], lines)


def load_pipeline_file(path: str | os.PathLike[str]) -> Pipeline:
    """Parse and validate one YAML pipeline (or a PipelineComponent's defs.yaml); errors name file, line, key."""
    file = Path(path).resolve()
    if not file.is_file():
        raise OperatorError(f"pipeline file {file} does not exist")
    return pipeline_from_doc(_component_attributes(parse_yaml(file.read_text(encoding="utf-8"), file)))


def pipeline_from_dict(data: dict[str, Any], file: str | os.PathLike[str]) -> Pipeline:
    """A pipeline from already-parsed data (a Dagster component's attributes); paths resolve against
    ``file``'s folder and errors name ``file`` (without line numbers)."""
    return pipeline_from_doc(_Doc(Path(file), data, {}))


def pipeline_files(directory: str | os.PathLike[str]) -> list[Path]:
    d = Path(directory)
    return sorted([*d.glob("*.yaml"), *d.glob("*.yml")]) if d.is_dir() else []


@dataclass(frozen=True)
class BrokenPipelineFile:
    """A pipeline file that failed to load, and why (the message names the file, line and key)."""

    path: Path
    error: str


def load_pipeline_dir(
    directory: str | os.PathLike[str], broken: list[BrokenPipelineFile] | None = None
) -> list[Pipeline]:
    """Every pipeline file of a directory, refusing two files that declare the same pipeline name.

    With ``broken`` given, a file that does not load (bad YAML, unknown operator, a name already used)
    is appended there and logged as a warning instead of raising: one bad file in a folder, e.g. an
    agent's draft, must not take down every other pipeline of the code location. Without it the
    first bad file raises (``dataflow-dagster plan``/tests want that).
    """
    out: list[Pipeline] = []
    seen: dict[str, Path] = {}
    for f in pipeline_files(directory):
        try:
            p = load_pipeline_file(f)
            if p.name in seen:
                raise OperatorError(f"{f}: pipeline name '{p.name}' is already used by {seen[p.name]}; rename one")
        except (OperatorError, ValueError, OSError) as exc:  # ValueError: a file that is not UTF-8
            if broken is None:
                raise
            broken.append(BrokenPipelineFile(f, str(exc)))
            _log.warning(f"skipped pipeline file {f}: {exc}")
            continue
        seen[p.name] = f
        out.append(p)
    return out


def pipeline_to_dict(pipeline: Pipeline, relative_to: Path | None = None) -> dict[str, Any]:
    """The YAML form of a pipeline (the agent writes these); only non-default settings are kept."""
    src_path = Path(pipeline.source.path)
    if relative_to is not None:
        src_path = Path(os.path.relpath(pipeline.source_path().resolve(), Path(relative_to).resolve()))
    source: dict[str, Any] = {"path": src_path.as_posix()}
    if pipeline.source.format:
        source["format"] = pipeline.source.format
    if pipeline.source.required_columns:
        source["required_columns"] = list(pipeline.source.required_columns)
    steps = []
    prev = pipeline.source.name
    for s in pipeline.steps:
        entry: dict[str, Any] = {"name": s.name, "op": s.op.name}
        cfg = s.op.config.model_dump(mode="json", exclude_defaults=True)
        if cfg:
            entry["config"] = cfg
        if s.after and s.after != prev:
            entry["after"] = s.after
        if s.description:
            entry["description"] = s.description
        if not s.fuse:
            entry["fuse"] = False
        if s.llm:
            entry["llm"] = s.llm
        if s.export is not None:
            entry["export"] = s.export.model_dump(mode="json", exclude_defaults=True)
        if s.prompt is not None:
            entry["prompt"] = {"template": s.prompt.template, "system": s.prompt.system}
        steps.append(entry)
        prev = s.name
    out: dict[str, Any] = {"pipeline": pipeline.name}
    if pipeline.description:
        out["description"] = pipeline.description
    out["source"] = source
    out["steps"] = steps
    return out


class _BlockDumper(yaml.SafeDumper):
    """Writes multi-line text (prompt templates) as ``|`` blocks so the file stays readable."""


def _str_block(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str_block)


def _one_line(text: str) -> str:
    """``text`` safe inside one ``#`` comment line: every character YAML (or a reader) could take as
    a line break or control (LF, CR, NEL, U+2028, U+2029, ...) is written as an escape, so text from a
    request can never become live YAML below the comment."""
    return "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in text)


def dump_pipeline(pipeline: Pipeline, relative_to: Path | None = None, header: Sequence[str] = ()) -> str:
    """YAML text for ``pipeline``; with ``relative_to`` (the file's folder) paths are made relative to it
    and the file names the JSON schema, so editors with yaml-language-server validate it."""
    body = yaml.dump(
        pipeline_to_dict(pipeline, relative_to), Dumper=_BlockDumper, sort_keys=False, allow_unicode=True, width=110
    )
    lines = [f"# {_one_line(h)}" for h in header]
    if relative_to is not None:
        from dataflow_dagster.core.schema import SCHEMA_FILE

        lines.insert(0, f"# yaml-language-server: $schema={Path(os.path.relpath(SCHEMA_FILE, relative_to)).as_posix()}")
    return "".join(line + "\n" for line in lines) + body
