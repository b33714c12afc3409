"""What the agent knows of the user's data before planning: column names and types of the first rows,
and which text column is the main one. A refusal (nothing written) is raised from here when the
data has no text column at all."""

from dataclasses import dataclass
from pathlib import Path

import duckdb

from dataflow_dagster.core.io_formats import detect_format, reader_sql
from operators.core.contract import OperatorError

TEXT_NAMES = ("text", "raw_content", "content", "instruction", "passage", "question", "prompt", "input")


class AgentRefusal(Exception):
    """The request cannot be served faithfully; nothing is written."""


@dataclass
class DataProfile:
    path: Path
    columns: dict[str, str]  # name -> DuckDB type
    text_column: str


def profile_data(path: Path, fmt: str | None = None) -> DataProfile:
    """Column names/types of the first rows and the main text column (longest average text)."""
    kind = detect_format(path, fmt)
    reader = reader_sql(path, kind)
    con = duckdb.connect()
    try:
        con.execute(f"CREATE TABLE s AS SELECT * FROM {reader} LIMIT 200")
        cols = {r[0]: r[1] for r in con.execute("DESCRIBE s").fetchall()}
        texts = [c for c, t in cols.items() if t == "VARCHAR" and not c.startswith("_")]
        if not texts:
            raise AgentRefusal(f"{path} has no text column (columns: {cols}); the operators here process text")
        lengths = {c: con.execute(f'SELECT coalesce(avg(length("{c}")), 0) FROM s').fetchall()[0][0] for c in texts}
    except duckdb.Error as exc:
        raise OperatorError(f"could not read {path} as {kind}: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()
    named = [c for c in TEXT_NAMES if c in texts]
    best = max(texts, key=lambda c: (lengths[c], c in named))
    text_col = named[0] if named and lengths[named[0]] >= 0.5 * lengths[best] else best
    return DataProfile(path, cols, text_col)
