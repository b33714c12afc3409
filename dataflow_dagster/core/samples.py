"""The first pipeline a new project gets (``dataflow-dagster init``, ``dg scaffold defs``): rule
filters only, so it runs in seconds without a model, over eight passages that exercise each filter."""

import json
from pathlib import Path
from typing import Any

SAMPLE_ROWS = [
    "The mitochondrion is the organelle in which cellular respiration produces most of the cell's ATP.",
    "Photosynthesis converts light energy into chemical energy stored in glucose inside the chloroplasts.",
    "The mitochondrion is the organelle in which cellular respiration produces most of the cell's ATP.",
    "Too short.",
    "",
    "Newton's second law states that the force on a body equals its mass times its acceleration.",
    "A binary search halves the remaining interval at every step, so it needs logarithmic time.",
    "the  mitochondrion is the organelle in which cellular respiration produces most of the cell's ATP.",
]


def write_sample_rows(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in SAMPLE_ROWS), encoding="utf-8")


def sample_pipeline(name: str, source_path: str = "sample.jsonl") -> dict[str, Any]:
    """Drop empty, short and duplicated passages (the pipeline YAML format, as data)."""
    return {
        "pipeline": name,
        "description": "Drop empty, short and duplicated passages",
        "source": {"path": source_path, "required_columns": ["text"]},
        "steps": [
            {"name": "not_empty", "op": "ContentNullFilter", "config": {"input_key": "text"}},
            {"name": "long_enough", "op": "WordNumberFilter", "config": {"input_key": "text", "min_words": 8}},
            {"name": "dedup", "op": "ExactDedupFilter", "config": {"input_key": "text", "normalize": True}},
        ],
    }


def identifier(name: str, prefix: str = "p") -> str:
    """``name`` as a Python identifier (pipeline and module names must be)."""
    ident = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name).strip("_") or prefix
    return ident if ident[0].isalpha() else f"{prefix}_{ident}"
