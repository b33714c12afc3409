"""Export an asset's current table as a Hugging Face datasets repository, with its lineage.

Layout written under OUT_DIR (the layout ``datasets.load_dataset(OUT_DIR)`` and the Hub read)::

    data/<split>-NNNNN-of-NNNNN.parquet   shards of at most ``max_shard_bytes`` (Arrow size)
    README.md                             dataset card: Hub YAML front matter + lineage body
    croissant.json                        MLCommons Croissant 1.0 metadata with provenance
    lineage/row_ids.parquet               split/file/row -> _id (and _parent_ids), when those are dropped

Everything is deterministic: rows are ordered by ``_id``, a ratio split assigns each row by a seeded
hash of its ``_id`` (the same row lands in the same split on every export, whatever the row order),
and the card carries no timestamps, so re-exporting an unchanged asset gives byte-identical files.
The new files are built in a temporary folder beside OUT_DIR and moved into place at the end: a
failed export leaves the previous export untouched.
"""

import json
import logging
import math
import shlex
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from dataflow_dagster.core.export_lineage import StepRecord, gather_chain
from dataflow_dagster.core.export_options import SPLIT_NAME, ExportOptions
from dataflow_dagster.core.pipeline import Pipeline
from dataflow_dagster.core.runner import file_sha256
from dataflow_dagster.core.storage import Storage
from operators.core.contract import OperatorError, quote_ident, quote_literal
from operators.core.rowids import ID, PARENTS

MANAGED = ("data", "lineage", "README.md", "croissant.json")  # what an export owns inside OUT_DIR
SPLIT_ORDER = {"train": 0, "validation": 1, "test": 2}
BATCH_ROWS = 8192
ROW_IDS_FILE = "lineage/row_ids.parquet"


@dataclass
class SplitFiles:
    name: str
    rows: int
    num_bytes: int  # Arrow (in-memory) size, what `datasets` calls num_bytes
    files: list[str] = field(default_factory=list)  # paths relative to OUT_DIR
    file_bytes: int = 0
    per_shard: int = 1  # rows in each shard but the last


@dataclass
class ExportResult:
    out_dir: Path
    asset: str
    content_hash: str  # the exported asset's storage content hash
    columns: list[str]
    splits: list[SplitFiles]
    chain: list[StepRecord]
    audit_command: str
    file_sha256: dict[str, str] = field(default_factory=dict)  # relative path -> sha256
    file_size: dict[str, int] = field(default_factory=dict)  # relative path -> bytes
    features: dict[str, Any] = field(default_factory=dict)
    pushed_to: str | None = None

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.splits)


def is_internal(column: str) -> bool:
    return column in (ID, PARENTS) or column.startswith("__")


def audit_command(pipeline: Pipeline, step: str, root: Path, module: str, partition: str | None = None) -> str:
    """The shell command that audits the exported asset against the storage it came from."""
    parts = ["dataflow-dagster", "audit", f"{pipeline.name}/{step}", "--module", module, "--root", str(root)]
    parts += ["--no-event-log", *(["--partition", partition] if partition else [])]
    return shlex.join(parts)


def _split_sql(con: duckdb.DuckDBPyConnection, options: ExportOptions, asset: str) -> tuple[str, list[str]]:
    """SQL expression naming each row's split, and the split names in their card order."""
    if options.split_column is not None:
        col = quote_ident(options.split_column)
        bad = con.execute(
            f"SELECT {ID}, {col}::VARCHAR FROM __src WHERE {col} IS NULL "
            f"OR NOT regexp_full_match({col}::VARCHAR, '\\w+(\\.\\w+)*') ORDER BY {ID} LIMIT 1"
        ).fetchall()
        if bad:
            raise OperatorError(
                f"export of '{asset}': split column '{options.split_column}' is {bad[0][1]!r} in row _id={bad[0][0]}; "
                "every row needs a split name of letters, digits and _ (e.g. train, test)"
            )
        names = [r[0] for r in con.execute(f"SELECT DISTINCT {col}::VARCHAR FROM __src").fetchall()]
        return f"{col}::VARCHAR", sorted(names, key=lambda s: (SPLIT_ORDER.get(s, 9), s))
    # A uniform number in [0, 1) from the row's id and the seed; cumulative shares cut it into splits.
    u = f"(md5_number_lower({quote_literal(str(options.seed))} || ':' || {ID}) >> 11)::DOUBLE / 9007199254740992.0"
    cases, total = [], 0.0
    names = list(options.splits)
    for name in names[:-1]:
        total += options.splits[name]
        cases.append(f"WHEN {u} < {total!r} THEN {quote_literal(name)}")
    last = quote_literal(names[-1])
    return (f"CASE {' '.join(cases)} ELSE {last} END" if cases else last), names


def _batches(con: duckdb.DuckDBPyConnection, sql: str, schema: pa.Schema | None) -> Iterator[pa.RecordBatch]:
    reader = con.sql(sql).to_arrow_reader(BATCH_ROWS)
    for batch in reader:
        yield batch if schema is None else batch.cast(schema)


def _hf_schema(schema: pa.Schema, asset: str) -> tuple[pa.Schema, dict[str, Any]]:
    """The Arrow schema with `datasets`' features in its metadata (what push_to_hub writes too)."""
    try:
        from datasets import Features
    except ImportError:
        raise OperatorError(
            "exporting needs the `export` extra (datasets, huggingface_hub, mlcroissant): "
            "pip install 'dataflow-dagster[export]' (scripts/install.sh installs it)"
        ) from None
    for f in schema:
        try:
            Features.from_arrow_schema(pa.schema([f]))
        except Exception as exc:
            raise OperatorError(
                f"export of '{asset}': column '{f.name}' has type {f.type}, which Hugging Face datasets cannot "
                f"represent ({exc}); cast it in a step (e.g. to VARCHAR or DOUBLE) or drop it"
            ) from None
    features = Features.from_arrow_schema(schema)
    meta = {b"huggingface": json.dumps({"info": {"features": features.to_dict()}}).encode()}
    return schema.with_metadata(meta), features.to_dict()


def _write_split(
    con: duckdb.DuckDBPyConnection,
    select: str,
    split: SplitFiles,
    schema: pa.Schema,
    max_bytes: int,
    tmp: Path,
    log: logging.Logger,
) -> None:
    """Write one split's shards, streaming batches: rows are cut evenly into ceil(bytes / bound) shards."""
    n_shards = max(1, math.ceil(split.num_bytes / max_bytes))
    per_shard = max(1, math.ceil(split.rows / n_shards)) if split.rows else 1
    n_shards = max(1, math.ceil(split.rows / per_shard)) if split.rows else 1
    names = [f"data/{split.name}-{i:05d}-of-{n_shards:05d}.parquet" for i in range(n_shards)]
    shard, in_shard, writer = 0, 0, pq.ParquetWriter(tmp / names[0], schema, compression="zstd")
    try:
        for batch in _batches(con, select, schema):
            start = 0
            while start < batch.num_rows:
                if in_shard == per_shard:
                    writer.close()
                    shard, in_shard = shard + 1, 0
                    writer = pq.ParquetWriter(tmp / names[shard], schema, compression="zstd")
                take = min(per_shard - in_shard, batch.num_rows - start)
                writer.write_batch(batch.slice(start, take))
                in_shard, start = in_shard + take, start + take
    finally:
        writer.close()
    split.files, split.per_shard = names, per_shard
    split.file_bytes = sum((tmp / n).stat().st_size for n in names)
    log.info(f"export: split {split.name}: {split.rows} rows in {n_shards} shard(s), {split.file_bytes} bytes")


def _write_row_ids(
    con: duckdb.DuckDBPyConnection, tmp: Path, splits: list[SplitFiles], order: str, parents: bool
) -> None:
    """Row ids of the dropped internal columns (split, file, row -> _id), so audits can still join
    exported rows to storage. Computed in SQL from each split's shard layout and streamed to Parquet."""
    extra = f", {PARENTS}" if parents else ""
    parts = []
    for k, s in enumerate(splits):
        file = f"'data/{s.name}-' || lpad((__r // {s.per_shard})::VARCHAR, 5, '0') || '-of-{len(s.files):05d}.parquet'"
        parts.append(
            f"SELECT {k} AS __k, __r, {quote_literal(s.name)} AS split, {file} AS file, "
            f"(__r % {s.per_shard})::BIGINT AS row, {ID}{extra} FROM (SELECT *, row_number() OVER "
            f"(ORDER BY {order}) - 1 AS __r FROM __split WHERE __split_name = {quote_literal(s.name)})"
        )
    sql = f"SELECT split, file, row, {ID}{extra} FROM ({' UNION ALL '.join(parts)}) ORDER BY __k, __r"
    (tmp / "lineage").mkdir(exist_ok=True)
    writer = None
    try:
        for batch in _batches(con, sql, None):
            if writer is None:
                writer = pq.ParquetWriter(tmp / ROW_IDS_FILE, batch.schema, compression="zstd")
            writer.write_batch(batch)
        if writer is None:  # no rows at all: still a readable (empty) file
            pq.write_table(con.sql(f"{sql} LIMIT 0").to_arrow_table(), tmp / ROW_IDS_FILE, compression="zstd")
    finally:
        if writer is not None:
            writer.close()


def _swap_into(tmp: Path, out_dir: Path) -> None:
    """Replace the managed entries of ``out_dir`` with ``tmp``'s (other files, e.g. .git, stay)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    trash = tmp.with_name(tmp.name + ".old")
    trash.mkdir()
    for name in MANAGED:
        if (out_dir / name).exists():
            (out_dir / name).rename(trash / name)
    for name in MANAGED:
        if (tmp / name).exists():
            (tmp / name).rename(out_dir / name)
    shutil.rmtree(trash, ignore_errors=True)
    shutil.rmtree(tmp, ignore_errors=True)


def export_asset(
    storage: Storage,
    pipeline: Pipeline,
    step: str,
    out_dir: str | Path,
    options: ExportOptions | None = None,
    module: str = "assets.definitions",
    partition: str | None = None,
    log: logging.Logger | None = None,
) -> ExportResult:
    """Write ``step``'s current table (of ``partition``) to ``out_dir`` in the Hub layout, with card."""
    from dataflow_dagster.core.export_card import write_card
    from dataflow_dagster.core.export_croissant import write_croissant

    options = options or ExportOptions()
    log = log or logging.getLogger("dataflow")
    out_dir = Path(out_dir).resolve()
    chain = gather_chain(storage, pipeline, step, partition)
    final = chain[-1]
    ref = final.tables["table"]
    if not Path(ref.path).exists():
        raise OperatorError(f"snapshot {ref.path} of '{final.asset}' is missing (gc?); re-materialise it")
    all_cols = [c for c, _ in ref.columns]
    if options.split_column is not None and options.split_column not in all_cols:
        raise OperatorError(
            f"export of '{final.asset}': split column '{options.split_column}' is not a column (has {all_cols})"
        )
    keep = [c for c in all_cols if c != options.split_column and (options.keep_internal or not is_internal(c))]
    if not keep:
        raise OperatorError(f"export of '{final.asset}': no data columns left after dropping internal ones")
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{uuid.uuid4().hex[:12]}"
    (tmp / "data").mkdir(parents=True)
    con = storage.connect()
    try:
        con.execute(f"CREATE VIEW __src AS SELECT * FROM {ref.read_sql()}")
        split_expr, names = _split_sql(con, options, final.asset)
        con.execute(f"CREATE VIEW __split AS SELECT *, {split_expr} AS __split_name FROM __src")
        order = f"{ID}, md5(to_json(__split)::VARCHAR)" if ID in all_cols else "md5(to_json(__split)::VARCHAR)"
        cols = ", ".join(quote_ident(c) for c in keep)
        select_of = {
            s: f"SELECT {cols} FROM __split WHERE __split_name = {quote_literal(s)} ORDER BY {order}" for s in names
        }
        schema = pa.schema(
            [f.remove_metadata() for f in con.sql(f"SELECT {cols} FROM __src LIMIT 0").to_arrow_table().schema]
        )
        schema, features = _hf_schema(schema, final.asset)
        splits = []
        for s in names:
            if not SPLIT_NAME.match(s):
                raise OperatorError(f"export of '{final.asset}': '{s}' is not a valid split name")
            rows = nbytes = 0
            for batch in _batches(con, select_of[s], schema):
                rows, nbytes = rows + batch.num_rows, nbytes + batch.nbytes
            splits.append(SplitFiles(s, rows, nbytes))
        for split in splits:
            _write_split(con, select_of[split.name], split, schema, options.max_shard_bytes, tmp, log)
        if not options.keep_internal and ID in all_cols:
            _write_row_ids(con, tmp, splits, order, PARENTS in all_cols)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        con.close()
    result = ExportResult(
        out_dir,
        final.asset,
        final.content_hash,
        keep,
        splits,
        chain,
        audit_command(pipeline, step, storage.root, module, partition),
        features=features,
    )
    try:
        for p in sorted(tmp.rglob("*.parquet")):
            rel = p.relative_to(tmp).as_posix()
            result.file_sha256[rel], result.file_size[rel] = file_sha256(str(p)), p.stat().st_size
        write_card(tmp / "README.md", result, pipeline, options)
        write_croissant(tmp / "croissant.json", result, pipeline, options)
        _swap_into(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info(f"export: {final.asset} -> {out_dir} ({result.rows} rows, {len(names)} split(s))")
    return result
