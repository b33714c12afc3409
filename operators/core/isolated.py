"""Run work on hostile input (model-written SQL, user documents) in a child process under limits.

Limits enforced inside a computation are cooperative: SQLite's progress handler counts VM opcodes,
so one slow function call (``randomblob(1e9)``) runs straight past it; DuckDB's ``interrupt()`` is
checked between vectors; pypdf and python-docx have no deadline at all; and a result or a document
that needs gigabytes raises ``MemoryError`` in the step's own process, killing the step. So the
work runs in a long-lived child process (``python -m operators.core.isolated``) with an address
space limit (``RLIMIT_AS``) it sets on itself before reading any request, and the parent waits for
each answer with a wall-clock deadline: past it the child is SIGKILLed and a fresh one starts on the
next call. Every failure comes back as an ``Outcome`` (timeout, memory, crashed, error), never as an
exception in the caller, so each becomes an error row.

One worker serves many calls (start-up is ~0.1-0.3 s; a call costs a pipe round trip), which keeps
the normal case fast. The child gets a scrubbed environment (no API keys) and no stdin/stderr of the
step. Answers are unpickled with an allow-list of plain types, so even a child taken over by a
parser bug cannot make the parent run code.
"""

import importlib
import io
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

_HEADER = struct.Struct("!Q")
START_TIMEOUT_S = 60.0  # imports on a loaded 2-core machine; not counted against any call's deadline
_ENV_KEEP = ("PATH", "PYTHONPATH", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "HOME", "VIRTUAL_ENV")
_SAFE_GLOBALS = (
    {
        ("builtins", n)
        for n in ("list", "dict", "tuple", "set", "frozenset", "bytearray", "complex", "bytes", "str", "int", "float")
    }
    | {("datetime", n) for n in ("datetime", "date", "time", "timedelta", "timezone")}
    | {("decimal", "Decimal"), ("uuid", "UUID"), ("zoneinfo", "ZoneInfo")}
)


@dataclass
class Outcome:
    """``status``: ok | error | timeout | memory | crashed. ``value`` is the function's return value."""

    status: str
    value: Any = None
    message: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _SAFE_GLOBALS:
            raise pickle.UnpicklingError(f"refused to unpickle {module}.{name} from a worker")
        return super().find_class(module, name)


class IsolatedWorker:
    """A child process that runs ``module:function`` calls one at a time, each with a deadline.

    ``memory_mb`` caps the child's address space (Python, SQLite, DuckDB and parser allocations
    alike). Use as a context manager or call ``close()``; a killed child is replaced lazily.
    """

    def __init__(self, memory_mb: int = 1024, label: str = "worker", preload: tuple[str, ...] = ()) -> None:
        self.memory_mb, self.label, self.preload = memory_mb, label, preload
        self._proc: subprocess.Popen[bytes] | None = None
        self._frames = _Frames(-1)
        self.restarts = 0

    def __enter__(self) -> "IsolatedWorker":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            env = {k: os.environ[k] for k in _ENV_KEEP if k in os.environ}
            paths = [p for p in sys.path if p]
            env["PYTHONPATH"] = os.pathsep.join(paths)
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "operators.core.isolated", str(self.memory_mb * 2**20), *self.preload],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
                close_fds=True,
            )
            assert self._proc.stdout is not None
            self._frames = _Frames(self._proc.stdout.fileno())
            # The child answers once its imports are done: a call's deadline starts after that.
            self._frames.read(time.monotonic() + START_TIMEOUT_S)
        return self._proc

    def call(self, target: str, args: tuple[Any, ...], timeout_s: float) -> Outcome:
        """Run ``target`` (``"package.module:function"``) on ``args`` in the child within ``timeout_s``."""
        return self.call_many(target, [args], timeout_s)[0]

    def call_many(self, target: str, many: list[tuple[Any, ...]], timeout_s: float) -> list[Outcome]:
        """Run ``target`` on each of ``many`` in order, each within ``timeout_s`` of the previous answer.

        The whole list goes over in one message and answers stream back, so on a busy machine the
        cost is one process wake-up per batch rather than per call. A call past its deadline kills
        the child; the calls after it go to a fresh one.
        """
        out: list[Outcome] = []
        while len(out) < len(many):
            out.extend(self._batch(target, many[len(out) :], timeout_s))
        return out

    def _batch(self, target: str, many: list[tuple[Any, ...]], timeout_s: float) -> list[Outcome]:
        """Answers for a prefix of ``many`` (at least one): stops after a call that killed the child."""
        try:
            proc = self._start()
        except (TimeoutError, EOFError, OSError):
            code = self._kill()
            return [Outcome("crashed", message=f"the {self.label} did not start: {_death(code, self.memory_mb)}")]
        assert proc.stdin is not None and proc.stdout is not None
        payload = pickle.dumps([(target, args) for args in many], protocol=pickle.HIGHEST_PROTOCOL)
        out: list[Outcome] = []
        started = time.monotonic()
        try:
            proc.stdin.write(_HEADER.pack(len(payload)) + payload)
            proc.stdin.flush()
            for _ in many:
                raw = self._frames.read(started + timeout_s)
                try:
                    status, value, message = _SafeUnpickler(io.BytesIO(raw)).load()
                except Exception as exc:  # a malformed answer: the child is not trusted to be sane
                    self._kill()
                    msg = f"unreadable answer from the {self.label}: {exc}"
                    return [*out, Outcome("error", message=msg, seconds=_since(started))]
                out.append(Outcome(status, value, message, _since(started)))
                started = time.monotonic()
        except TimeoutError:
            self._kill()
            msg = f"ran longer than {timeout_s:g}s; the worker was killed"
            out.append(Outcome("timeout", message=msg, seconds=_since(started)))
        except (BrokenPipeError, EOFError, OSError):
            code = self._kill()
            out.append(Outcome("crashed", message=_death(code, self.memory_mb), seconds=_since(started)))
        return out

    def _kill(self) -> int | None:
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.kill()
        code = proc.wait()
        for stream in (proc.stdin, proc.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        self.restarts += 1
        return code

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()  # EOF: the child exits on its own
            proc.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _since(started: float) -> float:
    return round(time.monotonic() - started, 4)


def _death(code: int | None, memory_mb: int) -> str:
    if code is not None and code < 0:
        sig = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
        return f"the worker died with {sig} (out of memory under its {memory_mb} MB limit, or a crash)"
    return f"the worker exited with code {code} (out of memory under its {memory_mb} MB limit, or a crash)"


class _Frames:
    """Length-prefixed frames from a pipe, read in large chunks (many small answers per syscall)."""

    def __init__(self, fd: int) -> None:
        self.fd, self.buf = fd, bytearray()

    def _fill(self, n: int, deadline: float | None) -> None:
        while len(self.buf) < n:
            if deadline is not None:
                wait = deadline - time.monotonic()
                if wait <= 0 or not select.select([self.fd], [], [], wait)[0]:
                    raise TimeoutError
            chunk = os.read(self.fd, max(n - len(self.buf), 1 << 16))
            if not chunk:
                raise EOFError
            self.buf += chunk

    def read(self, deadline: float | None) -> bytes:
        self._fill(_HEADER.size, deadline)
        (size,) = _HEADER.unpack_from(self.buf)
        self._fill(_HEADER.size + size, deadline)
        frame = bytes(self.buf[_HEADER.size : _HEADER.size + size])
        del self.buf[: _HEADER.size + size]
        return frame


def _write_frame(fd: int, data: bytes) -> None:
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


def _serve(memory_bytes: int, preload: list[str]) -> None:
    """Child main loop: limit ourselves, import, say ready, then answer requests until stdin closes."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    frames, fout = _Frames(sys.stdin.buffer.fileno()), os.dup(1)
    # Anything a library prints (Python or C level) goes to /dev/null, never into the answer frames.
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    for module in preload:
        importlib.import_module(module)
    _write_frame(fout, b"ready")
    while True:
        try:
            calls = pickle.loads(frames.read(None))
        except EOFError:
            return
        for target, args in calls:
            _answer(fout, target, args)


def _answer(fout: int, target: str, args: tuple[Any, ...]) -> None:
    """Run one call and write its answer frame; nothing raised here may end the loop."""
    try:
        module, func = target.split(":")
        answer: tuple[str, Any, str] = ("ok", getattr(importlib.import_module(module), func)(*args), "")
    except MemoryError:
        answer = ("memory", None, "needed more memory than the worker's limit")
    except RecursionError:
        answer = ("error", None, "RecursionError: input nested too deeply")
    except Exception as exc:
        answer = ("error", None, f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}")
    try:
        data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
    except MemoryError:
        data = pickle.dumps(("memory", None, "the answer needed more memory than the worker's limit"))
    except Exception as exc:
        data = pickle.dumps(("error", None, f"answer cannot be sent back: {type(exc).__name__}"))
    _write_frame(fout, data)


if __name__ == "__main__":
    _serve(int(sys.argv[1]), sys.argv[2:])
