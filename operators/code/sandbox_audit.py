"""Self-audit of the sandbox against a corpus of hostile programs (goal R4).

A sandbox is only as good as the attacks it has been shown to stop, so the audit runs each snippet
of a corpus (one file per attack, first line ``# expect: STATUS ...``) and then checks, from outside,
that nothing escaped: no process left alive in any slot, the planted secret absent from the output,
a canary directory outside the sandbox untouched, no connection reached a listener on 127.0.0.1,
nothing written beside the sandbox's own directories, output within its cap. Snippets receive the
canary path, the listener's port and this process's pid on stdin, so they aim at real targets.
"""

import json
import os
import socket
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from operators.code.sandbox import STATUSES, Sandbox, SandboxResult

SECRET_ENV = "DATAFLOW_SANDBOX_AUDIT_SECRET"


@dataclass
class Verdict:
    name: str
    expected: tuple[str, ...]
    result: SandboxResult
    problems: list[str] = field(default_factory=list)

    @property
    def contained(self) -> bool:
        return not self.problems


def expected_statuses(code: str, name: str) -> tuple[str, ...]:
    first = code.splitlines()[0] if code else ""
    if not first.startswith("# expect:"):
        raise ValueError(f"hostile snippet {name}: first line must be '# expect: STATUS ...' (one of {STATUSES})")
    found = tuple(first.split(":", 1)[1].split())
    bad = [s for s in found if s not in STATUSES]
    if bad or not found:
        raise ValueError(f"hostile snippet {name}: unknown expected status {bad}; use {STATUSES}")
    return found


class _Listener:
    """A real TCP server on 127.0.0.1 that counts every connection it accepts."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def run_hostile_corpus(sandbox: Sandbox, directory: str | os.PathLike[str]) -> list[Verdict]:
    snippets = sorted(Path(directory).glob("*.py"))
    if not snippets:
        raise FileNotFoundError(f"no hostile snippets (*.py) in {directory}")
    secret = f"dataflow-secret-{uuid.uuid4().hex}"
    previous = os.environ.get(SECRET_ENV)
    os.environ[SECRET_ENV] = secret
    canary = Path(tempfile.mkdtemp(prefix="dataflow-canary-"))
    canary.chmod(0o755)
    (canary / "keep.txt").write_text("canary")
    listener = _Listener()
    verdicts = []
    try:
        stdin = json.dumps({"canary": str(canary), "port": listener.port, "pid": os.getpid()})
        for path in snippets:
            code = path.read_text(encoding="utf-8")
            expected = expected_statuses(code, path.name)
            accepted_before = listener.accepted
            result = sandbox.run(code, stdin)
            v = Verdict(path.stem, expected, result)
            if result.status not in expected:
                v.problems.append(f"status {result.status} ({result.detail}) not in expected {expected}")
            if left := sandbox.leftover_processes():
                v.problems.append(f"{len(left)} process(es) left running: {sorted(left)[:5]}")
            if secret in result.stdout or secret in result.stderr:
                v.problems.append("the parent's secret environment variable leaked into the output")
            if not canary.exists() or sorted(p.name for p in canary.iterdir()) != ["keep.txt"]:
                v.problems.append(f"canary directory {canary} was modified")
            if listener.accepted > accepted_before:
                v.problems.append("a connection reached the listener on 127.0.0.1")
            if stray := [p.name for p in sandbox.root.iterdir()]:
                v.problems.append(f"files left beside the sandbox directories: {stray[:5]}")
            cap = sandbox.limits.output_bytes
            if len(result.stdout.encode()) > cap * 2 or len(result.stderr.encode()) > cap * 2:
                v.problems.append("output exceeded its cap")
            verdicts.append(v)
            if not canary.exists():  # keep later snippets honest if one did get through
                canary.mkdir()
                (canary / "keep.txt").write_text("canary")
    finally:
        listener.close()
        if previous is None:
            os.environ.pop(SECRET_ENV, None)
        else:
            os.environ[SECRET_ENV] = previous
        import shutil

        shutil.rmtree(canary, ignore_errors=True)
    return verdicts


def summary_line(verdicts: list[Verdict]) -> str:
    n = len(verdicts)
    ok = sum(v.contained for v in verdicts)
    share = 100.0 * ok / n if n else 0.0
    return f"GOAL R4 measured={share:.1f} target>=100 unit=pct_hostile_contained size={n} " + (
        "PASS" if n and ok == n else "SHORT"
    )
