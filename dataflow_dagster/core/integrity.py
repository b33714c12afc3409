"""Cheap checks that stored state is what it claims to be, and errors that say how to fix it.

Everything under a storage root can be damaged outside our control: a disk fills mid-copy, a backup
tool restores half a file, someone copies a different Parquet file over a snapshot, a crash cuts the
last line of a history log. Reading such a file used to give a raw DuckDB or JSON traceback deep
inside a step, or worse, silently read the wrong rows. These checks run on every read because they
are cheap (a stat and two small reads per Parquet file); the full content hash is ``lineage audit``'s
job.
"""

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from operators.core.contract import OperatorError

PARQUET_MAGIC = b"PAR1"


class StateCorruptError(OperatorError):
    """A file under the storage root is damaged; the message names it and the way out."""


def parquet_problem(path: str | os.PathLike[str], expected_size: int | None = None) -> str | None:
    """What is wrong with a Parquet file at a glance (None when nothing is).

    Checks the size against the one recorded when it was written (a truncated or swapped file almost
    never keeps its exact size), the magic bytes at both ends and that the footer length fits the
    file. It does not decompress pages: a valid file with other rows of the same size passes.
    """
    p = Path(path)
    try:
        size = p.stat().st_size
    except FileNotFoundError:
        return "is missing"
    if expected_size is not None and size != expected_size:
        return f"is {size} bytes but was written as {expected_size} bytes (truncated or replaced)"
    if size < 12:
        return f"is only {size} bytes (truncated)"
    with open(p, "rb") as fh:
        head = fh.read(4)
        fh.seek(size - 8)
        tail = fh.read(8)
    if head != PARQUET_MAGIC or tail[4:] != PARQUET_MAGIC:
        return "has no Parquet header/footer (truncated or not a Parquet file)"
    footer_len = int.from_bytes(tail[:4], "little")
    if footer_len <= 0 or footer_len > size - 12:
        return f"has a footer length ({footer_len}) that does not fit its {size} bytes (damaged)"
    return None


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` so that readers see the old file or the new one, never a torn mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_json_file(path: Path, what: str, fix: str) -> dict[str, Any]:
    """A JSON object from ``path``, or a one-line StateCorruptError naming the file and ``fix``."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StateCorruptError(f"{what} {path} is not valid JSON ({_first_line(exc)}); {fix}") from None
    if not isinstance(doc, dict):
        raise StateCorruptError(f"{what} {path} holds a {type(doc).__name__}, not a JSON object; {fix}")
    return doc


def require_keys(doc: dict[str, Any], path: Path, what: str, fix: str, **shapes: type) -> None:
    """Raise StateCorruptError unless every named key is present with the given type."""
    for key, kind in shapes.items():
        if not isinstance(doc.get(key), kind):
            raise StateCorruptError(f"{what} {path} lacks a valid '{key}' field (damaged or hand-edited); {fix}")


def history_lines(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str]]:
    """``(line number, document or None, problem)`` for each non-blank line of a history log.

    A line that does not parse is yielded with ``None`` and the reason, so each reader decides:
    gc must stop (it cannot know which snapshots that line kept alive), diff and audit skip it.
    """
    with open(path, encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
            except json.JSONDecodeError as exc:
                yield lineno, None, f"{path}:{lineno} is not valid JSON ({_first_line(exc)})"
                continue
            if not isinstance(doc, dict) or not isinstance(doc.get("tables"), dict):
                yield lineno, None, f"{path}:{lineno} is not a publish record (no 'tables' object)"
                continue
            yield lineno, doc, ""


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
