"""Native per-row text metrics, registered as vectorised DuckDB functions.

The rule filters' metrics are SQL; the heavy ones (tokenising, lower-casing, set membership) have a
C kernel that DuckDB calls on whole Arrow vectors (``df_words(text)``, ...), on every thread, with
the GIL released while the kernel runs. A filter asks ``native.call("words", col)`` for the SQL of
a metric and falls back to its plain-SQL definition when that returns None (no compiler, or
``DATAFLOW_NATIVE=0``): both give the same numbers, which the tests check row by row.

``DATAFLOW_NATIVE``: ``auto`` (default: use the kernels when they build), ``0`` (never),
``require`` (fail loudly when they cannot be built).
"""

import ctypes
import hashlib
import logging
import os
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from operators.core.arrow_np import from_numpy, to_numpy
from operators.core.contract import OperatorError

log = logging.getLogger(__name__)
ENV = "DATAFLOW_NATIVE"
_lock = threading.Lock()
_state: dict[str, Any] = {}
_registered: "weakref.WeakKeyDictionary[duckdb.DuckDBPyConnection, set[str]]" = weakref.WeakKeyDictionary()
_P = ctypes.c_void_p
_N = ctypes.c_int64


@dataclass(frozen=True)
class Kernel:
    """One C entry point as a DuckDB scalar function of one VARCHAR."""

    symbol: str
    returns: str  # "BIGINT" or "DOUBLE"; for DOUBLE, NaN means SQL NULL (no denominator)
    # Python's answer for the rows the kernel flags (special lower-casing); None: it flags none
    python: Callable[[str], float | int | None] | None = None


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def _unique_ratio(t: str) -> float | None:
    w = t.lower().split()
    return _ratio(len(set(w)), len(w))


KERNELS: dict[str, Kernel] = {
    "words": Kernel("dft_words", "BIGINT"),
    "mean_word_length": Kernel("dft_mean_word_length", "DOUBLE"),
    "char_number": Kernel("dft_char_number", "BIGINT"),
    "sentences": Kernel("dft_sentences", "BIGINT"),
    "symbol_ratio": Kernel("dft_symbol_ratio", "DOUBLE"),
    "capital_ratio": Kernel("dft_capital_ratio", "DOUBLE"),
    "unique_ratio": Kernel("dft_unique_ratio", "DOUBLE", _unique_ratio),
    "ellipsis_ratio": Kernel("dft_ellipsis_ratio", "DOUBLE"),
    "curly_ratio": Kernel("dft_curly_ratio", "DOUBLE"),
    "html_entity": Kernel("dft_html_entity", "BIGINT"),
}


def mode() -> str:
    value = os.environ.get(ENV, "auto").strip().lower()
    if value in ("0", "off", "false", "no", "sql"):
        return "off"
    if value in ("require", "required"):
        return "require"
    return "auto"


def _load() -> Any:
    """The loaded library, or None; built at most once per process."""
    with _lock:
        if "lib" not in _state:
            from operators.general_text.native import build

            try:
                _state["lib"], _state["tables"] = build.load()
            except Exception as exc:  # no compiler, read-only cache, exotic platform: SQL still works
                _state["lib"], _state["error"] = None, f"{type(exc).__name__}: {exc}"
                log.warning("native text kernels unavailable, rule filters use plain SQL (slower): %s", _state["error"])
        return _state["lib"]


def enabled() -> bool:
    m = mode()
    if m == "off":
        return False
    lib = _load()
    if lib is None and m == "require":
        raise OperatorError(
            f"{ENV}=require but the native text kernels could not be built: {_state['error']}. "
            f"Install a C compiler (gcc or clang, or set $CC), or unset {ENV} to fall back to SQL"
        )
    return lib is not None


def call(metric: str, col: str) -> str | None:
    """SQL for ``metric`` of ``col`` through its kernel, or None when the kernels are off."""
    if not enabled():
        return None
    return f"df_{metric}({col})"


# ---- word sets -----------------------------------------------------------------------------------
_sets: dict[str, tuple[tuple[str, ...], Any]] = {}


def count_in(col: str, items: tuple[str, ...]) -> str | None:
    """SQL counting the ``col.lower().split()`` tokens found in ``items`` (lower-cased already)."""
    if not enabled():
        return None
    digest = hashlib.sha256("\n".join(items).encode()).hexdigest()[:12]
    with _lock:
        if digest not in _sets:
            lib = _state["lib"]
            encoded = [w.encode() for w in items]
            offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
            np.cumsum([len(b) for b in encoded], out=offsets[1:])
            blob = b"".join(encoded) or b"\0"
            lib.dft_wordset_new.restype = _P
            handle = lib.dft_wordset_new(ctypes.c_char_p(blob), _P(offsets.ctypes.data), _N(len(encoded)))
            if not handle:
                raise MemoryError("could not allocate a word set for the native kernels")
            _sets[digest] = (items, handle)
    return f"df_count_in_{digest}({col})"


# ---- DuckDB functions ----------------------------------------------------------------------------
def _buffers(arr: Any) -> tuple[pa.Array, int, int, int]:
    if isinstance(arr, pa.ChunkedArray):  # DuckDB hands one chunk a vector: no copy then
        arr = arr.chunk(0) if arr.num_chunks == 1 else arr.combine_chunks()
    if arr.type != pa.string():
        arr = arr.cast(pa.string())
    bufs = arr.buffers()
    data = bufs[2].address if bufs[2] is not None else 0
    return arr, bufs[1].address + 4 * arr.offset, data, len(arr)


def _result(arr: pa.Array, out: np.ndarray) -> pa.Array:
    """NULL where the input was NULL or a ratio had no denominator (NaN)."""
    mask = np.isnan(out) if out.dtype == np.float64 else None
    if arr.null_count:
        nulls = to_numpy(arr.is_null())
        mask = nulls if mask is None else mask | nulls
    return from_numpy(out, mask)


def _fix_flagged(arr: pa.Array, out: np.ndarray, special: np.ndarray, python: Callable[[str], Any]) -> None:
    for i in np.flatnonzero(special):  # rows with U+0130 or U+03A3 only: Python's own str.lower()
        text = arr[int(i)].as_py()
        value = None if text is None else python(text)
        out[i] = np.nan if value is None else value


def _function(name: str, kernel: Kernel) -> Callable[[Any], pa.Array]:
    lib = _state["lib"]
    fn = getattr(lib, kernel.symbol)
    dtype = np.float64 if kernel.returns == "DOUBLE" else np.int64

    def udf(column: Any) -> pa.Array:
        arr, offsets, data, n = _buffers(column)
        out = np.empty(n, dtype=dtype)
        if kernel.python is not None:
            special = np.empty(n, dtype=np.uint8)
            if fn(_P(offsets), _P(data), _N(n), _P(out.ctypes.data), _P(special.ctypes.data)) != 0:
                raise MemoryError(f"{name}: out of memory for a batch of {n} texts")
            _fix_flagged(arr, out, special, kernel.python)
        else:
            fn(_P(offsets), _P(data), _N(n), _P(out.ctypes.data))
        return _result(arr, out)

    return udf


def _count_in_function(items: tuple[str, ...], handle: Any) -> Callable[[Any], pa.Array]:
    lib = _state["lib"]
    members = set(items)

    def python(t: str) -> int:
        return sum(w in members for w in t.lower().split())

    def udf(column: Any) -> pa.Array:
        arr, offsets, data, n = _buffers(column)
        out = np.empty(n, dtype=np.int64)
        special = np.empty(n, dtype=np.uint8)
        if (
            lib.dft_count_in(_P(offsets), _P(data), _N(n), _P(handle), _P(out.ctypes.data), _P(special.ctypes.data))
            != 0
        ):
            raise MemoryError(f"word-set count: out of memory for a batch of {n} texts")
        _fix_flagged(arr, out, special, python)
        return _result(arr, out)

    return udf


def register(con: duckdb.DuckDBPyConnection) -> None:
    """Create the ``df_*`` functions (and one per word set in use) on ``con``; idempotent."""
    if not enabled():
        return
    done = _registered.setdefault(con, set())
    wanted: dict[str, Callable[[], tuple[Callable[[Any], pa.Array], str]]] = {}
    for name, kernel in KERNELS.items():
        wanted[f"df_{name}"] = lambda name=name, kernel=kernel: (_function(name, kernel), kernel.returns)
    for digest, (items, handle) in list(_sets.items()):
        wanted[f"df_count_in_{digest}"] = lambda items=items, handle=handle: (
            _count_in_function(items, handle),
            "BIGINT",
        )
    for fname, make in wanted.items():
        if fname in done:
            continue
        fn, returns = make()
        try:
            con.create_function(
                fname,
                fn,
                [duckdb.sqltype("VARCHAR")],
                duckdb.sqltype(returns),
                type="arrow",
                null_handling="special",
                side_effects=False,
            )
        except duckdb.NotImplementedException as exc:
            if "already created" not in str(exc):
                raise
        done.add(fname)
