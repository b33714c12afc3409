"""How a sandboxed program is confined: the modes, the launch command and the per-slot cgroups.

Three modes, named so that a user picks a weaker one knowingly:
- ``bwrap`` (the default, needs Debian's ``bubblewrap``): a private mount namespace (read-only ``/usr``
  and ``/etc``, the interpreter's own directories read-only, a private tmpfs for ``/tmp``, ``/dev/shm``
  and the working directory, nothing else: no storage root, repository or home), new PID, network, IPC
  and UTS namespaces, plus rlimits, the slot's cgroup and (as root) the slot's own uid. Contains the
  whole hostile corpus, as root and as an unprivileged user.
- ``unshare-unsafe``: the former mode without bubblewrap (network namespace, rlimits, a slot uid as
  root). It does not hide the filesystem or other processes; as a non-root user the program can
  signal the evaluator. Runs only when asked for by this name.
- ``rlimits-unsafe``: limits only, with the harness's audit hook refusing sockets. A spawned process
  gets the network, the parent's environment through ``/proc`` and every process of the user. Runs
  only when asked for by this name.
``mode_gaps`` says, per mode, which hostile snippets it is known not to contain; the tests check that
list against the corpus, so the documentation cannot drift from what the code does.

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
UNSHARE, PRLIMIT, SETPRIV, BWRAP = (
    shutil.which(t) or f"/usr/bin/{t}" for t in ("unshare", "prlimit", "setpriv", "bwrap")
)
MODE_ENV = "DATAFLOW_SANDBOX"
MODES = ("bwrap", "unshare-unsafe", "rlimits-unsafe")
INSIDE_INPUT = "/.dataflow-in"  # where bwrap mode shows the program's files (read-only)

# What each weaker mode does not contain, as hostile snippet names (checked by tests/test_sandbox_modes.py).
_SHARED_GAPS = ("read_storage_root", "tmp_persist", "shm_persist", "proc_cmdline", "unix_socket")
_USER_GAPS = ("kill_parent", "read_other_stdin", "rm_rf_outside", "write_outside")  # same uid as the evaluator
MODE_GAPS: dict[str, dict[bool, tuple[str, ...]]] = {  # mode -> {run as root?: snippets not contained}
    "bwrap": {True: (), False: ()},
    "unshare-unsafe": {True: _SHARED_GAPS, False: (*_SHARED_GAPS, *_USER_GAPS)},
    "rlimits-unsafe": {
        True: (*_SHARED_GAPS, "spawn_network"),
        False: (*_SHARED_GAPS, *_USER_GAPS, "spawn_network", "parent_environ"),
    },
}
MODE_LIMITS = {
    "bwrap": "",
    "unshare-unsafe": "the program reads every file its uid can (storage root, LLM cache, repository), leaves "
    "files in /tmp, /var/tmp and /dev/shm that outlive the run, sees every process's command line and "
    "connects to unix sockets; as a non-root user it also kills the evaluator (kill(-1) reaches every process "
    "of the user), reads other rows' input and deletes or writes the user's files",
    "rlimits-unsafe": "everything unshare-unsafe lets through, and a spawned process reaches the network "
    "(127.0.0.1 included); as a non-root user it also reads the evaluator's environment (API keys) through "
    "/proc/<pid>/environ",
}


class SandboxUnavailable(RuntimeError):
    """No mode that contains hostile code works here, and no weaker one was asked for by name."""


def mode_gaps(mode: str, root: bool) -> tuple[str, ...]:
    return MODE_GAPS[mode][root]


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
    """A confinement mode (one of ``MODES``) and the interpreter it runs programs with."""

    mode: str
    python: str

    @property
    def blocks_network_by_namespace(self) -> bool:
        return self.mode != "rlimits-unsafe"

    @property
    def inside_input(self) -> str | None:
        """Where the program's files appear inside the sandbox (``None``: at their real path)."""
        return INSIDE_INPUT if self.mode == "bwrap" else None

    def command(
        self, limits: SandboxLimits, uid: int | None, procs_files: list[str], workdir: str, argv: list[str]
    ) -> list[str]:
        """``argv`` (``script args...``) run by this mode's interpreter, confined; ``workdir`` holds
        the program's files and is its working directory."""
        py = [self.python, "-I", "-B", *argv]
        root_uid = os.geteuid() == 0 and uid is not None
        drop = (
            [
                SETPRIV,
                f"--reuid={uid}",
                f"--regid={uid}",
                "--clear-groups",
                "--inh-caps=-all",
                "--bounding-set=-all",
                "--no-new-privs",
                "--",
            ]
            if root_uid
            else []
        )
        if self.mode == "bwrap":
            # Inside a fresh PID namespace as a fresh uid, RLIMIT_NPROC counts only this program's processes.
            nproc = limits.nproc if root_uid else limits.nproc + 2
            inner = [*_rlimit_args(limits, nproc), *drop, *py] if root_uid else [*_rlimit_args(limits, nproc), *py]
            return [*_cgroup_join(procs_files), *bwrap_args(self.python, workdir, limits, root_uid), *inner]
        if root_uid:  # never run hostile code as root, even in the weakest mode: kill(-1) would reach everything
            net = [UNSHARE, "--net", "--"] if self.mode == "unshare-unsafe" else []
            return [*_cgroup_join(procs_files), *net, *_rlimit_args(limits, limits.nproc), *drop, *py]
        # Unprivileged: RLIMIT_NPROC counts every process of our uid, so allow what already runs.
        nproc = len(pids_of_uid(os.getuid())) + limits.nproc
        if self.mode == "unshare-unsafe":
            return [*_cgroup_join(procs_files), UNSHARE, "--user", "--net", "--", *_rlimit_args(limits, nproc), *py]
        return [*_cgroup_join(procs_files), *_rlimit_args(limits, nproc), *py]


def _interpreter_dirs(python: str) -> list[str]:
    """Directories the interpreter needs: its prefix, its base prefix (stdlib) and its real location."""
    code = "import sys; print(sys.prefix); print(sys.base_prefix); print(sys.executable)"
    try:
        out = subprocess.run([python, "-I", "-c", code], capture_output=True, text=True, timeout=20, env={}).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    found = [line for line in out.splitlines() if line]
    dirs = {os.path.realpath(p) for p in found[:2]}
    dirs |= {os.path.dirname(os.path.realpath(python)), os.path.dirname(os.path.abspath(python))}
    system = ("/usr", "/etc", "/bin", "/lib", "/lib64", "/sbin")
    return sorted(d for d in dirs if d != "/" and not d.startswith(system))


_DIRS_CACHE: dict[str, list[str]] = {}


def bwrap_args(python: str, workdir: str, limits: SandboxLimits, root: bool) -> list[str]:
    """The bubblewrap command line: a read-only system, private writable tmpfs, nothing else."""
    if python not in _DIRS_CACHE:
        _DIRS_CACHE[python] = _interpreter_dirs(python)
    tmp_bytes = str(max(1, limits.fsize_mb) * 1024 * 1024 * 4)
    args = [BWRAP, "--die-with-parent", "--new-session"]
    # As root no user namespace: the slot uid must exist as itself for the drop inside to work.
    args += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    if not root:
        args += ["--unshare-user"]
    args += ["--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
    for top in ("bin", "sbin", "lib", "lib32", "lib64"):
        path = f"/{top}"
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    args += ["--proc", "/proc", "--dev", "/dev"]
    # the private tmpfs mounts come before the interpreter's binds: an interpreter or venv under /tmp
    # (a clone in /tmp, CI) must stay visible, mounted inside the tmpfs rather than hidden by it
    for d in ("/tmp", "/var/tmp", "/dev/shm"):
        args += ["--perms", "1777", "--size", tmp_bytes, "--tmpfs", d]
    bound = _DIRS_CACHE[python]
    for d in bound:
        args += ["--ro-bind", d, d]
    # bubblewrap creates the parents of those mounts (e.g. /root) with the host's modes; inside they are
    # empty directories of its own, so opening them up hides nothing and lets children exec the interpreter.
    parents = {str(a) for d in bound for a in Path(d).parents if str(a) != "/"} - set(bound)
    for a in sorted(parents):
        args += ["--chmod", "0755", a]
    args += ["--perms", "1777", "--size", tmp_bytes, "--tmpfs", workdir]
    args += ["--ro-bind", workdir, INSIDE_INPUT, "--chdir", workdir]
    if root:  # the uid drop happens inside, after the mounts: it needs these two capabilities there
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    return [*args, "--"]


def _works(cmd: list[str]) -> bool:
    try:
        return subprocess.run(cmd, env={}, stdin=subprocess.DEVNULL, capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


_PROBE = "import socket; s = socket.socket(); raise SystemExit(s.connect_ex(('127.0.0.1', 9)) == 0)"


def probe(mode: str, python: str, probe_uid: int) -> bool:
    """Does ``mode`` start a program on this machine (tried, not guessed)?"""
    iso = Isolation(mode, python)
    uid = probe_uid if os.geteuid() == 0 else None
    if mode == "bwrap" and not os.path.exists(BWRAP):
        return False
    import tempfile

    with tempfile.TemporaryDirectory(prefix="dataflow-probe-") as d:
        os.chmod(d, 0o755)
        cmd = iso.command(SandboxLimits(), uid, [], d, ["-c", _PROBE])
        return _works(cmd)


def requested_mode(mode: str | None) -> str:
    """The mode asked for: the argument, else ``$DATAFLOW_SANDBOX``, else ``auto``."""
    return (mode or os.environ.get(MODE_ENV) or "auto").strip()


def detect_isolation(python: str | None = None, probe_uid: int = 64000, mode: str | None = None) -> Isolation:
    """The asked-for mode, probed; ``auto`` means ``bwrap`` and never falls back to a weaker mode."""
    py = python or sys.executable
    want = requested_mode(mode)
    if want in ("unshare", "rlimits", "userns", "root"):
        raise SandboxUnavailable(
            f"sandbox mode {want!r} does not contain hostile code, so it runs only when asked for by its full "
            f"name {('rlimits' if want == 'rlimits' else 'unshare') + '-unsafe'!r}: "
            f"{MODE_LIMITS['rlimits-unsafe' if want == 'rlimits' else 'unshare-unsafe']}"
        )
    if want not in (*MODES, "auto"):
        raise SandboxUnavailable(f"unknown sandbox mode {want!r}; use one of {', '.join(MODES)} or auto")
    chosen = "bwrap" if want == "auto" else want
    if probe(chosen, py, probe_uid):
        return Isolation(chosen, py)
    hint = (
        "install bubblewrap (as root: apt-get install -y bubblewrap; scripts/install.sh does this) and make "
        "sure user namespaces are enabled for non-root users"
        if chosen == "bwrap"
        else f"mode {chosen!r} did not start a program here"
    )
    raise SandboxUnavailable(
        f"no sandbox that contains hostile code is available ({chosen} failed to start a program with {py}): "
        f"{hint}. To run anyway with a weaker mode, set {MODE_ENV} (or the step's `sandbox` option) to "
        f"'unshare-unsafe' ({MODE_LIMITS['unshare-unsafe']}) or 'rlimits-unsafe' ({MODE_LIMITS['rlimits-unsafe']})."
    )
