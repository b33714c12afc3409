"""How a sandboxed program is confined: the launch command and the per-slot cgroups.

Every layer is set up by exec'ing small util-linux tools (``unshare``, ``prlimit``, ``setpriv``), not
by a Python ``preexec_fn``: the evaluator launches programs from a thread pool, and Python code run
between fork and exec in a threaded parent can deadlock. Each tool execs the next one, so the process
we wait on *is* the program and its exit status is exact (``unshare --fork`` would insert a parent
that misreports deaths by signal in util-linux 2.38).

Layers, strongest first, each used when the machine allows it:
- a cgroup per worker slot (pids.max, memory limit): bounds a fork bomb and the memory of all its
  processes together, and lists every process to kill afterwards, even ones that called setsid();
- a dedicated unprivileged uid per slot (when we are root): RLIMIT_NPROC is enforced (it is not for
  root), the program cannot write outside its directory or read other users' files, and a
  ``kill(-1)`` reaches only its own processes;
- a new network namespace (only a downed loopback): no network at all;
- rlimits (CPU, address space, processes, file size, open files, no core dumps);
- an empty environment and ``python -I`` (no PYTHON* variables, no user site).
Without namespaces (an unprivileged user on a host without user namespaces) the program starts with
a prelude that disables ``socket`` instead; ``isolation`` reports which layers are active.
"""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
UNSHARE, PRLIMIT, SETPRIV = (shutil.which(t) or f"/usr/bin/{t}" for t in ("unshare", "prlimit", "setpriv"))

SOCKET_BLOCK_PRELUDE = (
    "import socket as _s\n"
    "def _deny(*a, **k):\n    raise PermissionError('network is disabled in this sandbox')\n"
    "_s.socket = _deny; _s.create_connection = _deny; _s.socketpair = _deny\n"
    "del _s, _deny\n"
)


@dataclass(frozen=True)
class SandboxLimits:
    """Per-program limits. Memory is address space per process (RLIMIT_AS) and, with cgroups, the
    total of the program's processes."""

    cpu_s: int = 2
    wall_s: float = 5.0
    memory_mb: int = 256
    nproc: int = 16
    fsize_mb: int = 8
    nofile: int = 64
    output_bytes: int = 64 * 1024


def _own_cgroup_paths() -> dict[str, str]:
    """controller -> this process's cgroup path (v1 lines ``N:ctrl:/path``; v2 as ``""``)."""
    out: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, ctrls, path = line.split(":", 2)
            for c in ctrls.split(",") if ctrls else [""]:
                out[c] = path
    return out


class CgroupSlot:
    """A pids + memory cgroup for one worker slot; silently absent where cgroups are not writable."""

    def __init__(self, name: str, limits: SandboxLimits) -> None:
        self.dirs: list[Path] = []
        self.oom_files: list[Path] = []
        own = _own_cgroup_paths()
        mem = limits.memory_mb * 1024 * 1024
        if (CGROUP_ROOT / "cgroup.controllers").exists():  # unified hierarchy (v2)
            self._make(
                CGROUP_ROOT / own.get("", "/").lstrip("/") / name,
                {"pids.max": limits.nproc, "memory.max": mem, "memory.swap.max": 0},
                "memory.events",
            )
        else:
            self._make(CGROUP_ROOT / "pids" / own.get("pids", "/").lstrip("/") / name, {"pids.max": limits.nproc})
            self._make(
                CGROUP_ROOT / "memory" / own.get("memory", "/").lstrip("/") / name,
                {"memory.limit_in_bytes": mem},
                "memory.oom_control",
            )

    def _make(self, path: Path, settings: dict[str, int], oom_file: str | None = None) -> None:
        try:
            path.mkdir(exist_ok=True)
            for key, value in settings.items():
                if (path / key).exists():
                    (path / key).write_text(str(value))
        except OSError:
            with contextlib.suppress(OSError):
                path.rmdir()
            return
        self.dirs.append(path)
        if oom_file:
            self.oom_files.append(path / oom_file)

    @property
    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs]

    def oom_kills(self) -> int:
        total = 0
        for f in self.oom_files:
            with contextlib.suppress(OSError, ValueError):
                for line in f.read_text().splitlines():
                    key, _, val = line.partition(" ")
                    if key == "oom_kill":
                        total += int(val)
        return total

    def pids(self) -> set[int]:
        found: set[int] = set()
        for f in self.procs_files:
            with contextlib.suppress(OSError, ValueError):
                found |= {int(x) for x in Path(f).read_text().split()}
        return found

    def remove(self) -> None:
        for d in self.dirs:
            with contextlib.suppress(OSError):
                d.rmdir()


def pids_of_uid(uid: int) -> set[int]:
    """Processes whose real uid is ``uid`` (scan of /proc; used when no cgroup lists them)."""
    found = set()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if entry.stat().st_uid == uid:
                    found.add(int(entry.name))
    return found


def alive(pids: set[int]) -> set[int]:
    """Drop zombies: a killed process stays listed until its parent reaps it, but can do nothing."""
    out = set()
    for pid in pids:
        with contextlib.suppress(OSError, IndexError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            if stat[stat.rindex(")") + 2] not in "ZX":
                out.add(pid)
    return out


def kill_all(pids: set[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _rlimit_args(limits: SandboxLimits, nproc: int) -> list[str]:
    cpu = max(1, int(limits.cpu_s))
    mem = limits.memory_mb * 1024 * 1024
    fsize = limits.fsize_mb * 1024 * 1024
    return [
        PRLIMIT,
        f"--cpu={cpu}:{cpu + 1}",
        f"--as={mem}",
        f"--nproc={nproc}",
        f"--fsize={fsize}",
        f"--nofile={limits.nofile}",
        "--core=0",
        "--",
    ]


def _cgroup_join(procs_files: list[str]) -> list[str]:
    """A shell that moves itself into the slot's cgroups, then execs the rest: the program can fork
    only after it is inside them, so no child escapes the count."""
    if not procs_files:
        return []
    script = 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n-1)); done; exec "$@"'
    return ["/bin/sh", "-c", script, "sh", str(len(procs_files)), *procs_files]


@dataclass(frozen=True)
class Isolation:
    """The confinement mode this machine supports: ``root`` (netns + uid drop), ``userns``
    (unprivileged user + network namespaces) or ``rlimits`` (limits + socket-blocking prelude)."""

    mode: str
    python: str

    @property
    def blocks_network_by_namespace(self) -> bool:
        return self.mode in ("root", "userns")

    def command(self, limits: SandboxLimits, uid: int | None, procs_files: list[str], script: str) -> list[str]:
        py = [self.python, "-I", "-B", script]
        if self.mode == "root" and uid is not None:
            drop = [
                SETPRIV,
                f"--reuid={uid}",
                f"--regid={uid}",
                "--clear-groups",
                "--inh-caps=-all",
                "--bounding-set=-all",
                "--no-new-privs",
                "--",
            ]
            return [*_cgroup_join(procs_files), UNSHARE, "--net", "--", *_rlimit_args(limits, limits.nproc), *drop, *py]
        # Unprivileged: RLIMIT_NPROC counts every process of our uid, so allow what already runs.
        nproc = len(pids_of_uid(os.getuid())) + limits.nproc
        if self.mode == "userns":
            return [*_cgroup_join(procs_files), UNSHARE, "--user", "--net", "--", *_rlimit_args(limits, nproc), *py]
        return [*_cgroup_join(procs_files), *_rlimit_args(limits, nproc), *py]


def _works(cmd: list[str]) -> bool:
    try:
        return subprocess.run(cmd, env={}, stdin=subprocess.DEVNULL, capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def detect_isolation(python: str | None = None, probe_uid: int = 64000) -> Isolation:
    """The strongest mode that actually starts a program here (probed, not guessed)."""
    py = python or sys.executable
    code = "import socket; s = socket.socket(); raise SystemExit(s.connect_ex(('127.0.0.1', 9)) == 0)"
    probe = [py, "-I", "-c", code]
    limits = SandboxLimits()
    if os.geteuid() == 0 and all(os.path.exists(t) for t in (UNSHARE, PRLIMIT, SETPRIV)):
        iso = Isolation("root", py)
        cmd = iso.command(limits, probe_uid, [], "x")[:-4] + probe
        if _works(cmd):
            return iso
    if os.path.exists(UNSHARE) and os.path.exists(PRLIMIT) and _works([UNSHARE, "--user", "--net", "--", *probe]):
        return Isolation("userns", py)
    return Isolation("rlimits", py)
