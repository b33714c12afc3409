"""Small helpers shared by tests (not fixtures): running jobs in-process against a tmp storage."""

import contextlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dagster import DagsterInstance, Definitions

from dataflow_dagster.core.pipeline import Pipeline
from dataflow_dagster.defs.factory import build_definitions
from dataflow_dagster.defs.resources import LLMResource, StorageResource


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
