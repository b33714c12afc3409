"""Import user files into a step's DuckDB and export snapshots back out.

DuckDB's readers do the work; when one refuses a file we re-scan it in Python only to say exactly
which line and why, because "could not parse" without a line number is useless on a 10 GB file.
"""

import codecs
import json
from pathlib import Path

import duckdb

from operators.core.contract import OperatorError, quote_ident, quote_literal

MAX_JSON_DEPTH = 128  # DuckDB's JSON reader limit
# Longest JSON object / CSV record we read (DuckDB's defaults are 16 MB and 2 MB: a 100 MB text field,
# e.g. a whole book in one cell, is legitimate data). Beyond it the error names the line and its size.
MAX_RECORD_BYTES = 256 * 2**20
FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".parquet": "parquet"}


def detect_format(path: Path, fmt: str | None = None) -> str:
    if fmt:
        if fmt not in set(FORMATS.values()):
            raise OperatorError(f"unknown format '{fmt}' for {path}; use one of {sorted(set(FORMATS.values()))}")
        return fmt
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise OperatorError(
            f"cannot tell the format of {path} from its suffix; use .jsonl/.json/.csv/.parquet or set format="
        ) from None


def reader_sql(path: str | Path, kind: str) -> str:
    """The DuckDB table function that reads a ``kind`` file (from ``detect_format``) the way a
    pipeline's source import does; anything that samples a user's file (the agent) reads it with this
    too, so it sees the same columns and types the pipeline will."""
    lit = quote_literal(str(path))
    return {
        "jsonl": f"read_json({lit}, format='newline_delimited', records=true, maximum_object_size={MAX_RECORD_BYTES})",
        "json": f"read_json({lit}, format='auto', records=true, maximum_object_size={MAX_RECORD_BYTES})",
        "csv": f"read_csv({lit}, header=true, strict_mode=true, quote='\"', escape='\"', "
        f"max_line_size={MAX_RECORD_BYTES}, buffer_size={2 * MAX_RECORD_BYTES})",
        "parquet": f"read_parquet({lit})",
    }[kind]


def import_file(con: duckdb.DuckDBPyConnection, path: str | Path, name: str, fmt: str | None = None) -> None:
    """Create table ``name`` from a file, or raise an error naming file, line and problem."""
    p = Path(path)
    if not p.exists():
        raise OperatorError(f"input file {p} does not exist")
    if p.is_dir():
        raise OperatorError(f"input path {p} is a directory; point the source at a file")
    kind = detect_format(p, fmt)
    if p.stat().st_size == 0:
        raise OperatorError(f"input file {p} is empty: nothing to import (add rows or remove the source)")
    if kind in ("jsonl", "json", "csv"):
        _check_text_encoding(p)
    reader = reader_sql(p, kind)
    try:
        con.execute(f"CREATE TABLE {quote_ident(name)} AS SELECT * FROM {reader}")
    except duckdb.Error as exc:
        if kind == "jsonl":
            _explain_jsonl(p)
        if kind == "csv":
            if "line size" in str(exc).lower():
                _explain_long_line(p)
            _explain_csv(p)
        if kind == "json" and "non-record JSON" in str(exc):
            raise OperatorError(
                f"{p}: expected a JSON array of objects (or one object per line), not a bare value"
            ) from exc
        raise OperatorError(f"could not read {p} as {kind}: {str(exc).splitlines()[0]}") from exc
    n = con.execute(f"SELECT count(*) FROM {quote_ident(name)}").fetchall()[0][0]
    if n == 0:
        raise OperatorError(f"input file {p} has no rows")


def _check_text_encoding(p: Path) -> None:
    """Refuse non-UTF-8 text with the byte offset and line; accept (and document) a UTF-8 BOM."""
    with open(p, "rb") as fh:
        head = fh.read(4)
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise OperatorError(f"{p} is UTF-16 encoded (byte-order mark at byte 0); re-encode the file as UTF-8")
    decoder = codecs.getincrementaldecoder("utf-8")()
    line, offset = 1, 0
    with open(p, "rb") as fh:
        while chunk := fh.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                bad_at = offset + exc.start
                line += chunk[: exc.start].count(b"\n")
                raise OperatorError(
                    f"{p}: line {line} (byte {bad_at}) is not valid UTF-8; re-encode the file as UTF-8"
                ) from None
            line += chunk.count(b"\n")
            offset += len(chunk)


def _json_depth(obj: object) -> int:
    depth, level = 0, [(obj, 1)]
    while level:
        node, d = level.pop()
        depth = max(depth, d)
        if isinstance(node, dict):
            level.extend((v, d + 1) for v in node.values())
        elif isinstance(node, list):
            level.extend((v, d + 1) for v in node)
    return depth


def _explain_jsonl(p: Path) -> None:
    """Find the first line DuckDB could not take and say why; called only after DuckDB refused."""
    seen_row = False
    with open(p, encoding="utf-8-sig") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            seen_row = True
            try:
                obj = json.loads(line)
            except RecursionError:
                raise OperatorError(
                    f"{p}: line {lineno}: JSON nested too deeply to read; flatten it or store it as a string"
                ) from None
            except json.JSONDecodeError as exc:
                raise OperatorError(
                    f"{p}: line {lineno}, column {exc.colno}: malformed JSON ({exc.msg}); fix or remove that line"
                ) from None
            if not isinstance(obj, dict):
                raise OperatorError(f"{p}: line {lineno}: expected a JSON object per line, got {type(obj).__name__}")
            if (depth := _json_depth(obj)) > MAX_JSON_DEPTH:
                raise OperatorError(
                    f"{p}: line {lineno}: JSON nested {depth} levels deep; DuckDB reads at most {MAX_JSON_DEPTH}. "
                    "Flatten the record or store the nested part as a JSON string"
                )
    if not seen_row:
        raise OperatorError(f"input file {p} has no rows (only blank lines)")


def _explain_long_line(p: Path) -> None:
    """Name the first physical line longer than MAX_RECORD_BYTES (read in 1 MB blocks, not per line)."""
    lineno, length = 1, 0
    with open(p, "rb") as fh:
        while block := fh.read(1 << 20):
            start = 0
            while True:
                nl = block.find(b"\n", start)
                length += (len(block) if nl < 0 else nl) - start
                if length > MAX_RECORD_BYTES:
                    raise OperatorError(
                        f"{p}: line {lineno} is longer than {MAX_RECORD_BYTES / 2**20:g} MB, the most one CSV "
                        "record may hold; split that field, or keep such documents as files (or in Parquet/JSONL)"
                    )
                if nl < 0:
                    break
                lineno, length, start = lineno + 1, 0, nl + 1


def _explain_csv(p: Path) -> None:
    """Find the first malformed CSV record (unterminated quote, wrong field count) after DuckDB refused."""
    import csv

    csv.field_size_limit(MAX_RECORD_BYTES)  # the stdlib's 128 KB default would blame a long but valid field
    with open(p, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh, strict=True)
        try:
            header = next(reader, None)
            for row in reader:
                if header is not None and len(row) != len(header):
                    raise OperatorError(
                        f"{p}: line {reader.line_num}: {len(row)} fields but the header has {len(header)}; "
                        "fix the quoting or delimiters of that line"
                    )
        except csv.Error as exc:
            raise OperatorError(f"{p}: line {reader.line_num}: malformed CSV ({exc}); fix the quoting") from None


def require_columns(con: duckdb.DuckDBPyConnection, relation: str, needed: list[str], where: str) -> None:
    cols = [r[0] for r in con.execute(f"DESCRIBE {quote_ident(relation)}").fetchall()]
    missing = [c for c in needed if c not in cols]
    if missing:
        raise OperatorError(
            f"{where}: missing input column(s) {missing}; available columns are {cols}. "
            "Set the step's input_key (or rename the column upstream)."
        )


def export_relation(
    con: duckdb.DuckDBPyConnection, relation_sql: str, path: str | Path, fmt: str | None = None
) -> Path:
    p = Path(path)
    kind = detect_format(p, fmt)
    p.parent.mkdir(parents=True, exist_ok=True)
    opts = {
        "jsonl": "FORMAT json",
        "json": "FORMAT json, ARRAY true",
        "csv": "FORMAT csv, HEADER true",
        "parquet": "FORMAT parquet",
    }[kind]
    tmp = p.with_name(f".{p.name}.tmp")
    con.execute(f"COPY (SELECT * FROM {relation_sql}) TO {quote_literal(str(tmp))} ({opts})")
    tmp.replace(p)
    return p
