"""``README.md``: the dataset card of an export, front matter the Hub reads + a body from lineage.

The YAML front matter is produced by the libraries the Hub itself uses: ``huggingface_hub``'s
``DatasetCardData`` (license, task categories, language, size category, configs) and ``datasets``'
``DatasetInfosDict`` (``dataset_info``: features, splits with byte and row counts). The body is
generated from the recorded chain, never typed by hand, so every number in it is one the storage
recorded; it carries no timestamps or run durations, so an unchanged asset gives the same card.
"""

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dataflow_dagster.core.export_lineage import StepRecord
from dataflow_dagster.core.export_options import ExportOptions
from dataflow_dagster.core.pipeline import Pipeline

if TYPE_CHECKING:
    from dataflow_dagster.core.export import ExportResult

SIZE_CATEGORIES = [
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
]


def size_category(rows: int) -> str:
    return next((label for bound, label in SIZE_CATEGORIES if rows < bound), "n>1B")


def front_matter(result: "ExportResult", options: ExportOptions) -> str:
    from datasets import DatasetInfo, Features, SplitDict, SplitInfo
    from datasets.info import DatasetInfosDict
    from huggingface_hub import DatasetCardData

    splits = SplitDict()
    for s in result.splits:
        splits.add(SplitInfo(name=s.name, num_bytes=s.num_bytes, num_examples=s.rows))
    info = DatasetInfo(
        features=Features.from_dict(result.features),
        splits=splits,
        download_size=sum(s.file_bytes for s in result.splits),
        dataset_size=sum(s.num_bytes for s in result.splits),
    )
    card = DatasetCardData(
        license=options.license,
        task_categories=options.task_categories or None,
        language=options.language or None,
        size_categories=[size_category(result.rows)],
        pretty_name=options.pretty_name,
        tags=["dataflow-dagster", *options.tags],
        configs=[
            {
                "config_name": "default",
                "data_files": [{"split": s.name, "path": f"data/{s.name}-*"} for s in result.splits],
            }
        ],
    )
    DatasetInfosDict({"default": info}).to_dataset_card_data(card)
    return card.to_yaml()


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(head: list[str], rows: list[list[Any]]) -> list[str]:
    return [
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
        *("| " + " | ".join(_cell(c) for c in r) + " |" for r in rows),
    ]


def _fence(text: str, lang: str = "") -> list[str]:
    ticks = "````" if "```" in text else "```"
    return [f"{ticks}{lang}", text.rstrip("\n"), ticks]


def step_graph(pipeline: Pipeline, on_path: set[str], exported: str) -> str:
    """The pipeline's step tree, the exported path marked with ``*``."""
    children: dict[str, list[str]] = {}
    for s in pipeline.steps:
        children.setdefault(s.after or pipeline.source.name, []).append(s.name)

    def label(name: str) -> str:
        op = "" if name == pipeline.source.name else f" ({pipeline.step(name).op.name})"
        mark = " *" if name in on_path else ""
        return f"{name}{op}{mark}" + ("  <- exported" if name == exported else "")

    lines = [label(pipeline.source.name)]

    def walk(name: str, prefix: str) -> None:
        kids = children.get(name, [])
        for i, kid in enumerate(kids):
            last = i == len(kids) - 1
            lines.append(f"{prefix}{'└─ ' if last else '├─ '}{label(kid)}")
            walk(kid, prefix + ("   " if last else "│  "))

    walk(pipeline.source.name, "")
    return "\n".join(lines)


def steps_table(chain: list[StepRecord]) -> list[str]:
    """One row per step: the numbers tests compare with the catalog."""
    rows = []
    for rec in chain:
        lin = rec.lineage
        tokens = lin.get("tokens") or {}
        cost = rec.cost_usd
        rows.append(
            [
                rec.step,
                lin.get("operator") or "source",
                lin.get("operator_version") or "-",
                lin.get("rows_in", "-"),
                lin.get("rows_out"),
                lin.get("rejected_rows", 0),
                lin.get("error_rows", 0),
                f"{tokens.get('prompt', 0)}/{tokens.get('completion', 0)}" if tokens else "-",
                f"{cost:.6f}" if cost is not None else ("unpriced" if lin.get("model") else "-"),
                rec.content_hash[:16],
            ]
        )
    head = ["step", "operator", "version", "rows in", "kept", "rejected", "errors", "tokens (prompt/completion)"]
    return _table([*head, "cost USD", "content hash"], rows)


def _step_details(rec: StepRecord) -> list[str]:
    lin = rec.lineage
    out = [f"### `{rec.step}`", ""]
    if rec.after is None:
        out += [
            f"- source file: `{lin.get('source_file')}`",
            f"- source sha256: `{lin.get('source_sha256')}`",
            f"- rows imported: {lin.get('rows_out')}",
        ]
    else:
        out += [
            f"- operator: `{lin.get('operator')}` version `{lin.get('operator_version')}` ({lin.get('kind')})",
            f"- code version: `{lin.get('code_version')}`",
            f"- reads: `{rec.after}` (content hash `{next(iter((lin.get('upstream') or {}).values()), '-')}`)",
            f"- rows in {lin.get('rows_in')}, kept {lin.get('rows_out')}, rejected {lin.get('rejected_rows', 0)}, "
            f"errors {lin.get('error_rows', 0)}",
        ]
    out += [f"- content hash: `{rec.content_hash}`", ""]
    if lin.get("config"):
        out += ["Config:", "", *_fence(json.dumps(lin["config"], indent=1, sort_keys=True, default=str), "json"), ""]
    if rec.reasons:
        out += ["Rejected rows by reason (numbers folded to `#`):", "", *_table(["reason", "rows"], rec.reasons), ""]
    if rec.checks:
        rows = [
            [
                c.name,
                f"`{c.metric_sql}` {c.op} {c.threshold}",
                "-" if c.value is None else round(c.value, 6),
                "PASS" if c.passed else "FAIL",
                "yes" if c.blocking else "no",
            ]
            for c in rec.checks
        ]
        out += [
            "Checks (recomputed on the stored tables):",
            "",
            *_table(["check", "rule", "value", "result", "blocking"], rows),
            "",
        ]
    if lin.get("model"):
        model = lin["model"]
        params = json.dumps(model.get("params", {}), sort_keys=True)
        out += [f"Model: `{model.get('id')}`, sampling parameters `{params}`", ""]
        if lin.get("tokens"):
            out += [
                f"Tokens: prompt {lin['tokens'].get('prompt', 0)}, completion {lin['tokens'].get('completion', 0)}",
                "",
            ]
    if lin.get("prompt"):
        p = lin["prompt"]
        out += [f"Prompt `{p.get('name')}`, sha256 `{p.get('hash')}`:", ""]
        if p.get("system"):
            out += ["System:", "", *_fence(str(p["system"]), "text"), ""]
        out += ["Template:", "", *_fence(str(p.get("template", "")), "text"), ""]
        if p.get("schema"):
            out += ["Output schema:", "", *_fence(json.dumps(p["schema"], indent=1, sort_keys=True), "json"), ""]
    return out


def body(result: "ExportResult", pipeline: Pipeline, options: ExportOptions) -> str:
    chain, final = result.chain, result.chain[-1]
    title = options.pretty_name or f"{pipeline.name}: {final.step}"
    split_rule = (
        f"by the value of column `{options.split_column}`"
        if options.split_column
        else f"by a seeded hash of each row's `_id` (seed {options.seed}, shares {json.dumps(options.splits)})"
    )
    out = [f"# {title}", ""]
    if pipeline.description:
        out += [pipeline.description, ""]
    out += [
        f"Rows of asset `{final.asset}` (pipeline `{pipeline.name}`), exported by dataflow-dagster with its full "
        "lineage: every number below was recorded when the data was made.",
        "",
        "## Splits",
        "",
        f"Rows are split {split_rule}; within a split they are ordered by `_id`.",
        "",
        *_table(
            ["split", "rows", "shards", "parquet bytes", "arrow bytes"],
            [[s.name, s.rows, len(s.files), s.file_bytes, s.num_bytes] for s in result.splits],
        ),
        "",
        f"Columns: {', '.join(f'`{c}`' for c in result.columns)}.",
    ]
    if not options.keep_internal:
        out += [
            "Internal columns (`_id`, `_parent_ids`) are not in the data; `lineage/row_ids.parquet` maps each "
            "exported row (split, file, row) to its `_id` in the source storage.",
        ]
    total_tokens = [sum((r.lineage.get("tokens") or {}).get(k, 0) for r in chain) for k in ("prompt", "completion")]
    costs = [r.cost_usd for r in chain if r.lineage.get("model")]
    cost = f"{sum(costs):.6f} USD" if costs and None not in costs else "unpriced (no price for the model)"
    out += [
        "",
        "## How it was made",
        "",
        "Step graph (`*` marks the steps this table went through):",
        "",
        *_fence(step_graph(pipeline, {r.step for r in chain}, final.step)),
        "",
        *steps_table(chain),
        "",
        f"Tokens: {total_tokens[0]} prompt, {total_tokens[1]} completion; cost: {cost}.",
        "",
        f"Final content hash (order-independent, over the stored table): `{result.content_hash}`",
        "",
        "## Audit",
        "",
        "Verify every stored table of this chain against its recorded hash and replay the chain from the "
        "response cache (no model calls), from the repository that made it:",
        "",
        *_fence(result.audit_command, "bash"),
        "",
        f"The audit checks the asset's latest materialisation; it is this export's if its recorded hash for "
        f"`{final.asset}` is `{result.content_hash[:12]}`.",
        "",
        "## Steps",
        "",
    ]
    for rec in chain:
        out += _step_details(rec)
    return "\n".join(out).rstrip("\n") + "\n"


def write_card(path: Path, result: "ExportResult", pipeline: Pipeline, options: ExportOptions) -> None:
    text = f"---\n{front_matter(result, options)}\n---\n\n{body(result, pipeline, options)}"
    path.write_text(text, encoding="utf-8")
