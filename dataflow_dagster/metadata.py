"""Turns a step's lineage record into Dagster materialisation metadata.

Everything an audit needs is in the ``lineage`` JSON entry; the other entries repeat the figures
people look at in the UI (counts, hashes, tokens, a preview) as typed metadata so they plot and sort.
"""

import json
from typing import Any

from dagster import MetadataValue, TableColumn, TableSchema

from dataflow_dagster.llm.prices import lineage_cost
from dataflow_dagster.runner import StepOutcome


def markdown_preview(rows: list[dict[str, Any]], max_chars: int = 120) -> str:
    if not rows:
        return "_no rows_"
    cols = list(rows[0])

    def cell(v: Any) -> str:
        text = json.dumps(v, ensure_ascii=False, default=str) if not isinstance(v, str) else v
        text = text.replace("\n", " ").replace("|", "\\|")
        return text if len(text) <= max_chars else text[: max_chars - 1] + "…"

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def outcome_metadata(outcome: StepOutcome) -> dict[str, Any]:
    lin = outcome.lineage
    table = outcome.table
    md: dict[str, Any] = {
        "dagster/row_count": MetadataValue.int(table.row_count),
        "dagster/table_name": MetadataValue.text(outcome.asset),
        "dagster/column_schema": MetadataValue.table_schema(
            TableSchema(columns=[TableColumn(name=n, type=t) for n, t in table.columns])
        ),
        "content_hash": MetadataValue.text(table.content_hash),
        "snapshot": MetadataValue.path(table.path),
        "upstream_hashes": MetadataValue.json(lin.get("upstream", {})),
        "duration_s": MetadataValue.float(float(lin.get("duration_s", 0.0))),
        "preview": MetadataValue.md(markdown_preview(outcome.preview)),
        "lineage": MetadataValue.json(lin),
    }
    for part in ("rejected", "errors"):
        if part in outcome.refs:
            md[f"{part}_rows"] = MetadataValue.int(outcome.refs[part].row_count)
            md[f"{part}_table"] = MetadataValue.text(f"{outcome.asset}__{part}")
    if "operator" in lin:
        md["operator"] = MetadataValue.text(f"{lin['operator']}@{lin['operator_version']}")
        md["config"] = MetadataValue.json(lin["config"])
    if "prompt" in lin:
        md["prompt_hash"] = MetadataValue.text(lin["prompt"]["hash"])
        md["prompt"] = MetadataValue.md(f"```\n{lin['prompt']['template']}\n```")
        md["model_id"] = MetadataValue.text(lin["model"]["id"])
        md["sampling"] = MetadataValue.json(lin["model"]["params"])
        md["cache_hits"] = MetadataValue.int(lin["cache"]["hits"])
        md["cache_misses"] = MetadataValue.int(lin["cache"]["misses"])
        md["prompt_tokens"] = MetadataValue.int(lin["tokens"]["prompt"])
        md["completion_tokens"] = MetadataValue.int(lin["tokens"]["completion"])
        cost = lineage_cost(lin)
        md["cost_usd"] = MetadataValue.float(cost) if cost is not None else MetadataValue.text("unpriced")
    if "source_file" in lin:
        md["source_file"] = MetadataValue.path(lin["source_file"])
        md["source_sha256"] = MetadataValue.text(lin["source_sha256"])
    return md


def dispatch_metadata(stats: dict[str, Any]) -> dict[str, Any]:
    """The LLM client's counters (attempts, retries by reason, re-asks, waits) as typed metadata."""
    md: dict[str, Any] = {"llm_dispatch": MetadataValue.json(stats)}
    for key in ("attempts", "retries", "reasks", "failed"):
        if key in stats:
            md[f"llm_{key}"] = MetadataValue.int(int(stats[key]))
    return md
