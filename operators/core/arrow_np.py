"""NumPy arrays to Arrow (and back) without pyarrow's pandas probe.

``pa.array(ndarray)``, ``pa.table({name: ndarray})``, ``pa.array(list_of_str)`` and
``Array.to_numpy(zero_copy_only=False)`` first ask whether the value is a pandas object, which imports
pandas: ~0.4 s on a 2-core machine, paid again in every Dagster step process that touches them. Rule
steps (native text kernels, MinHash, dedup views) need nothing from pandas; building the arrays from
their buffers gives the same Arrow data without it.
"""

from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa


def from_numpy(values: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """``pa.array(values, mask=mask)`` for a 1-d numeric array (``mask`` True = NULL)."""
    values = np.ascontiguousarray(values)
    if values.ndim != 1 or values.dtype.kind not in "iuf":
        return pa.array(values, mask=mask)  # bool, objects, ...: pyarrow's own conversion
    validity, nulls = None, 0
    if mask is not None:
        nulls = int(np.count_nonzero(mask))
        if nulls:
            validity = pa.py_buffer(np.packbits(~np.asarray(mask, dtype=bool), bitorder="little"))
    return pa.Array.from_buffers(
        pa.from_numpy_dtype(values.dtype), len(values), [validity, pa.py_buffer(values)], null_count=nulls
    )


def strings(values: Sequence[str]) -> pa.Array:
    """A non-NULL ``string`` array of ``values``."""
    encoded = [v.encode("utf-8") for v in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    if offsets[-1] < 2**31:
        return pa.Array.from_buffers(
            pa.string(), len(encoded), [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(b"".join(encoded))]
        )
    return pa.Array.from_buffers(
        pa.large_string(), len(encoded), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))]
    )


def table(columns: Mapping[str, pa.Array | pa.ChunkedArray | np.ndarray]) -> pa.Table:
    """``pa.table(columns)`` with NumPy columns converted by ``from_numpy``."""
    arrays = [c if isinstance(c, pa.Array | pa.ChunkedArray) else from_numpy(c) for c in columns.values()]
    return pa.Table.from_arrays(arrays, names=list(columns))


def to_numpy(arr: pa.Array) -> np.ndarray:
    """The values of a NULL-free numeric array as a read-only NumPy view (no copy); a NULL-free
    boolean array as a ``bool`` array (unpacked from its bitmap)."""
    if not arr.null_count and pa.types.is_boolean(arr.type):
        bits = np.frombuffer(arr.buffers()[1], dtype=np.uint8)
        return np.unpackbits(bits, count=arr.offset + len(arr), bitorder="little")[arr.offset :].astype(bool)
    if arr.null_count or not (pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type)):
        return arr.to_numpy(zero_copy_only=False)
    dtype = arr.type.to_pandas_dtype()
    return np.frombuffer(arr.buffers()[1], dtype=dtype)[arr.offset : arr.offset + len(arr)]
