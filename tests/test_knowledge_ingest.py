"""Ingestion of real txt/markdown/HTML/PDF/docx files, chunking with overlap, rule cleaning, SFT table."""

import json
from pathlib import Path

import docx
import duckdb
import pytest
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from dataflow_dagster.core.runner import run_source, run_step
from dataflow_dagster.core.storage import Storage
from operators.core.contract import OperatorError
from operators.knowledge.chunk import TextChunker
from operators.knowledge.clean import RuleKnowledgeCleaner
from operators.knowledge.ingest import FileIngestor
from operators.knowledge.sft_table import SFTTableAssembler

SENT = "[^.!?\u3002\uff01\uff1f]+(?:[.!?\u3002\uff01\uff1f]+[\"'\u201d\u2019)\\]]*|$)"

FACTS = {
    "txt": "The Vistula is the longest river in Poland, flowing 1047 kilometres to the Baltic Sea.",
    "markdown": "Basalt is a fine-grained volcanic rock formed from the rapid cooling of lava.",
    "html": "The Sorbonne was founded in 1257 by Robert de Sorbon as a college for theology students.",
    "pdf": "Photosynthesis converts light energy into chemical energy stored in glucose molecules.",
    "docx": "Ada Lovelace published the first algorithm intended for a computing machine in 1843.",
}


def write_corpus(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    files["txt"] = folder / "river.txt"
    files["txt"].write_text(FACTS["txt"] + "\nIts basin covers parts of three neighbouring countries.\n")
    files["markdown"] = folder / "rocks.md"
    files["markdown"].write_text(f"# Rocks\n\n## Basalt\n\n{FACTS['markdown']}\n\n- hard\n- dark grey\n")
    files["html"] = folder / "sorbonne.html"
    files["html"].write_text(
        "<html><head><title>Sorbonne</title></head><body><nav>Home | About | Contact</nav>"
        f"<article><h1>History of the Sorbonne</h1><p>{FACTS['html']}</p>"
        "<p>It became the centre of the University of Paris and gave its name to the whole institution "
        "for centuries afterwards.</p></article><footer>Copyright 2024</footer></body></html>"
    )
    files["pdf"] = folder / "biology.pdf"
    c = canvas.Canvas(str(files["pdf"]), pagesize=A4)
    words = FACTS["pdf"].split()
    c.drawString(72, 760, " ".join(words[:6]))
    c.drawString(72, 744, " ".join(words[6:]))
    c.showPage()
    c.drawString(72, 760, "Chlorophyll absorbs mostly blue and red light.")
    c.showPage()
    c.save()
    files["docx"] = folder / "history.docx"
    d = docx.Document()
    d.add_heading("Early computing", level=1)
    d.add_paragraph(FACTS["docx"])
    table = d.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Person", "Year"
    table.cell(1, 0).text, table.cell(1, 1).text = "Lovelace", "1843"
    d.save(str(files["docx"]))
    return files


def _pipe(tmp: Path, rows: list[dict], steps: list[Step]) -> tuple[Storage, Pipeline]:
    tmp.mkdir(parents=True, exist_ok=True)
    src = tmp / "docs.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    p = Pipeline("kb", Source(str(src), required_columns=["path"]), steps)
    storage = Storage(tmp / ".dataflow")
    run_source(storage, p)
    return storage, p


def test_ingest_every_format(tmp_path: Path) -> None:
    files = write_corpus(tmp_path / "corpus")
    rows = [{"path": str(p), "kind": k} for k, p in files.items()]
    rows.append({"path": str(tmp_path / "missing.txt"), "kind": "missing"})
    (tmp_path / "corpus_bad").mkdir()
    (tmp_path / "corpus_bad" / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    rows.append({"path": str(tmp_path / "corpus_bad" / "broken.pdf"), "kind": "broken"})
    storage, p = _pipe(tmp_path, rows, [Step("ingest", FileIngestor())])
    out = run_step(storage, p, "ingest")
    got = duckdb.sql(f"SELECT kind, format, text, _parent_ids FROM {out.table.read_sql()}").fetchall()
    by_kind = {k: (f, t) for k, f, t, _ in got}
    assert set(by_kind) == set(FACTS)
    for kind, fact in FACTS.items():
        fmt, text = by_kind[kind]
        assert fmt == kind
        assert " ".join(fact.split()) in " ".join(text.split()), (kind, text)
    assert "Home | About" not in by_kind["html"][1]  # trafilatura dropped the navigation
    assert "Chlorophyll" in by_kind["pdf"][1]  # second page
    assert "Lovelace | 1843" in by_kind["docx"][1]  # table rows
    errors = duckdb.sql(f"SELECT _error FROM {out.refs['errors'].read_sql()}").fetchall()
    assert len(errors) == 2
    assert any("does not exist" in e for (e,) in errors) and any("pypdf" in e for (e,) in errors)


def test_ingest_expands_a_folder_and_reports_when_nothing_reads(tmp_path: Path) -> None:
    write_corpus(tmp_path / "corpus")
    (tmp_path / "corpus" / "notes.xyz").write_text("ignored")
    storage, p = _pipe(tmp_path, [{"path": "corpus"}], [Step("ingest", FileIngestor(base_dir=str(tmp_path)))])
    out = run_step(storage, p, "ingest")
    assert out.table.row_count == 5
    paths = [r[0] for r in duckdb.sql(f"SELECT source_path FROM {out.table.read_sql()}").fetchall()]
    assert paths == sorted(paths)
    storage2, p2 = _pipe(tmp_path / "b", [{"path": str(tmp_path / "nope.md")}], [Step("ingest", FileIngestor())])
    with pytest.raises(OperatorError, match="none of the listed files"):
        run_step(storage2, p2, "ingest")


def reference_chunks(units: list[str], size: int, overlap: int) -> list[list[str]]:
    step = size - overlap
    return [units[s : s + size] for s in range(0, max(len(units) - overlap, 1), step)]


@pytest.mark.parametrize(
    ("unit", "size", "overlap"), [("characters", 40, 10), ("words", 12, 3), ("sentences", 2, 1), ("words", 5, 0)]
)
def test_chunking_matches_a_python_reference(tmp_path: Path, unit: str, size: int, overlap: int) -> None:
    files = write_corpus(tmp_path / "corpus")
    long_text = " ".join(FACTS.values()) + " Short one. Another sentence here! And a question? End."
    (tmp_path / "corpus" / "long.txt").write_text(long_text)
    rows = [{"path": str(files["html"])}, {"path": str(tmp_path / "corpus" / "long.txt")}, {"path": str(files["docx"])}]
    steps = [Step("ingest", FileIngestor()), Step("chunk", TextChunker(unit=unit, size=size, overlap=overlap))]
    storage, p = _pipe(tmp_path, rows, steps)
    docs = run_step(storage, p, "ingest")
    out = run_step(storage, p, "chunk")
    texts = dict(duckdb.sql(f"SELECT _id, text FROM {docs.table.read_sql()}").fetchall())
    got = duckdb.sql(
        f"SELECT _parent_ids[1], chunk_index, chunk_count, chunk FROM {out.table.read_sql()} ORDER BY 1, 2"
    ).fetchall()
    import re

    for doc_id, text in texts.items():
        if unit == "characters":
            want = ["".join(c) for c in reference_chunks(list(text), size, overlap)]
        elif unit == "words":
            want = [" ".join(c) for c in reference_chunks(text.split(), size, overlap)]
        else:
            sents = [" ".join(s.split()) for s in re.findall(SENT, text)]
            want = [" ".join(c) for c in reference_chunks([s for s in sents if s], size, overlap)]
        mine = [(i, n, c) for d, i, n, c in got if d == doc_id]
        assert [c for _, _, c in mine] == want, (unit, doc_id)
        assert [i for i, _, _ in mine] == list(range(len(want)))
        assert all(n == len(want) for _, n, _ in mine)
    assert "text" not in [c for c, _ in out.table.columns]


def test_rule_cleaner_and_sft_table(tmp_path: Path) -> None:
    raw = "Photo-\nsynthesis happens in <b>leaves</b>.\n\n\n\n12\nIt needs&nbsp;light.\x07   Really."
    rows = [
        {"path": "x", "text": raw, "question": "Where does photosynthesis happen?", "answer": " In leaves. "},
        {"path": "y", "text": "ok", "question": "  ", "answer": "dropped: no instruction"},
    ]
    steps = [
        Step("clean", RuleKnowledgeCleaner()),
        Step("sft", SFTTableAssembler(input_key="text", keep_columns=["path"])),
    ]
    storage, p = _pipe(tmp_path, rows, steps)
    cleaned = run_step(storage, p, "clean")
    text = duckdb.sql(f"SELECT text FROM {cleaned.table.read_sql()} WHERE path = 'x'").fetchall()[0][0]
    assert text == "Photosynthesis happens in leaves.\n\nIt needs light. Really."
    out = run_step(storage, p, "sft")
    got = duckdb.sql(f"SELECT instruction, input, output, path FROM {out.table.read_sql()}").fetchall()
    assert got == [("Where does photosynthesis happen?", text, "In leaves.", "x")]
