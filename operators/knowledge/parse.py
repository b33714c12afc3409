"""Text out of one document file: what the document worker process runs.

Kept free of heavy imports (no pyarrow, no DuckDB): the worker runs under an address-space limit,
and every library it imports takes a share of it before the first document is read.
"""

import zipfile
from pathlib import Path

FORMATS = {
    ".txt": "txt",
    ".text": "txt",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
    ".docx": "docx",
}


def read_document(path: Path, max_unzipped_mb: int = 256) -> tuple[str, str]:
    """(format, text) of one file; raises ValueError with what went wrong (runs in the worker)."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"unsupported file type '{path.suffix}' (supported: {sorted(set(FORMATS))})")
    if fmt in ("txt", "markdown"):
        try:
            return fmt, path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValueError(f"not valid UTF-8 at byte {exc.start}; re-encode the file as UTF-8") from None
    if fmt == "html":
        import trafilatura

        html = path.read_bytes().decode("utf-8", errors="replace")
        text = trafilatura.extract(html, include_comments=False, include_tables=True, favor_recall=True)
        if not text:
            raise ValueError("trafilatura found no main text in the HTML")
        return fmt, text
    if fmt == "pdf":
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError

        try:
            reader = PdfReader(str(path))
            pages = [p.extract_text() or "" for p in reader.pages]
        except (PdfReadError, OSError, ValueError) as exc:
            raise ValueError(f"pypdf could not read the PDF: {exc}") from None
        except (MemoryError, RecursionError):
            raise
        except Exception as exc:  # LimitReachedError, TypeError, KeyError...: pypdf's failures on hostile files
            raise ValueError(f"pypdf could not read the PDF: {type(exc).__name__}: {exc}") from None
        return fmt, "\n\n".join(p.strip() for p in pages if p.strip())
    _refuse_zip_bomb(path, max_unzipped_mb)
    import docx

    try:
        document = docx.Document(str(path))
    except (MemoryError, RecursionError):
        raise  # the worker reports these as limits, not as a broken file
    except Exception as exc:  # python-docx raises zipfile/KeyError/ValueError for broken files
        if type(exc).__name__ == "XMLSyntaxError" and "unknown error" in str(exc):
            raise MemoryError from None  # what libxml2 reports when an allocation fails under the limit
        raise ValueError(f"python-docx could not read the file: {type(exc).__name__}: {exc}") from None
    parts = [p.text for p in document.paragraphs if p.text.strip()]
    for table in document.tables:
        for row in table.rows:
            parts.append(" | ".join(cell.text.strip() for cell in row.cells))
    return fmt, "\n".join(parts)


def _refuse_zip_bomb(path: Path, max_unzipped_mb: int) -> None:
    """A docx is a zip: refuse one whose parts declare more than the limit before inflating any."""
    try:
        with zipfile.ZipFile(path) as zf:
            total = sum(info.file_size for info in zf.infolist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise ValueError(f"not a valid docx (zip) file: {exc}") from None
    if total > max_unzipped_mb * 2**20:
        raise ValueError(
            f"expands to {total / 2**20:.0f} MB uncompressed (max_unzipped_mb={max_unzipped_mb}); "
            "a zip bomb, or raise max_unzipped_mb"
        )


def read_in_worker(path: str, max_unzipped_mb: int, max_chars: int) -> tuple[str, str]:
    """Entry point inside the document worker."""
    fmt, text = read_document(Path(path), max_unzipped_mb)
    if len(text) > max_chars:
        raise ValueError(f"extracted {len(text)} characters (max_chars={max_chars})")
    return fmt, text
