"""Document ingestion: file paths in a column -> one row of plain text per document.

The pipeline's Source imports one table file; the documents to ingest are listed in it (a ``path``
column), so ingestion is an ordinary generate step and re-running it after a file changes gives the
new text a new row id. A listed directory expands to the supported files under it (sorted, so row
order is stable). Reading a file is I/O per document by nature; rows are written in Arrow batches.

Documents are hostile input: a 1 KB PDF can keep pypdf busy for a minute, a 29 KB docx can expand
to gigabytes of XML, and parsers raise whatever they like (``LimitReachedError``, ``TypeError``,
``RecursionError``). So each document is parsed in a worker process (``operators.core.isolated``)
under ``timeout_s`` (wall clock; the worker is killed past it) and ``memory_mb`` (address space),
a docx is refused before parsing when its parts expand beyond ``max_unzipped_mb``, and text longer
than ``max_chars`` is refused. Every such failure is one row of the errors table naming the file.
"""

from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa

from operators.core.contract import Kind, OpConfig, Operator, OperatorContext, OperatorError, quote_ident
from operators.core.isolated import IsolatedWorker, Outcome
from operators.core.registry import register
from operators.core.rowids import ID, PARENTS, derived_id_sql
from operators.knowledge.parse import FORMATS, read_document

__all__ = ["FORMATS", "FileIngestor", "IngestConfig", "read_document"]
_PRELOAD = ("operators.knowledge.parse", "pypdf", "docx")


class IngestConfig(OpConfig):
    input_key: str = "path"
    output_key: str = "text"
    base_dir: str | None = None  # relative paths resolve against this (default: the working directory)
    recursive: bool = True
    min_chars: int = 1  # documents with less extracted text go to the errors table
    timeout_s: float = 30.0  # wall clock per document; the parser process is killed past it
    memory_mb: int = 1024  # address-space limit of the parser process
    max_unzipped_mb: int = 64  # a docx whose parts expand beyond this is refused unparsed
    max_chars: int = 20_000_000  # extracted text longer than this is an error row


@register
class FileIngestor(Operator):
    """Reads txt, markdown, HTML (trafilatura), PDF (pypdf) and docx (python-docx) files named in
    ``input_key`` into rows with ``source_path``, ``format`` and the text. A directory expands to its
    supported files. Unreadable, missing or empty files become rows of the errors table, not crashes.
    """

    kind: ClassVar[Kind] = Kind.GENERATE
    Config = IngestConfig
    domain = "knowledge"
    tags = ("ingest", "documents", "pdf", "html", "docx")

    def input_columns(self) -> list[str]:
        return [self.config.input_key]

    def output_columns(self) -> list[str]:
        return ["source_path", "format", self.config.output_key]

    def _expand(self, raw: str) -> list[Path]:
        p = Path(raw)
        if not p.is_absolute() and self.config.base_dir:
            p = Path(self.config.base_dir) / p
        if p.is_dir():
            pattern = "**/*" if self.config.recursive else "*"
            return sorted(f for f in p.glob(pattern) if f.is_file() and f.suffix.lower() in FORMATS)
        return [p]

    def _parse(self, worker: IsolatedWorker, path: Path) -> tuple[str, str]:
        """(format, text) from the worker, or ValueError saying which limit or parser failure hit."""
        c = self.config
        out: Outcome = worker.call(
            "operators.knowledge.parse:read_in_worker", (str(path), c.max_unzipped_mb, c.max_chars), c.timeout_s
        )
        if out.ok:
            return out.value
        if out.status == "timeout":
            raise ValueError(f"parsing took longer than {c.timeout_s:g}s (timeout_s) and was stopped")
        if out.status in ("memory", "crashed"):
            raise ValueError(f"parsing needed more than {c.memory_mb} MB (memory_mb) and was stopped: {out.message}")
        raise ValueError(out.message.removeprefix("ValueError: "))

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        with IsolatedWorker(self.config.memory_mb, "document worker", _PRELOAD) as worker:
            return self._run(ctx, worker)

    def _run(self, ctx: OperatorContext, worker: IsolatedWorker) -> dict[str, Any]:
        c = self.config
        con = ctx.con
        docs, errs = f"{ctx.target}__docs", ctx.errors
        con.execute(
            f"CREATE TABLE {quote_ident(docs)} (__parent VARCHAR, __n INTEGER, source_path VARCHAR, "
            f"format VARCHAR, {quote_ident(c.output_key)} VARCHAR)"
        )
        con.execute(f"CREATE TABLE {quote_ident(errs)} ({ID} VARCHAR, _error VARCHAR, _raw VARCHAR)")
        sel = f"SELECT {ID}, {quote_ident(c.input_key)} FROM {quote_ident(ctx.source or '')}"
        n_docs = n_err = n_missing = 0
        for batch in con.cursor().sql(sel).to_arrow_reader(ctx.batch_size):
            good: dict[str, list[Any]] = {"__parent": [], "__n": [], "source_path": [], "format": [], c.output_key: []}
            bad: dict[str, list[Any]] = {ID: [], "_error": [], "_raw": []}
            for row_id, raw in zip(*(batch.column(i).to_pylist() for i in range(2)), strict=True):
                if not raw:
                    n_missing += 1
                    bad[ID].append(row_id)
                    bad["_error"].append(f"FileIngestor: column '{c.input_key}' is empty")
                    bad["_raw"].append(raw)
                    continue
                for n, path in enumerate(self._expand(str(raw))):
                    try:
                        if not path.is_file():
                            n_missing += 1
                            raise ValueError("file does not exist")
                        fmt, text = self._parse(worker, path)
                        if len(text.strip()) < c.min_chars:
                            raise ValueError(f"extracted only {len(text.strip())} characters (min_chars={c.min_chars})")
                    except ValueError as exc:
                        bad[ID].append(row_id)
                        bad["_error"].append(f"FileIngestor: {path}: {exc}")
                        bad["_raw"].append(str(raw))
                        continue
                    for key, val in (
                        ("__parent", row_id),
                        ("__n", n),
                        ("source_path", str(path)),
                        ("format", fmt),
                        (c.output_key, text),
                    ):
                        good[key].append(val)
            for table, data in ((docs, good), (errs, bad)):
                first = next(iter(data.values()))
                if first:
                    con.register("__ingest", pa.table(data))
                    con.execute(f"INSERT INTO {quote_ident(table)} BY NAME SELECT * FROM __ingest")
                    con.unregister("__ingest")
            n_docs += len(good["__parent"])
            n_err += len(bad[ID])
        if n_docs == 0 and n_err and n_missing == n_err:  # nothing listed exists: a configuration error
            first_err = con.execute(f"SELECT _error FROM {quote_ident(errs)} LIMIT 1").fetchall()[0][0]
            raise OperatorError(f"{ctx.step}: none of the listed files could be read; first problem: {first_err}")
        keep = [
            x
            for x in ctx.columns()
            if x not in (ID, PARENTS, "source_path", "format", c.output_key) and not x.startswith("__")
        ]
        extra = "".join(f", s.{quote_ident(x)}" for x in keep)
        new_id = derived_id_sql(
            "d.__parent", self.fingerprint(), f"d.__n::VARCHAR || ':' || md5(d.{quote_ident(c.output_key)})"
        )
        con.execute(
            f"CREATE VIEW {quote_ident(ctx.target)} AS SELECT {new_id} AS {ID}, [d.__parent] AS {PARENTS}{extra}, "
            f"d.source_path, d.format, d.{quote_ident(c.output_key)} FROM {quote_ident(docs)} d "
            f"JOIN {quote_ident(ctx.source or '')} s ON s.{ID} = d.__parent ORDER BY s.__pos, d.__n"
        )
        return {"documents": n_docs, "failed": n_err}
