"""Turns a step's lineage record into Dagster materialisation metadata.

Everything an audit needs is in the ``lineage`` JSON entry; the other entries are for the person
looking at the asset in the UI, who should learn what happened to the data without opening a
notebook: a preview, what was kept and why the rest was rejected (with the catalog view to query),
score distributions as charts, tokens and cost, and which input columns each output column came from.
Numbers that are worth plotting across materialisations (counts, mean scores) are typed floats/ints,
so Dagster's "Plots" tab charts them over time.
"""

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
from dagster import (
    AssetKey,
    DataVersion,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableColumnDep,
    TableColumnLineage,
    TableRecord,
    TableSchema,
)

from dataflow_dagster.core.diff import diff_relations
from dataflow_dagster.core.runner import StepOutcome
from dataflow_dagster.core.storage import SnapshotRef, Storage
from dataflow_dagster.defs.plots import PlotWriter, bar_svg, column_distribution
from dataflow_dagster.llm.prices import lineage_cost
from operators.core.contract import Kind, Operator
from operators.core.rowids import ID, PARENTS

log = logging.getLogger("dataflow")
PREVIEW_ROWS = 5


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


def _cell(v: Any, max_chars: int) -> str | int | float | bool | None:
    if v is None or isinstance(v, bool | int | float):
        return v
    text = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def table_value(rows: list[dict[str, Any]], max_chars: int = 100) -> MetadataValue:
    """Rows as a Dagster table: the UI renders these inline (markdown over 1000 characters, and
    every image, sits behind a "[Show Markdown]" button instead)."""
    cols = list(dict.fromkeys(c for r in rows for c in r)) or ["(no rows)"]
    types = {
        c: next((_TABLE_TYPES[type(r[c])] for r in rows if type(r.get(c)) in _TABLE_TYPES), "string") for c in cols
    }
    records = [TableRecord({c: _cell(r.get(c), max_chars) for c in cols}) for r in rows]
    return MetadataValue.table(records, TableSchema(columns=[TableColumn(name=c, type=types[c]) for c in cols]))


_TABLE_TYPES = {bool: "bool", int: "int", float: "float", str: "string"}


def reason_prefix_sql(col: str = "_reason") -> str:
    """Reasons carry the measured value ("WordNumberFilter: words=3"); group by the part before ':'."""
    return f"coalesce(nullif(trim(split_part({col}, ':', 1)), ''), '(none)')"


def column_lineage(
    op: Operator,
    out_columns: Sequence[str],
    up_columns: Sequence[str],
    upstream: AssetKey,
    prompt_fields: Sequence[str] = (),
) -> TableColumnLineage:
    """Output column <- upstream columns: computed columns depend on the operator's inputs (and the
    prompt's fields), carried columns on their namesake, a generated row's ids on its parent's id."""
    up = set(up_columns)
    computed = set(op.output_columns())
    inputs = [c for c in dict.fromkeys([*op.input_columns(), *prompt_fields]) if c in up]
    deps: dict[str, list[TableColumnDep]] = {}
    for col in out_columns:
        if col in computed:
            src = inputs
        elif op.kind == Kind.GENERATE and col in (ID, PARENTS):
            src = [ID] if ID in up else []
        elif col in up:
            src = [col]
        else:
            src = []
        if src:
            deps[col] = [TableColumnDep(asset_key=upstream, column_name=c) for c in src]
    return TableColumnLineage(deps_by_column=deps)


def _llm_metadata(lin: dict[str, Any], rows_in: int) -> dict[str, Any]:
    md: dict[str, Any] = {
        "prompt_hash": MetadataValue.text(lin["prompt"]["hash"]),
        "prompt": MetadataValue.md(f"```\n{lin['prompt']['template']}\n```"),
        "model_id": MetadataValue.text(lin["model"]["id"]),
        "sampling": MetadataValue.json(lin["model"]["params"]),
        "cache_hits": MetadataValue.int(lin["cache"]["hits"]),
        "cache_misses": MetadataValue.int(lin["cache"]["misses"]),
        "prompt_tokens": MetadataValue.int(lin["tokens"]["prompt"]),
        "completion_tokens": MetadataValue.int(lin["tokens"]["completion"]),
    }
    total = int(lin["tokens"]["prompt"]) + int(lin["tokens"]["completion"])
    md["total_tokens"] = MetadataValue.int(total)
    if lin["model"].get("resource"):
        md["llm_resource"] = MetadataValue.text(str(lin["model"]["resource"]))
    # The same counts under dagster-openai's names, so dashboards built on that integration read ours:
    # calls = requests this step sent to the model (cache hits cost nothing and are not calls).
    md["openai.calls"] = MetadataValue.int(int(lin["cache"]["misses"]))
    md["openai.prompt_tokens"] = MetadataValue.int(int(lin["tokens"]["prompt"]))
    md["openai.completion_tokens"] = MetadataValue.int(int(lin["tokens"]["completion"]))
    md["openai.total_tokens"] = MetadataValue.int(total)
    if rows_in:
        md["tokens_per_row"] = MetadataValue.float(round(total / rows_in, 2))
    cost = lineage_cost(lin)  # from the configurable price table; None when the model is unpriced
    md["cost_usd"] = MetadataValue.float(cost) if cost is not None else MetadataValue.text("unpriced")
    return md


def _table_link(view: str, ref: SnapshotRef) -> str:
    return f"- `{view}`: **{ref.row_count}** rows"


class _Charts:
    """The data-reading half of the metadata: aggregates over the snapshots, charts and previews."""

    def __init__(
        self, outcome: StepOutcome, storage: Storage | None, con: duckdb.DuckDBPyConnection | None = None
    ) -> None:
        self.outcome = outcome
        self.plots = PlotWriter(storage.plots_dir(outcome.asset)) if storage is not None else None
        self.own = con is None  # a fused stage passes one connection for all its steps
        self.con = con or duckdb.connect()

    def close(self) -> None:
        if self.own:
            self.con.close()

    def image(self, name: str, svg: bytes, caption: str = "") -> MetadataValue:
        if self.plots is None:
            return MetadataValue.md(caption or name)
        return MetadataValue.md(self.plots.markdown(name, svg, caption))

    def counts_chart(self) -> MetadataValue:
        lin = self.outcome.lineage
        labels = ["in", "kept", "rejected", "errors"]
        values = [lin.get("rows_in", 0), lin.get("rows_out", 0), lin.get("rejected_rows", 0), lin.get("error_rows", 0)]
        svg = bar_svg(labels, {"rows": values}, f"{self.outcome.asset}: rows")
        caption = " · ".join(f"{k}: **{v}**" for k, v in zip(labels, values, strict=True))
        return self.image("row_counts", svg, caption)

    def reasons(self, rejected: SnapshotRef, draw: bool = True) -> tuple[MetadataValue, MetadataValue | None]:
        rows = self.con.execute(
            f"SELECT {reason_prefix_sql()} AS reason, count(*) AS n, any_value(_reason) AS example "
            f"FROM {rejected.read_sql()} GROUP BY 1 ORDER BY n DESC, reason LIMIT 20"
        ).fetchall()
        table = table_value([{"reason": r, "rows": n, "example": e} for r, n, e in rows])
        if not draw:
            return table, None
        svg = bar_svg(
            [r for r, _, _ in rows], {"rejected": [n for _, n, _ in rows]}, "rejected rows by reason", horizontal=True
        )
        return table, self.image("rejected_reasons", svg)

    def preview(self, ref: SnapshotRef, first: Sequence[str] = ()) -> MetadataValue:
        cols = [c for c, _ in ref.columns]
        order = [c for c in first if c in cols] + [c for c in cols if c not in first]
        select = ", ".join(f'"{c}"' for c in order)
        rows = self.con.sql(f"SELECT {select} FROM {ref.read_sql()} LIMIT {PREVIEW_ROWS}").to_arrow_table()
        return table_value(rows.to_pylist(), max_chars=48)

    def distribution(
        self, ref: SnapshotRef, column: str, rejected: SnapshotRef | None = None
    ) -> tuple[MetadataValue, float | None] | None:
        rel, group = ref.read_sql(), None
        if rejected is not None:
            cols = ", ".join(f'"{c}"' for c, _ in ref.columns)
            rel = (
                f"(SELECT {cols}, 'kept' AS __g FROM {ref.read_sql()} UNION ALL BY NAME "
                f"SELECT {cols}, 'rejected' AS __g FROM {rejected.read_sql()})"
            )
            group = "__g"
        dist = column_distribution(self.con, rel, column, group)
        if dist is None:
            return None
        labels, series = dist
        mean = self.con.execute(f'SELECT avg(TRY_CAST("{column}" AS DOUBLE)) FROM {ref.read_sql()}').fetchall()[0][0]
        svg = bar_svg(labels, series, f"{column} distribution", xlabel=column)
        where = "kept rows" if rejected is not None else "all rows"
        caption = f"mean over {where}: **{mean:.3f}**" if mean is not None else ""
        return self.image(f"dist_{column}", svg, caption), (float(mean) if mean is not None else None)


def outcome_metadata(
    outcome: StepOutcome,
    storage: Storage | None = None,
    op: Operator | None = None,
    upstream: AssetKey | None = None,
    up_columns: Sequence[str] = (),
    prompt_fields: Sequence[str] = (),
    draw: bool = True,
    con: duckdb.DuckDBPyConnection | None = None,
) -> dict[str, Any]:
    """Materialisation metadata for one step. Without ``storage`` no charts are drawn (no file to
    write them to); without ``op``/``upstream`` no column lineage is recorded. ``draw=False`` keeps
    the tables, previews and score distributions but draws no per-step row-count and reason charts (a
    fused stage draws one chart of every step's kept and rejected rows instead); ``con``
    is a DuckDB connection to reuse (opening one per step costs more than a small step's queries)."""
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
        **({"rows_in": MetadataValue.int(int(lin["rows_in"]))} if "rows_in" in lin else {}),
        "preview": MetadataValue.md(markdown_preview(outcome.preview)),
        "sample_rows": table_value(outcome.preview, max_chars=48),
        "lineage": MetadataValue.json(lin),
    }
    links = [_table_link(outcome.asset, table)]
    for part in ("rejected", "errors"):
        if part in outcome.refs:
            md[f"{part}_rows"] = MetadataValue.int(outcome.refs[part].row_count)
            md[f"{part}_table"] = MetadataValue.text(f"{outcome.asset}__{part}")
            links.append(_table_link(f"{outcome.asset}__{part}", outcome.refs[part]))
    if storage is not None:
        links.append(f"\nCatalog views: `duckdb {storage.catalog_path}`, then `SELECT * FROM <view>`")
    md["tables"] = MetadataValue.md("\n".join(links))
    if "operator" in lin:
        md["operator"] = MetadataValue.text(f"{lin['operator']}@{lin['operator_version']}")
        md["config"] = MetadataValue.json(lin["config"])
    if "prompt" in lin:
        md.update(_llm_metadata(lin, int(lin.get("rows_in", 0))))
    if "source_file" in lin:
        md["source_file"] = MetadataValue.path(lin["source_file"])
        md["source_sha256"] = MetadataValue.text(lin["source_sha256"])
    if op is not None and upstream is not None and up_columns:
        md["dagster/column_lineage"] = MetadataValue.column_lineage(
            column_lineage(op, [n for n, _ in table.columns], up_columns, upstream, prompt_fields)
        )
    if storage is not None and op is not None:
        try:
            md.update(_chart_metadata(outcome, storage, op, draw, con))
        except Exception as exc:  # charts are a view on data already published: never fail the step
            log.warning(f"{outcome.asset}: could not draw metadata charts: {exc!r}")
    return md


def _chart_metadata(
    outcome: StepOutcome,
    storage: Storage,
    op: Operator,
    draw: bool = True,
    con: duckdb.DuckDBPyConnection | None = None,
) -> dict[str, Any]:
    charts = _Charts(outcome, storage, con)
    md: dict[str, Any] = {}
    try:
        rejected, errors = outcome.refs.get("rejected"), outcome.refs.get("errors")
        if draw and (rejected is not None or errors is not None):
            md["row_counts"] = charts.counts_chart()
        if rejected is not None and rejected.row_count:
            md["rejected_by_reason"], image = charts.reasons(rejected, draw)
            if image is not None:
                md["rejected_reasons"] = image
            md["rejected_sample"] = charts.preview(rejected, first=[ID, "_reason", *op.input_columns()])
        if errors is not None and errors.row_count:
            md["errors_sample"] = charts.preview(errors)
        types = dict((n, t) for n, t in outcome.table.columns)
        if op.kind == Kind.EVALUATE:
            scored = op.output_columns()
        elif op.kind == Kind.FILTER:  # e.g. a score threshold: show what the filter cut through
            scored = [c for c in op.input_columns() if types.get(c, "VARCHAR") != "VARCHAR"]
        else:
            scored = []
        for col in scored:  # score distributions stay per step: they show what a threshold cut through
            if col not in types:
                continue
            dist = charts.distribution(outcome.table, col, rejected if op.kind == Kind.FILTER else None)
            if dist is None:
                continue
            md[f"distribution_{col}"], mean = dist
            if mean is not None:
                md[f"mean_{col}"] = MetadataValue.float(round(mean, 4))
    finally:
        charts.close()
    return md


def dispatch_metadata(stats: dict[str, Any]) -> dict[str, Any]:
    """The LLM client's counters (attempts, retries by reason, re-asks, waits) as typed metadata."""
    md: dict[str, Any] = {"llm_dispatch": MetadataValue.json(stats)}
    for key in ("attempts", "retries", "reasks", "failed"):
        if key in stats:
            md[f"llm_{key}"] = MetadataValue.int(int(stats[key]))
    return md


def materialize_result(
    outcome: StepOutcome, previous: SnapshotRef | None, md: dict[str, Any], **kwargs: Any
) -> MaterializeResult:
    """Metadata + data version; row counts against the previous version when they are cheap to get.
    ``kwargs`` go to ``MaterializeResult`` (``asset_key``, ``check_results`` in a multi_asset)."""
    new = outcome.table
    if previous is not None and previous.content_hash == new.content_hash:
        counts: dict[str, int] | None = {"added": 0, "removed": 0, "changed": 0}
    elif previous is None:
        counts = {"added": new.row_count, "removed": 0, "changed": 0}
    elif Path(previous.path).exists():
        counts = diff_relations(previous.read_sql(), new.read_sql())[0]
    else:
        counts = None  # the previous snapshot was collected: no counts rather than wrong ones
    for k, v in (counts or {}).items():
        if k != "unchanged":
            md[f"rows_{k}"] = MetadataValue.int(int(v))
    return MaterializeResult(metadata=md, data_version=DataVersion(new.content_hash), **kwargs)


def stage_chart(storage: Storage, stage_asset: str, outcomes: Sequence[StepOutcome]) -> MetadataValue:
    """One chart for a fused stage: rows kept and rejected by each of its steps."""
    labels = [o.asset.rsplit("__", 1)[-1] for o in outcomes]
    kept = [o.lineage.get("rows_out", 0) for o in outcomes]
    rejected = [o.lineage.get("rejected_rows", 0) for o in outcomes]
    svg = bar_svg(labels, {"kept": kept, "rejected": rejected}, "rows by step of the stage", horizontal=True)
    caption = " · ".join(f"{n}: **{k}** kept, {r} rejected" for n, k, r in zip(labels, kept, rejected, strict=True))
    return MetadataValue.md(PlotWriter(storage.plots_dir(stage_asset)).markdown("stage_rows", svg, caption))
