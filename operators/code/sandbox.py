"""Runs untrusted programs, one confined process each, and says what happened to every one.

Generated code and generated tests are untrusted: a model can write a fork bomb, an endless loop or
``rm -rf`` as easily as a sort function. The evaluator therefore never executes code in its own
process. Each program gets a throwaway directory, an empty environment, limits on CPU, wall time,
memory, processes, file size and output, no network, and (as root) a uid of its own; afterwards every
process it left behind is killed, whatever it did to detach itself. The result is one of
``pass | fail | timeout | crash | oom`` per program; no program can make ``run`` raise.

Confinement layers are built in ``sandbox_isolation``. This module is pure Python (no Dagster) so the
same sandbox serves the Dagster asset, the CLI, tests and ``bench/sandbox.py``.
"""

import contextlib
import os
import queue
import secrets
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from operators.code.sandbox_isolation import (
    CgroupSlot,
    Isolation,
    SandboxLimits,
    alive,
    detect_isolation,
    kill_all,
    pids_of_uid,
)
from operators.code.sandbox_uids import claim_uids

STATUSES = ("pass", "fail", "timeout", "crash", "oom")
HARNESS_SOURCE = (Path(__file__).parent / "sandbox_harness.py").read_text(encoding="utf-8")
_TOKEN_BYTES = 32
_EXIT_GRACE_S = 0.2  # after the program exits, how long detached children may keep its pipes open
_OOM_MARKERS = ("MemoryError", "Cannot allocate memory", "std::bad_alloc", "out of memory")

__all__ = ["STATUSES", "Sandbox", "SandboxLimits", "SandboxResult", "claim_uids"]


@dataclass(frozen=True)
class SandboxResult:
    status: str  # one of STATUSES
    returncode: int | None  # negative: killed by that signal
    stdout: str
    stderr: str
    wall_s: float
    detail: str = ""
    truncated: bool = False  # output went over the cap and was cut (the program was stopped)


@dataclass
class _Slot:
    index: int
    uid: int | None
    cgroup: CgroupSlot


@dataclass
class _Collected:
    stdout: bytes
    stderr: bytes
    timed_out: bool
    over_output: bool


class Sandbox:
    """A bounded pool of confined program runners.

    ``workers`` programs run at once (default: one per core), each in a slot with its own uid and
    cgroup, so parallel programs can neither signal nor starve each other's process budget.
    """

    def __init__(
        self,
        limits: SandboxLimits | None = None,
        workers: int | None = None,
        python: str | None = None,
        base_dir: str | None = None,
        uid_base: int = 64000,
        isolation: Isolation | None = None,
        mode: str | None = None,
    ) -> None:
        """``mode``: one of ``MODES`` or ``auto`` (default: ``$DATAFLOW_SANDBOX``, else ``auto`` = bwrap);
        raises ``SandboxUnavailable`` rather than silently running with a weaker mode."""
        self.limits = limits or SandboxLimits()
        self.workers = max(1, workers or os.cpu_count() or 1)
        # Slot uids are claimed with flocks so that two sandboxes on one machine (parallel Dagster
        # steps, a test beside a bench) never share a uid, and so never reap each other's programs.
        self._uid_locks: list[int] = []
        uids = claim_uids(self.workers, uid_base, self._uid_locks) if os.geteuid() == 0 else []
        try:
            self.isolation = isolation or detect_isolation(python, uids[0] if uids else uid_base, mode)
        except BaseException:
            for fd in self._uid_locks:  # a refused mode must not keep the slot uids claimed
                os.close(fd)
            raise
        self.root = Path(tempfile.mkdtemp(prefix="dataflow-sandbox-", dir=base_dir))
        self.root.chmod(0o711)  # slots may enter their own directory but not list or touch others
        self._slots: queue.Queue[_Slot] = queue.Queue()
        self._all: list[_Slot] = []
        for i in range(self.workers):
            uid = uids[i] if uids else None
            slot = _Slot(i, uid, CgroupSlot(f"{self.root.name}-slot{i}", self.limits))
            self._all.append(slot)
            self._slots.put(slot)

    @property
    def description(self) -> dict[str, object]:
        return {
            "mode": self.isolation.mode,
            "workers": self.workers,
            "uids": [s.uid for s in self._all],
            "cgroups": bool(self._all and self._all[0].cgroup.dirs),
            "limits": self.limits.__dict__,
        }

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for slot in self._all:
            self._reap(slot, None)
            slot.cgroup.remove()
        shutil.rmtree(self.root, ignore_errors=True)
        for fd in self._uid_locks:
            os.close(fd)  # closing the descriptor releases the flock
        self._uid_locks.clear()

    def run(self, code: str, stdin: str | None = None, tests: str | None = None) -> SandboxResult:
        """Run one program; every failure, including the sandbox's own, becomes a result.

        With ``tests`` the code is imported as the module ``solution`` and the tests run against it
        (pass = every assert ran and held); without, the code runs as ``__main__`` (pass = it reached
        its end). Either way only the in-sandbox harness can report a pass (see ``sandbox_harness``).
        """
        slot = self._slots.get()
        try:
            return self._run_in_slot(slot, code, stdin or "", tests)
        except Exception as exc:
            return SandboxResult("crash", None, "", "", 0.0, f"sandbox error: {type(exc).__name__}: {exc}")
        finally:
            self._slots.put(slot)

    def run_many(
        self,
        programs: Sequence[str],
        stdins: Sequence[str | None] | None = None,
        tests: Sequence[str | None] | None = None,
    ) -> list[SandboxResult]:
        """Run programs in parallel on the bounded pool; results come back in input order."""
        inputs = list(stdins) if stdins is not None else [None] * len(programs)
        checks = list(tests) if tests is not None else [None] * len(programs)
        if len(inputs) != len(programs) or len(checks) != len(programs):
            raise ValueError(
                f"run_many got {len(programs)} programs, {len(inputs)} stdin values and {len(checks)} test sets"
            )
        if self.workers == 1:
            return [self.run(*args) for args in zip(programs, inputs, checks, strict=True)]
        with ThreadPoolExecutor(self.workers, thread_name_prefix="sandbox") as pool:
            return list(pool.map(self.run, programs, inputs, checks))

    def leftover_processes(self) -> set[int]:
        """Processes still alive in any slot (a test hook: it must be empty between runs)."""
        found: set[int] = set()
        for slot in self._all:
            found |= self._slot_pids(slot)
        return found

    # -- internals -------------------------------------------------------------------------------

    def _slot_pids(self, slot: _Slot) -> set[int]:
        pids = slot.cgroup.pids()
        if slot.uid is not None:
            pids |= pids_of_uid(slot.uid)
        pids.discard(os.getpid())
        return alive(pids)

    def _reap(self, slot: _Slot, proc: subprocess.Popen[bytes] | None) -> None:
        """Kill the program's whole tree: its session, its cgroup and everything running as its uid."""
        if proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.5)
        for _ in range(200):
            pids = self._slot_pids(slot)
            if not pids:
                break
            kill_all(pids)
            time.sleep(0.005)
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)

    def _run_in_slot(self, slot: _Slot, code: str, stdin: str, tests: str | None) -> SandboxResult:
        workdir = Path(tempfile.mkdtemp(prefix=f"s{slot.index}-", dir=self.root))
        stdin_path = self.root / f".stdin-{workdir.name}"
        fds: list[int] = []
        try:
            files = {"sandbox_harness.py": HARNESS_SOURCE, "solution.py": code}
            for name, text in files.items():
                (workdir / name).write_text(text, encoding="utf-8")
            with open(os.open(stdin_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as fh:
                fh.write(stdin)  # 0600: no other program (or user) can read another row's input
            if slot.uid is not None:
                for p in (workdir, *(workdir / n for n in files)):
                    os.chown(p, slot.uid, slot.uid)
            workdir.chmod(0o700)
            token = secrets.token_bytes(_TOKEN_BYTES)
            token_r, token_w = os.pipe()
            verdict_r, verdict_w = os.pipe()
            fds += [token_r, token_w, verdict_r, verdict_w]
            os.write(token_w, token)
            os.close(token_w)
            fds.remove(token_w)
            # The tests reach the harness as an open, already-unlinked file: there is no path a solution
            # could read them from to hard-code the expected answers.
            tests_fd = -1
            if tests is not None:
                tests_path = self.root / f".tests-{workdir.name}"
                tests_fd = os.open(tests_path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
                fds.append(tests_fd)
                tests_path.unlink()
                os.write(tests_fd, tests.encode("utf-8"))
                os.lseek(tests_fd, 0, os.SEEK_SET)
            child_fds = (token_r, verdict_w) if tests_fd < 0 else (token_r, verdict_w, tests_fd)
            indir = self.isolation.inside_input or str(workdir)
            net = "0" if self.isolation.blocks_network_by_namespace else "1"
            mode = "script" if tests is None else "tests"
            argv = [f"{indir}/sandbox_harness.py", mode, str(verdict_w), str(token_r), indir, net, str(tests_fd)]
            cmd = self.isolation.command(self.limits, slot.uid, slot.cgroup.procs_files, str(workdir), argv)
            oom_before = slot.cgroup.oom_kills()
            started = time.monotonic()
            with open(stdin_path, "rb") as fin:
                proc = subprocess.Popen(
                    cmd,
                    cwd=workdir,
                    env={},
                    stdin=fin,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    start_new_session=True,
                    close_fds=True,
                    pass_fds=child_fds,
                )
            for fd in child_fds:
                os.close(fd)
                fds.remove(fd)
            try:
                got = self._collect(proc, slot, started + self.limits.wall_s)
            finally:
                self._reap(slot, proc)
            wall = time.monotonic() - started
            oom = slot.cgroup.oom_kills() > oom_before
            verdict = _read_all(verdict_r)
            rc = proc.returncode
            if self.isolation.mode == "bwrap" and rc is not None and 128 < rc < 128 + 65:
                rc = 128 - rc  # bubblewrap reports its child's death by signal N as exit status 128 + N
            return self._classify(rc, got, wall, oom, verdict == token, bool(verdict))
        finally:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
            shutil.rmtree(workdir, ignore_errors=True)
            with contextlib.suppress(OSError):
                stdin_path.unlink()

    def _collect(self, proc: subprocess.Popen[bytes], slot: _Slot, deadline: float) -> _Collected:
        """Read both pipes up to the output cap, until EOF, the wall deadline or the cap is hit."""
        cap = self.limits.output_bytes
        bufs: dict[int, bytearray] = {}
        seen: dict[int, int] = {}
        sel = selectors.DefaultSelector()
        for stream in (proc.stdout, proc.stderr):
            assert stream is not None
            os.set_blocking(stream.fileno(), False)
            bufs[stream.fileno()] = bytearray()
            seen[stream.fileno()] = 0
            sel.register(stream.fileno(), selectors.EVENT_READ)
        timed_out = over = False
        exited_at: float | None = None
        try:
            while sel.get_map():
                now = time.monotonic()
                if now >= deadline:
                    timed_out = proc.poll() is None
                    break
                if exited_at is None and proc.poll() is not None:
                    exited_at = now
                if exited_at is not None and now - exited_at > _EXIT_GRACE_S:
                    self._reap(slot, None)  # detached children still hold the pipes: end them
                    exited_at = float("inf")
                for key, _ in sel.select(timeout=min(0.05, max(0.0, deadline - now))):
                    fd = int(key.fd)  # type: ignore[arg-type]
                    try:
                        chunk = os.read(fd, 65536)
                    except BlockingIOError:
                        continue
                    if not chunk:
                        sel.unregister(fd)
                        continue
                    seen[fd] += len(chunk)
                    bufs[fd] += chunk[: max(0, cap - len(bufs[fd]))]
                    over = over or seen[fd] > cap
                if over:
                    break
        finally:
            sel.close()
        if not timed_out and not over:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            timed_out = proc.poll() is None
        assert proc.stdout is not None and proc.stderr is not None
        return _Collected(bytes(bufs[proc.stdout.fileno()]), bytes(bufs[proc.stderr.fileno()]), timed_out, over)

    def _classify(
        self, rc: int | None, got: _Collected, wall: float, oom: bool, verdict: bool, tampered: bool
    ) -> SandboxResult:
        out, err = _text(got.stdout), _text(got.stderr)
        sig = -rc if rc is not None and rc < 0 else None
        last = err.strip().splitlines()[-1][:200] if err.strip() else ""
        if got.timed_out:
            status, detail = "timeout", f"wall-time limit {self.limits.wall_s}s"
        elif got.over_output:
            status, detail = "crash", f"output limit {self.limits.output_bytes} bytes exceeded; program stopped"
        elif verdict:
            status, detail = "pass", ""
        elif tampered:
            status, detail = "fail", "something other than the harness wrote to the verdict channel"
        elif rc == 0:
            status, detail = (
                "crash",
                (
                    "the program ended with status 0 before the harness confirmed that its tests ran "
                    "(os._exit, a killed or redirected harness); not a pass"
                ),
            )
        elif oom or any(m in err for m in _OOM_MARKERS):
            status, detail = "oom", f"memory limit {self.limits.memory_mb} MiB" + (": " + last if last else "")
        elif sig == signal.SIGXCPU or (sig == signal.SIGKILL and wall >= self.limits.cpu_s):
            status, detail = "timeout", f"CPU-time limit {self.limits.cpu_s}s"
        elif sig == signal.SIGXFSZ:
            status, detail = "crash", f"file-size limit {self.limits.fsize_mb} MiB"
        elif sig is not None:
            status, detail = "crash", f"killed by {signal.Signals(sig).name}"
        elif "AssertionError" in err:
            status, detail = "fail", last
        else:
            status, detail = "crash", f"exit code {rc}" + (": " + last if last else "")
        return SandboxResult(status, rc, out, err, round(wall, 4), detail, got.over_output)


def _read_all(fd: int) -> bytes:
    """Whatever is in the verdict pipe (every writer is dead by now, so this never blocks for long)."""
    os.set_blocking(fd, False)
    data = b""
    with contextlib.suppress(BlockingIOError, OSError):
        while len(data) <= 4 * _TOKEN_BYTES:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            data += chunk
    return data


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
