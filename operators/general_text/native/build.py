"""Compile the C kernels (``textkern.c``, ``tokens.c``) once per machine into a cache directory and load it with ctypes.

Built on first use rather than at ``pip install`` so that an editable checkout, a wheel and a
source tree all work the same way; the file name carries a hash of the source and the compiler
flags, so an edited kernel is rebuilt and concurrent builders never see a half-written library
(each compiles to its own temporary name and renames). Without a C compiler the filters fall
back to their SQL definitions (same results, slower); ``DATAFLOW_NATIVE=require`` makes that an
error instead.
"""

import contextlib
import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import unicodedata
from collections.abc import Callable
from pathlib import Path

import numpy as np

from operators.general_text.native import tables

HERE = Path(__file__).parent
SOURCES = [HERE / "textkern.c", HERE / "tokens.c"]
HEADERS = [HERE / "textkern.h", HERE / "classify.h"]
CFLAGS = ["-O3", "-fPIC", "-shared", "-std=c11", "-fno-math-errno"]
CACHE_ENV = "DATAFLOW_NATIVE_CACHE"


def cache_dir() -> Path:
    """``$DATAFLOW_NATIVE_CACHE``, else the user cache; a read-only home (some containers) falls back
    to a per-user folder under the temp dir rather than to the slower SQL path."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    preferred = Path(base) / "dataflow-dagster" / "native"
    try:
        preferred.mkdir(parents=True, exist_ok=True)
        if os.access(preferred, os.W_OK):
            return preferred
    except OSError:
        pass
    return Path(tempfile.gettempdir()) / f"dataflow-dagster-native-{os.getuid() if hasattr(os, 'getuid') else 0}"


def cpu_flags() -> list[str]:
    """``-mpopcnt`` where the CPU has the instruction (the kernels count bits in every 64 bytes;
    without it each count is a library call). The library is built on the machine that runs it,
    and the flag is part of its cache key, so a cache shared with an older CPU builds its own."""
    if platform.machine() not in ("x86_64", "AMD64"):
        return []
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            flags = next((line.split(":", 1)[1].split() for line in fh if line.startswith("flags")), [])
    except OSError:
        return []
    return ["-mpopcnt"] if "popcnt" in flags else []


def compiler() -> str | None:
    return os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")


class BuildError(RuntimeError):
    pass


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def library_path() -> Path:
    """The compiled kernel library, building it if this source/flags/platform has none yet."""
    cc = compiler()
    src = b"".join(p.read_bytes() for p in [*SOURCES, *HEADERS])
    flags = [*CFLAGS, *cpu_flags()]
    key = hashlib.sha256(src + " ".join(flags).encode() + sysconfig.get_platform().encode()).hexdigest()[:16]
    path = cache_dir() / f"textkern-{key}{sysconfig.get_config_var('SHLIB_SUFFIX') or '.so'}"
    if path.exists():
        return path
    if cc is None:
        raise BuildError("no C compiler found (set $CC or install gcc/clang)")

    def compile_to(tmp: Path) -> None:
        try:
            res = subprocess.run(
                [cc, *flags, "-o", str(tmp), *map(str, SOURCES), "-lm"], capture_output=True, text=True
            )
        except OSError as exc:
            raise BuildError(f"C compiler {cc!r} could not be run ({exc}); set $CC or install gcc/clang") from exc
        if res.returncode != 0:
            raise BuildError(f"{cc} failed on {HERE}: {res.stderr.strip()[:2000]}")

    _atomic_write(path, compile_to)
    return path


def unicode_tables() -> tuple[np.ndarray, np.ndarray]:
    """The character tables for this interpreter, cached next to the library (1.3 s to build)."""
    tag = f"v{tables.VERSION}-py{sys.version_info[0]}{sys.version_info[1]}-ucd{unicodedata.unidata_version}"
    path = cache_dir() / f"unicode-{tag}.npz"
    if path.exists():
        with np.load(path) as z:
            return z["flags"], z["lower"]
    flags, lower = tables.build()

    def save(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez(fh, flags=flags, lower=lower)

    with contextlib.suppress(OSError):  # a read-only cache only costs the rebuild next time
        _atomic_write(path, save)
    return flags, lower


def load() -> tuple[ctypes.CDLL, tuple[np.ndarray, np.ndarray]]:
    lib = ctypes.CDLL(str(library_path()))
    flags, lower = unicode_tables()
    lib.dft_init(ctypes.c_void_p(flags.ctypes.data), ctypes.c_void_p(lower.ctypes.data), ctypes.c_int64(len(lower)))
    return lib, (flags, lower)
