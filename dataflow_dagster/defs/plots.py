"""Small PNG charts for materialisation and check metadata.

The Dagster UI renders markdown metadata, including ``![alt](data:image/png;base64,...)`` images, so a
chart embedded that way is visible on the asset page without any plugin or file server. Each PNG is
also written under ``<storage root>/plots/<asset>/`` (content-addressed, like the snapshots) so a
chart can be opened or attached to a report later. The numbers behind every chart are aggregated in
DuckDB first; matplotlib only ever sees a few dozen bars, never the table.
"""

import base64
import hashlib
import io
import os
from collections.abc import Sequence
from pathlib import Path

import duckdb

from operators.core.contract import quote_ident

MAX_BARS = 20
_PALETTE = {"kept": "#2e7d32", "rejected": "#c62828", "errors": "#ef6c00", "in": "#546e7a"}


def _pyplot():  # type: ignore[no-untyped-def]
    """matplotlib is imported lazily (and headless) so importing the factory stays cheap."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def bar_png(
    labels: Sequence[str],
    series: dict[str, Sequence[float]],
    title: str,
    xlabel: str = "",
    ylabel: str = "rows",
    horizontal: bool = False,
) -> bytes:
    """A (stacked) bar chart as PNG bytes; ``series`` maps a legend label to one value per bar."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.8, 2.6), dpi=80)
    try:
        bottom = [0.0] * len(labels)
        positions = list(range(len(labels)))
        for name, values in series.items():
            color = _PALETTE.get(name)
            vals = [float(v) for v in values]
            if horizontal:
                ax.barh(positions, vals, left=bottom, label=name, color=color)
            else:
                ax.bar(positions, vals, bottom=bottom, label=name, color=color)
            bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
        short = [lb if len(lb) <= 28 else lb[:27] + "…" for lb in labels]
        if horizontal:
            ax.set_yticks(positions, short, fontsize=7)
            ax.invert_yaxis()
            ax.set_xlabel(ylabel)
        else:
            ax.set_xticks(
                positions,
                short,
                fontsize=7,
                rotation=30 if len(labels) > 6 else 0,
                ha="right" if len(labels) > 6 else "center",
            )
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
        if len(series) > 1:
            ax.legend(fontsize=7)
        ax.set_title(title, fontsize=9)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()
    finally:
        plt.close(fig)


def column_distribution(
    con: duckdb.DuckDBPyConnection, relation_sql: str, column: str, group_sql: str | None = None
) -> tuple[list[str], dict[str, list[float]]] | None:
    """Bars for one column: value counts when it has few distinct values, else equal-width bins.

    ``group_sql`` (an expression over the relation) splits each bar into series, e.g. kept vs
    rejected. Returns None for an empty or all-NULL column.
    """
    col = quote_ident(column)
    group = group_sql or "'rows'"
    base = f"SELECT {col} AS v, ({group})::VARCHAR AS g FROM {relation_sql} WHERE {col} IS NOT NULL"
    n_distinct, vtype = con.execute(f"SELECT count(DISTINCT v), any_value(typeof(v)) FROM ({base})").fetchall()[0]
    if not n_distinct:
        return None
    numeric = vtype in {
        "TINYINT",
        "SMALLINT",
        "INTEGER",
        "BIGINT",
        "HUGEINT",
        "FLOAT",
        "DOUBLE",
        "DECIMAL",
        "UTINYINT",
        "USMALLINT",
        "UINTEGER",
        "UBIGINT",
    } or str(vtype).startswith("DECIMAL")
    if n_distinct <= MAX_BARS or not numeric:
        order = "v" if numeric else "total DESC, v"
        rows = con.execute(
            f"SELECT v::VARCHAR, g, count(*) AS c, sum(count(*)) OVER (PARTITION BY v) AS total "
            f"FROM ({base}) GROUP BY v, g ORDER BY {order}"
        ).fetchall()
        labels: list[str] = []
        for v, *_ in rows:
            if v not in labels:
                labels.append(v)
        labels = labels[:MAX_BARS]
    else:
        lo, hi = con.execute(f"SELECT min(v)::DOUBLE, max(v)::DOUBLE FROM ({base})").fetchall()[0]
        width = (hi - lo) / MAX_BARS or 1.0
        rows = con.execute(
            f"SELECT least(floor((v::DOUBLE - {lo!r}) / {width!r}), {MAX_BARS - 1})::INT AS b, g, count(*) "
            f"FROM ({base}) GROUP BY b, g ORDER BY b"
        ).fetchall()
        labels = [f"{lo + i * width:.3g}" for i in range(MAX_BARS)]
        rows = [(labels[b], g, c) for b, g, c in rows]
    series: dict[str, list[float]] = {}
    for v, g, c, *_ in rows:
        if v in labels:
            series.setdefault(g, [0.0] * len(labels))[labels.index(v)] = float(c)
    return labels, series


class PlotWriter:
    """Writes PNGs for one asset into its folder (``Storage.plots_dir``) and returns markdown embedding them."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    def save(self, name: str, png: bytes) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{name}-{hashlib.sha256(png).hexdigest()[:16]}.png"
        if not path.exists():
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_bytes(png)
            os.replace(tmp, path)
        return path

    def markdown(self, name: str, png: bytes, caption: str = "") -> str:
        path = self.save(name, png)
        data = base64.b64encode(png).decode("ascii")
        text = f"![{name}](data:image/png;base64,{data})"
        return text + (f"\n\n{caption}" if caption else "") + f"\n\nfile: `{path}`"
