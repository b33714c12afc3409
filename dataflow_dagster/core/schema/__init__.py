"""JSON schema of YAML pipelines, generated from the operator registry.

Each registered operator contributes an ``if op == X then config follows X.Config`` clause, so an
editor running yaml-language-server checks config keys and types as the user types, with the same
rules the loader enforces (``extra="forbid"`` becomes ``additionalProperties: false``). The schema is
generated, never hand-edited: ``dataflow-dagster schema -o dataflow_dagster/schema/pipeline.schema.json``
rewrites the published copy after operators are added.
"""

import json
from pathlib import Path
from typing import Any

from dataflow_dagster.core.export_options import ExportOptions
from operators.core.dataflow_aliases import ALIASES
from operators.core.registry import all_operators

SCHEMA_FILE = Path(__file__).with_name("pipeline.schema.json")
SCHEMA_ID = "https://github.com/dataflow-dagster/dataflow-dagster/pipeline.schema.json"
IDENT = "^[A-Za-z_][A-Za-z0-9_]*$"


def _rename_refs(node: Any, prefix: str) -> Any:
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str) and v.startswith("#/$defs/"):
                out[k] = f"#/$defs/{prefix}{v.removeprefix('#/$defs/')}"
            else:
                out[k] = _rename_refs(v, prefix)
        return out
    if isinstance(node, list):
        return [_rename_refs(v, prefix) for v in node]
    return node


def pipeline_schema() -> dict[str, Any]:
    """The schema for the operators registered in this process (built-ins, entry points, user modules)."""
    ops = all_operators()
    defs: dict[str, Any] = {}
    clauses = []
    for name, cls in ops.items():
        cfg = cls.Config.model_json_schema()
        prefix = f"{name}__"
        for dname, dschema in cfg.pop("$defs", {}).items():
            defs[prefix + dname] = _rename_refs(dschema, prefix)
        cfg = _rename_refs(cfg, prefix)
        cfg["title"] = f"{name} config"
        defs[f"{name}__config"] = cfg
        doc = (cls.__doc__ or name).strip().splitlines()[0]
        clauses.append(
            {
                "if": {"properties": {"op": {"const": name}}, "required": ["op"]},
                "then": {
                    "properties": {
                        "config": {"$ref": f"#/$defs/{name}__config"},
                        **({"prompt": False} if cls.default_prompt is None else {}),
                    },
                    "description": f"{cls.kind}: {doc}",
                },
            }
        )
    step = {
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "op"],
        "properties": {
            "name": {
                "type": "string",
                "pattern": IDENT,
                "not": {"pattern": "__"},
                "description": "step name; the asset key is [pipeline, name]",
            },
            "op": {
                "enum": sorted([*ops, *(a for a, al in ALIASES.items() if al.ours in ops and a not in ops)]),
                "description": "registered operator (`dataflow-dagster ops list`) or a DataFlow name we offer",
            },
            "config": {"type": "object", "description": "the operator's settings"},
            "after": {"type": "string", "description": "upstream step (default: the previous step)"},
            "fuse": {
                "type": "boolean",
                "description": "run with the neighbouring rule steps as one fused stage (default true)",
            },
            "description": {"type": "string"},
            "llm": {
                "type": "string",
                "pattern": IDENT,
                "description": "LLM resource key serving this step (default: llm), e.g. judge for a stronger judge",
            },
            "export": {
                "$ref": "#/$defs/ExportOptions",
                "description": "publish this step as a Hugging Face dataset (docs/export.md)",
            },
            "prompt": {
                "description": "prompt override: template text, or {template, system}",
                "oneOf": [
                    {"type": "string"},
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["template"],
                        "properties": {"template": {"type": "string"}, "system": {"type": "string"}},
                    },
                ],
            },
        },
        "allOf": clauses,
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "dataflow-dagster pipeline",
        "type": "object",
        "additionalProperties": False,
        "required": ["pipeline", "source", "steps"],
        "properties": {
            "pipeline": {"type": "string", "pattern": IDENT, "description": "pipeline name (Dagster group/job)"},
            "description": {"type": "string"},
            "source": {
                "type": "object",
                "additionalProperties": False,
                "required": ["path"],
                "properties": {
                    "path": {"type": "string", "description": "input file, relative to the YAML file"},
                    "format": {"enum": ["jsonl", "json", "csv", "parquet"]},
                    "required_columns": {"type": "array", "items": {"type": "string"}},
                    "name": {"type": "string", "pattern": IDENT},
                },
            },
            "steps": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/step"}},
        },
        "$defs": {"step": step, "ExportOptions": ExportOptions.model_json_schema(), **defs},
    }


def schema_text() -> str:
    return json.dumps(pipeline_schema(), indent=1, sort_keys=True) + "\n"


def write_schema(path: str | Path = SCHEMA_FILE) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(schema_text(), encoding="utf-8")
    return p
