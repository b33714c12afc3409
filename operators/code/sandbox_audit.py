"""Self-audit of the sandbox against a corpus of hostile programs (goal R4).

A sandbox is only as good as the attacks it has been shown to stop, so the audit runs each snippet
of a corpus (one file per attack, first line ``# expect: STATUS ...``; a line ``# ---- tests ----``
splits a solution from the tests the harness runs against it; ``# prelude: NAME`` inserts the shared
``NAME.prelude``) and then checks, from outside, that
nothing escaped: the status is an expected one (a wrong solution never ``pass``), no process left
alive in any slot, no planted secret in the output (this process's environment, a fake storage root,
another row's input file, a repository file, a decoy process's command line), a canary directory
untouched, no connection reached a TCP listener on 127.0.0.1 or a mode-0777 unix socket, no file left
in /tmp, /var/tmp or /dev/shm, nothing written beside the sandbox's own directories, output within its
cap. Snippets receive the targets' paths, the port and this process's pid on stdin, so they aim at
real targets.
"""

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from operators.code.sandbox import STATUSES, Sandbox, SandboxLimits, SandboxResult

SECRET_ENV = "DATAFLOW_SANDBOX_AUDIT_SECRET"
TESTS_MARKER = "# ---- tests ----"
REPO_MARKER = "dataflow-repo-marker-5d1c"  # this file's own text: seen in output = the repository was read
ESCAPE_GLOBS = ("/tmp/dataflow-escape-*", "/var/tmp/dataflow-escape-*", "/dev/shm/dataflow-escape-*")


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


def with_preludes(code: str, directory: Path) -> str:
    """Replace each ``# prelude: NAME ...`` line with ``NAME.prelude`` from the corpus directory, so
    snippets share their helper code instead of repeating it."""
    out = []
    for line in code.splitlines(keepends=True):
        if line.startswith("# prelude: "):
            name = line.split()[2]
            line = (directory / f"{name}.prelude").read_text(encoding="utf-8").rstrip("\n") + "\n\n\n"
        out.append(line)
    return "".join(out)


def split_snippet(code: str) -> tuple[str, str | None]:
    """(solution, tests) of a snippet; tests is None when it is a plain script."""
    if TESTS_MARKER not in code:
        return code, None
    solution, tests = code.split(TESTS_MARKER, 1)
    return solution, tests.lstrip("\n")


class _Listener:
    """A real server (TCP on 127.0.0.1, or a mode-0777 unix socket) that counts accepted connections."""

    def __init__(self, unix_path: str | None = None) -> None:
        self.sock = socket.socket(socket.AF_UNIX if unix_path else socket.AF_INET)
        self.sock.bind(unix_path or ("127.0.0.1", 0))
        if unix_path:
            os.chmod(unix_path, 0o777)
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = 0 if unix_path else self.sock.getsockname()[1]
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


class _Targets:
    """Everything a snippet aims at outside the sandbox, set up before and checked after each run."""

    def __init__(self, sandbox: Sandbox) -> None:
        # A launcher may have put the secret in this process's initial environment (what /proc shows).
        self.secret = os.environ.get(SECRET_ENV) or f"dataflow-secret-{uuid.uuid4().hex}"
        self.previous = os.environ.get(SECRET_ENV)
        os.environ[SECRET_ENV] = self.secret
        self.canary = Path(tempfile.mkdtemp(prefix="dataflow-canary-"))
        self.canary.chmod(0o755)
        self.storage = Path(tempfile.mkdtemp(prefix="dataflow-storage-"))
        self.storage.chmod(0o755)
        (self.storage / "llm_cache.txt").write_text(f"cached completion {self.secret}")
        (self.storage / "llm_cache.txt").chmod(0o644)
        self.decoy_stdin = sandbox.root / ".stdin-decoy"
        self.decoy_stdin.write_text(f"another row's input {self.secret}")
        self.decoy_stdin.chmod(0o600)
        self.decoy = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(600)", f"dataflow-decoy-{self.secret}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.tcp = _Listener()
        self.sockdir = Path(tempfile.mkdtemp(prefix="dataflow-sock-"))
        self.sockdir.chmod(0o755)
        self.unix = _Listener(str(self.sockdir / "s"))
        self.reset_canary()

    def reset_canary(self) -> None:
        self.canary.mkdir(exist_ok=True)
        (self.canary / "keep.txt").write_text("canary")

    @property
    def stdin(self) -> str:
        return json.dumps(
            {
                "canary": str(self.canary),
                "storage": str(self.storage),
                "repo_file": str(Path(__file__).resolve()),
                "port": self.tcp.port,
                "unix_socket": str(self.sockdir / "s"),
                "pid": os.getpid(),
            }
        )

    def close(self) -> None:
        self.tcp.close()
        self.unix.close()
        self.decoy.kill()
        self.decoy.wait()
        if self.previous is None:
            os.environ.pop(SECRET_ENV, None)
        else:
            os.environ[SECRET_ENV] = self.previous
        for d in (self.canary, self.storage, self.sockdir):
            shutil.rmtree(d, ignore_errors=True)
        self.decoy_stdin.unlink(missing_ok=True)


def _problems(
    sandbox: Sandbox, t: _Targets, result: SandboxResult, expected: tuple[str, ...], before: int
) -> list[str]:
    found = []
    if result.status not in expected:
        found.append(f"status {result.status} ({result.detail}) not in expected {expected}")
    if left := sandbox.leftover_processes():
        found.append(f"{len(left)} process(es) left running: {sorted(left)[:5]}")
    text = result.stdout + result.stderr
    if t.secret in text:
        found.append("a secret leaked into the output (environment, storage root, another row's input or /proc)")
    if REPO_MARKER in text:
        found.append("a repository file was read")
    if not t.canary.exists() or sorted(p.name for p in t.canary.iterdir()) != ["keep.txt"]:
        found.append(f"canary directory {t.canary} was modified")
    if t.tcp.accepted + t.unix.accepted > before:
        found.append("a connection reached a listener outside (127.0.0.1 or a unix socket)")
    if left_files := [p for g in ESCAPE_GLOBS for p in glob.glob(g)]:
        found.append(f"files outlived the run: {left_files[:3]}")
        for p in left_files:
            Path(p).unlink(missing_ok=True)
    if stray := [p.name for p in sandbox.root.iterdir() if p != t.decoy_stdin]:
        found.append(f"files left beside the sandbox directories: {stray[:5]}")
    cap = sandbox.limits.output_bytes
    if len(result.stdout.encode()) > cap * 2 or len(result.stderr.encode()) > cap * 2:
        found.append("output exceeded its cap")
    return found


def run_hostile_corpus(
    sandbox: Sandbox, directory: str | os.PathLike[str], names: set[str] | None = None, progress: Path | None = None
) -> list[Verdict]:
    """Run each snippet (or only ``names``); ``progress`` gets a line before each run, so a caller
    can tell which snippet was running if this process itself gets killed."""
    snippets = sorted(p for p in Path(directory).glob("*.py") if names is None or p.stem in names)
    if not snippets:
        raise FileNotFoundError(f"no hostile snippets (*.py) in {directory}")
    targets = _Targets(sandbox)
    verdicts = []
    try:
        for path in snippets:
            code = with_preludes(path.read_text(encoding="utf-8"), path.parent)
            expected = expected_statuses(code, path.name)
            if progress is not None:
                with progress.open("a") as fh:
                    fh.write(path.stem + "\n")
            before = targets.tcp.accepted + targets.unix.accepted
            solution, tests = split_snippet(code)
            result = sandbox.run(solution, targets.stdin, tests)
            v = Verdict(path.stem, expected, result, _problems(sandbox, targets, result, expected, before))
            verdicts.append(v)
            targets.reset_canary()  # keep later snippets honest if one did get through
    finally:
        targets.close()
    return verdicts


def summary_line(verdicts: list[Verdict]) -> str:
    n = len(verdicts)
    ok = sum(v.contained for v in verdicts)
    share = 100.0 * ok / n if n else 0.0
    return f"GOAL R4 measured={share:.1f} target>=100 unit=pct_hostile_contained size={n} " + (
        "PASS" if n and ok == n else "SHORT"
    )


def python_for_uid(uid: int) -> str | None:
    """An interpreter that ``uid`` can run programs with: ours, else the system's (ours may live under
    a home directory that other users cannot traverse)."""
    from operators.code.sandbox_isolation import SETPRIV

    usable = (
        "import os, sys; ok = all(os.access(p, os.R_OK | os.X_OK) for p in "
        "(os.path.realpath(sys.executable), sys.base_prefix, sys.prefix)); sys.exit(0 if ok else 1)"
    )
    for py in (sys.executable, "/usr/bin/python3", shutil.which("python3") or "python3"):
        cmd = [SETPRIV, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--", py, "-I", "-c", usable]
        try:
            if subprocess.run(cmd, capture_output=True, env={}, timeout=30).returncode == 0:
                return py
        except (OSError, subprocess.SubprocessError):
            continue
    return None


def _reap_uid(uid: int) -> None:
    from operators.code.sandbox_isolation import alive, kill_all, pids_of_uid

    for _ in range(100):
        pids = alive(pids_of_uid(uid))
        if not pids:
            return
        kill_all(pids)
        time.sleep(0.02)


def run_corpus_as_user(
    uid: int, mode: str, python: str, directory: str | os.PathLike[str], timeout_s: float = 600
) -> list[dict[str, object]]:
    """Run the corpus in ``mode`` from an evaluator process running as ``uid`` (as a non-root user
    would), one snippet at a time. A snippet that kills the evaluator is recorded as escaped and the
    evaluator restarted for the rest, so one escape does not hide the others."""
    from operators.code.sandbox_isolation import SETPRIV

    names = sorted(p.stem for p in Path(directory).glob("*.py"))
    secret = f"dataflow-secret-{uuid.uuid4().hex}"
    results: list[dict[str, object]] = []
    work = Path(tempfile.mkdtemp(prefix="dataflow-audit-"))
    try:
        os.chown(work, uid, uid)
        while names:
            progress, out = work / "progress", work / "out.jsonl"
            for f in (progress, out):
                f.write_text("")
                os.chown(f, uid, uid)
            cmd = [SETPRIV, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]
            cmd += [python, "-B", "-m", "operators.code.sandbox_audit", mode, str(directory), str(progress), str(out)]
            env = {"PYTHONPATH": str(Path(__file__).resolve().parents[2]), SECRET_ENV: secret, "OPENAI_API_KEY": secret}
            env["DATAFLOW_AUDIT_NAMES"] = ",".join(names)
            env["TMPDIR"] = str(work)  # what a killed evaluator leaves behind goes when ``work`` does
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout_s, cwd=work)
            _reap_uid(uid)  # a killed evaluator cannot clean up after itself; the uid is ours alone
            done = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
            results += done
            finished = {str(d["name"]) for d in done}
            started = [n for n in progress.read_text().split() if n not in finished]
            if not done and not started:
                raise RuntimeError(f"the audit evaluator as uid {uid} failed: {proc.stderr[-2000:]}")
            for name in started:
                results.append(
                    {"name": name, "status": "killed", "contained": False, "problems": ["it killed the evaluator"]}
                )
            names = [n for n in names if n not in finished and n not in started]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return sorted(results, key=lambda r: str(r["name"]))


def _evaluator_main(argv: list[str]) -> None:
    """The evaluator side of ``run_corpus_as_user``: one JSON line per snippet, written as it finishes."""
    mode, directory, progress, out = argv
    names = [n for n in os.environ.get("DATAFLOW_AUDIT_NAMES", "").split(",") if n]
    limits = SandboxLimits(wall_s=3, cpu_s=2, memory_mb=256, nproc=16)
    with Sandbox(limits, workers=1, mode=mode) as sandbox:
        for name in names:
            (v,) = run_hostile_corpus(sandbox, directory, {name}, Path(progress))
            line = {"name": v.name, "status": v.result.status, "contained": v.contained, "problems": v.problems}
            line["wall_s"] = v.result.wall_s
            with open(out, "a") as fh:
                fh.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    _evaluator_main(sys.argv[1:])
