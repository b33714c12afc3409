"""Small helpers shared by tests (not fixtures): running jobs in-process against a tmp storage."""

import contextlib
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
from dagster import DagsterInstance, Definitions

from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from dataflow_dagster.core.runner import run_source, run_step
from dataflow_dagster.core.storage import Storage
from dataflow_dagster.defs.factory import build_definitions
from dataflow_dagster.defs.resources import LLMResource, StorageResource
from operators.core.contract import Operator
from operators.core.llm import LLMClient


def defs_for(pipelines: list[Pipeline], root: Path, llm: LLMResource | None = None) -> Definitions:
    return build_definitions(pipelines, llm=llm, storage=StorageResource(root=str(root)))


def run_job(defs: Definitions, job_name: str, instance: DagsterInstance | None = None, **kwargs: Any) -> Any:
    job = defs.resolve_job_def(job_name)
    return job.execute_in_process(instance=instance or DagsterInstance.ephemeral(), raise_on_error=False, **kwargs)


def materialized(result: Any) -> dict[str, Any]:
    """asset key string -> metadata dict of its materialisation in ``result``."""
    out = {}
    for ev in result.get_asset_materialization_events():
        m = ev.event_specific_data.materialization
        out[m.asset_key.to_user_string()] = {k: getattr(v, "value", v) for k, v in m.metadata.items()}
    return out


def check_results(result: Any) -> dict[str, bool]:
    return {f"{e.asset_key.to_user_string()}:{e.check_name}": e.passed for e in result.get_asset_check_evaluations()}


@contextlib.contextmanager
def loopback_server(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """A threaded HTTP server for ``handler`` on 127.0.0.1; yields its ``/v1`` base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout_s: float = 120.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except Exception:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout_s}s")


@contextlib.contextmanager
def llama_cpp_server(log: Path, alias: str = "smollm2", extra: Sequence[str] = ()) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server with the embedded model on 127.0.0.1, serving it as
    ``alias``; yields the base URL (``http://127.0.0.1:PORT/v1``). Its access log goes to ``log``.
    ``extra`` adds server flags (e.g. ``--logits_all true`` for prompt log-probabilities)."""
    from dataflow_dagster.llm.local import default_model_path

    port = free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(default_model_path()), "--model_alias", alias]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--seed", "0", *extra]
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        wait_http(f"http://127.0.0.1:{port}/v1/models", 120, proc)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


# ---- hostile SQL -------------------------------------------------------------------------------------
# (engine, sql): each one used to run far past the deadline, or to allocate gigabytes in the step
SQL_ATTACKS = [
    ("sqlite", "SELECT length(randomblob(1000000000))"),
    ("sqlite", "SELECT length(replace(hex(zeroblob(100000000)), '0', 'ab'))"),
    ("sqlite", "SELECT zeroblob(100000000) FROM orders LIMIT 60"),
    ("sqlite", "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT count(*) FROM r"),
    ("duckdb", "SELECT length(replace(repeat('a', 100000000), 'a', 'bb'))"),
    ("duckdb", "SELECT repeat('x', 100000000) FROM range(60)"),
    ("duckdb", "SELECT count(*) FROM range(100000000000)"),
]


# ---- hostile documents (built by hand: a few hundred bytes to a few hundred KB each) ---------------
def minimal_pdf(path: Path, content: bytes, filters: str = "", extra_page_keys: bytes = b"") -> Path:
    """A one-page PDF whose content stream is ``content`` (already encoded for ``filters``)."""
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> " + extra_page_keys + b">>",
        b"<< /Length %d %s>>\nstream\n" % (len(content), filters.encode()) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.7\n"), []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    path.write_bytes(bytes(out))
    return path


def hostile_pdfs(folder: Path) -> dict[str, Path]:
    """PDFs that break or stall pypdf: a stream inflating past its limit, 5000-deep nesting, a page
    tree with a number where a page belongs, and ~30 MB of text operators behind 60 KB of zlib."""
    import zlib

    folder.mkdir(parents=True, exist_ok=True)
    bomb = zlib.compress(b"0" * 100_000_000, 9)
    deep = b"[" * 5000 + b"]" * 5000
    slow = zlib.compress(b"BT /F1 12 Tf 72 700 Td (a) Tj ET\n" * 1_000_000, 9)
    out = {
        "inflate_bomb": minimal_pdf(folder / "inflate_bomb.pdf", bomb, "/Filter /FlateDecode "),
        "deep_nesting": minimal_pdf(
            folder / "deep_nesting.pdf", b"BT (x) Tj ET", extra_page_keys=b"/Deep " + deep + b" "
        ),
        "slow_text": minimal_pdf(folder / "slow_text.pdf", slow, "/Filter /FlateDecode "),
    }
    broken = minimal_pdf(folder / "bad_tree.pdf", b"BT (x) Tj ET").read_bytes()
    (folder / "bad_tree.pdf").write_bytes(broken.replace(b"/Kids [3 0 R]", b"/Kids [42 ]  "))
    out["bad_tree"] = folder / "bad_tree.pdf"
    return out


def docx_bomb(path: Path, uncompressed_mb: int) -> Path:
    """A real python-docx document whose main part is padded to ``uncompressed_mb`` of XML (the zip
    holds it in well under 1 % of that)."""
    import zipfile

    import docx

    base = path.with_suffix(".base.docx")
    d = docx.Document()
    d.add_paragraph("A document that is mostly padding.")
    d.save(str(base))
    para = b"<w:p><w:r><w:t>" + b"x" * 900 + b"</w:t></w:r></w:p>"
    with zipfile.ZipFile(base) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "word/document.xml":
                head, tail = data.split(b"<w:body>", 1)
                with dst.open(item.filename, "w", force_zip64=True) as fh:
                    fh.write(head + b"<w:body>")
                    chunk = para * 1000
                    for _ in range(uncompressed_mb * 2**20 // len(chunk)):
                        fh.write(chunk)
                    fh.write(tail)
            else:
                dst.writestr(item, data)
    base.unlink()
    return path


def send_json(handler: http.server.BaseHTTPRequestHandler, body: Any, status: int = 200) -> None:
    """Answer ``handler``'s request with ``body`` as JSON."""
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("content-type", "application/json")
    handler.send_header("content-length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def scripted_chat_handler(answer: Callable[[str], dict[str, Any]]) -> type[http.server.BaseHTTPRequestHandler]:
    """An OpenAI-compatible /chat/completions handler whose JSON answer is ``answer(last user message)``.

    For injecting degenerate but schema-valid model output (a parroted prompt, an echoed answer) that
    the embedded model produces only by chance, so the guards against it can be tested every time.
    """

    class _Scripted(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            prompt = str(body.get("messages", [{}])[-1].get("content", ""))
            content = json.dumps(answer(prompt))
            send_json(
                self,
                {
                    "id": "x",
                    "object": "chat.completion",
                    "model": body.get("model", "scripted"),
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                    ],
                    "usage": {"prompt_tokens": len(prompt) // 4, "completion_tokens": len(content) // 4},
                },
            )

        def log_message(self, *args: object) -> None:
            pass

    return _Scripted


def run_steps(
    tmp_path: Path, rows: list[dict[str, Any]], ops: list[Operator], llm: LLMClient | None = None
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Run ``ops`` as a chain of steps s0, s1, ... through the real runner over ``rows`` (a JSONL
    source in tmp storage); per step, its published parts ("table", "rejected", "errors") as rows,
    plus "_stats" (what the operator returned) and "_cache" (the step's response-cache counters)."""
    import json

    src = tmp_path / "in.jsonl"
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    pipe = Pipeline("t", Source(str(src)), [Step(f"s{i}", op) for i, op in enumerate(ops)])
    storage = Storage(tmp_path / ".df")
    run_source(storage, pipe)
    con = duckdb.connect()
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for i in range(len(ops)):
        res = run_step(storage, pipe, f"s{i}", llm=llm)
        out[f"s{i}"] = {
            part: con.sql(f"SELECT * FROM {ref.read_sql()}").to_arrow_table().to_pylist()
            for part, ref in res.refs.items()
        }
        out[f"s{i}"]["_stats"] = [res.lineage.get("stats", {})]
        out[f"s{i}"]["_cache"] = [res.lineage.get("cache", {})]  # response-cache hits/misses of the step
    return out


class HubStandIn(http.server.BaseHTTPRequestHandler):
    """The Hugging Face Hub's upload endpoints on 127.0.0.1 (point ``HF_ENDPOINT`` at the server).

    Answers what ``huggingface_hub``'s ``create_repo`` + ``upload_folder`` ask (repo creation, tree
    listing, preupload modes: every file "regular", so contents travel inline in the commit) and
    records each request in ``calls`` and each committed file in ``files`` (path -> bytes), so a test
    checks what would have reached the Hub, byte for byte, and which Authorization header came with it.
    """

    calls: list[dict[str, Any]] = []
    files: dict[str, bytes] = {}

    def log_message(self, *args: Any) -> None:
        return None

    def _reply(self, body: Any, status: int = 200) -> None:
        import json

        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _record(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.calls.append(
            {"method": self.command, "path": self.path, "auth": self.headers.get("Authorization"), "body": body}
        )
        return body

    def _validate_card(self, text: str) -> None:
        """Like the Hub, refuse (400) a README whose front matter is missing or is not YAML."""
        import yaml

        try:
            meta = yaml.safe_load(text.split("---")[1]) if text.startswith("---") else None
        except yaml.YAMLError:
            meta = None
        if isinstance(meta, dict):
            self._reply({"errors": [], "warnings": []})
        else:
            self._reply({"errors": [{"message": "README.md front matter is missing or not YAML"}]}, 400)

    def do_GET(self) -> None:
        self._record()
        if "/tree/" in self.path or "/paths-info/" in self.path:
            self._reply([])
        else:
            self._reply({"error": f"not a stand-in route: {self.path}"}, 404)

    def do_POST(self) -> None:
        import base64
        import json

        body = self._record()
        if self.path.startswith("/api/repos/create"):
            req = json.loads(body)
            repo = "/".join(filter(None, [req.get("organization"), req["name"]]))
            self._reply({"url": f"http://{self.headers['Host']}/datasets/{repo}", "name": repo})
        elif self.path.startswith("/api/validate-yaml"):
            self._validate_card(json.loads(body)["content"])
        elif "/preupload/" in self.path:
            files = json.loads(body)["files"]
            self._reply({"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]})
        elif "/commit/" in self.path:
            for line in body.decode().splitlines():
                item = json.loads(line)
                if item.get("key") == "file":
                    self.files[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
            repo = self.path.split("/api/datasets/")[1].split("/commit/")[0]
            self._reply(
                {"commitUrl": f"http://{self.headers['Host']}/datasets/{repo}/commit/{'0' * 40}", "commitOid": "0" * 40}
            )
        else:
            self._reply({"error": f"not a stand-in route: {self.path}"}, 404)


def run_op(tmp_path: Path, rows: list[dict], op: Operator) -> tuple[list[dict], list[dict], dict]:
    """One operator as a one-step pipeline over ``rows`` (real storage, real DuckDB): (kept, rejected, lineage)."""
    src = tmp_path / "in.jsonl"
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_text("".join(json.dumps({"row_no": i, **r}) + "\n" for i, r in enumerate(rows)))
    p = Pipeline("t", Source(str(src)), [Step("s", op)])
    st = Storage(tmp_path / ".df")
    run_source(st, p)
    out = run_step(st, p, "s")
    con = duckdb.connect()
    kept = con.sql(f"SELECT * FROM {out.refs['table'].read_sql()}").to_arrow_table().to_pylist()
    rej = (
        con.sql(f"SELECT * FROM {out.refs['rejected'].read_sql()}").to_arrow_table().to_pylist()
        if "rejected" in out.refs
        else []
    )
    return sorted(kept, key=lambda r: r["row_no"]), sorted(rej, key=lambda r: r["row_no"]), out.lineage


def agent_chain(res: Any, want: list[str], keys: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """The (operator, config) chain of the file the agent wrote, loaded back from disk, checked against
    the exact operator list and the listed settings of each operator."""
    from dataflow_dagster.core.yaml_loader import load_pipeline_file

    got = [(s.op.name, s.op.config_dict()) for s in load_pipeline_file(res.path).steps]
    assert [n for n, _ in got] == want, res.notes
    for op, expected in keys.items():
        cfg = next(c for n, c in got if n == op)
        assert {k: cfg.get(k) for k in expected} == expected, (op, cfg)
    return got
