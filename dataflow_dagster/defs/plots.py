"""Small SVG charts for materialisation and check metadata.

The Dagster UI renders markdown metadata, including ``![alt](data:image/svg+xml;base64,...)`` images,
so a chart embedded that way is visible on the asset page without any plugin or file server. Each
chart is also written under ``<storage root>/plots/<asset>/`` (content-addressed, like the snapshots)
so it can be opened or attached to a report later. The numbers behind every chart are aggregated in
DuckDB first; a chart only ever draws a few dozen bars, never the table.

The charts are written as SVG text here rather than drawn with matplotlib: a bar chart is a few
dozen rectangles, and importing matplotlib and rasterising one figure cost about a second per step
process, more than the rule work of a typical step.
"""

import base64
import hashlib
import os
from collections.abc import Sequence
from html import escape
from pathlib import Path

import duckdb

from operators.core.contract import quote_ident

MAX_BARS = 20
_PALETTE = {"kept": "#2e7d32", "rejected": "#c62828", "errors": "#ef6c00", "in": "#546e7a"}
_CYCLE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
_W, _H = 480, 260  # the size matplotlib's 4.8 x 2.6 in at 100 dpi gave, so layouts look the same


def _fmt(v: float) -> str:
    return f"{v:.4g}" if v != int(v) else f"{int(v):,}"


def bar_svg(
    labels: Sequence[str],
    series: dict[str, Sequence[float]],
    title: str,
    xlabel: str = "",
    ylabel: str = "rows",
    horizontal: bool = False,
) -> bytes:
    """A (stacked) bar chart as SVG bytes; ``series`` maps a legend label to one value per bar."""
    n = max(1, len(labels))
    totals = [sum(float(vals[i]) for vals in series.values()) for i in range(len(labels))]
    top = max(totals, default=0.0) or 1.0
    short = [lb if len(lb) <= 28 else lb[:27] + "…" for lb in labels]
    left, right, head, foot = (150 if horizontal else 50), 15, 28, (30 if horizontal else 55)
    pw, ph = _W - left - right, _H - head - foot
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" '
        'font-family="sans-serif">',
        f'<rect width="{_W}" height="{_H}" fill="white"/>',
        f'<text x="{_W / 2}" y="16" font-size="12" text-anchor="middle">{escape(title)}</text>',
    ]
    colors = {name: _PALETTE.get(name, _CYCLE[i % len(_CYCLE)]) for i, name in enumerate(series)}
    band = (ph if horizontal else pw) / n
    bar = band * 0.8
    base = [0.0] * len(labels)
    for name, values in series.items():
        for i, raw in enumerate(values):
            v = float(raw)
            if v <= 0:
                continue
            length = v / top * (pw if horizontal else ph)
            start = base[i] / top * (pw if horizontal else ph)
            tip = f"<title>{escape(short[i])} {escape(name)}: {_fmt(v)}</title>"
            if horizontal:
                x, y, w, h = left + start, head + i * band + (band - bar) / 2, length, bar
            else:
                x, y, w, h = left + i * band + (band - bar) / 2, head + ph - start - length, bar, length
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{colors[name]}">{tip}</rect>'
            )
            base[i] += v
    # axes, value scale and labels
    out.append(f'<line x1="{left}" y1="{head + ph}" x2="{left + pw}" y2="{head + ph}" stroke="#333"/>')
    out.append(f'<line x1="{left}" y1="{head}" x2="{left}" y2="{head + ph}" stroke="#333"/>')
    scale_at = (left + pw, head + ph + 12) if horizontal else (left - 4, head + 8)
    anchor = "end"
    out.append(f'<text x="{scale_at[0]}" y="{scale_at[1]}" font-size="9" text-anchor="{anchor}">{_fmt(top)}</text>')
    for i, lb in enumerate(short):
        if horizontal:
            y = head + i * band + band / 2 + 3
            out.append(f'<text x="{left - 4}" y="{y:.1f}" font-size="8" text-anchor="end">{escape(lb)}</text>')
        else:
            x, y = left + i * band + band / 2, head + ph + 10
            rot = f' transform="rotate(-30 {x:.1f} {y:.1f})"' if n > 6 else ""
            anchor = "end" if n > 6 else "middle"
            out.append(f'<text x="{x:.1f}" y="{y:.1f}" font-size="8" text-anchor="{anchor}"{rot}>{escape(lb)}</text>')
    axis_x = ylabel if horizontal else xlabel
    if axis_x:
        out.append(f'<text x="{left + pw / 2}" y="{_H - 4}" font-size="9" text-anchor="middle">{escape(axis_x)}</text>')
    if not horizontal and ylabel:
        out.append(
            f'<text x="12" y="{head + ph / 2}" font-size="9" text-anchor="middle" '
            f'transform="rotate(-90 12 {head + ph / 2})">{escape(ylabel)}</text>'
        )
    if len(series) > 1:
        for j, name in enumerate(series):
            y = 3 + j * 11  # beside the title, above the bars
            out.append(f'<rect x="{_W - 75}" y="{y}" width="8" height="8" fill="{colors[name]}"/>')
            out.append(f'<text x="{_W - 63}" y="{y + 8}" font-size="9">{escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out).encode("utf-8")


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
    """Writes SVG charts for one asset into its folder (``Storage.plots_dir``) and returns markdown
    embedding them."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    def save(self, name: str, svg: bytes) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{name}-{hashlib.sha256(svg).hexdigest()[:16]}.svg"
        if not path.exists():
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_bytes(svg)
            os.replace(tmp, path)
        return path

    def markdown(self, name: str, svg: bytes, caption: str = "") -> str:
        path = self.save(name, svg)
        data = base64.b64encode(svg).decode("ascii")
        text = f"![{name}](data:image/svg+xml;base64,{data})"
        return text + (f"\n\n{caption}" if caption else "") + f"\n\nfile: `{path}`"
