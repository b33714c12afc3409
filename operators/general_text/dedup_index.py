"""A persistent index of kept rows' signatures, so a refresh dedups new rows against all kept so far.

Layout: a folder with ``meta.json`` (signature kind and parameters; a mismatch is refused, since
signatures made with other parameters cannot be compared) and one Parquet part per run that kept
new rows (``id``, ``bands`` list of band keys, ``sig`` raw signature bytes). Parts are written to a
temporary name and renamed, so a crashed run leaves no half part; rows already in the index (same
``_id``) are not added twice, so re-running a step over the same input is harmless.
"""

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from operators.core.contract import OperatorError, quote_literal


class SignatureIndex:
    def __init__(self, path: Path, kind: str, params: dict[str, Any]) -> None:
        self.path, self.kind, self.params = path, kind, params
        self._ids: np.ndarray | None = None

    @classmethod
    def open(cls, path: str | None, kind: str, params: dict[str, Any]) -> "SignatureIndex | None":
        if path is None:
            return None
        p = Path(path)
        p.mkdir(parents=True, exist_ok=True)
        meta_path = p / "meta.json"
        meta = {"kind": kind, "params": params}
        if meta_path.exists():
            have = json.loads(meta_path.read_text())
            if have != meta:
                raise OperatorError(
                    f"dedup index at '{p}' was built with {have}, but this step uses {meta}; signatures made "
                    "with other parameters cannot be compared. Point index_path at a new folder or restore "
                    "the old parameters."
                )
        else:
            tmp = p / f".meta-{uuid.uuid4().hex}.json"
            tmp.write_text(json.dumps(meta, sort_keys=True))
            os.replace(tmp, meta_path)
        return cls(p, kind, params)

    def parts(self) -> list[str]:
        return sorted(str(x) for x in self.path.glob("part-*.parquet"))

    def _scan(self, columns: str) -> str:
        files = ", ".join(quote_literal(f) for f in self.parts())
        return f"(SELECT {columns} FROM read_parquet([{files}], filename=true) ORDER BY filename, file_row_number)"

    def ids(self) -> np.ndarray:
        if self._ids is None:
            if not self.parts():
                self._ids = np.array([], dtype=object)
            else:
                con = duckdb.connect()
                files = ", ".join(quote_literal(f) for f in self.parts())
                self._ids = (
                    con.execute(
                        f"SELECT id FROM read_parquet([{files}], filename=true, file_row_number=true) "
                        "ORDER BY filename, file_row_number"
                    )
                    .fetchnumpy()["id"]
                    .astype(object)
                )
                con.close()
        return self._ids

    @property
    def size(self) -> int:
        return len(self.ids())

    def known_ids(self, ids: np.ndarray) -> np.ndarray:
        return np.isin(np.asarray(ids, dtype=object), self.ids())

    def candidates(
        self, con: duckdb.DuckDBPyConnection, bands_table: str, sig: np.ndarray, threshold: float, cap: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Verified (index node, current idx) pairs: index rows similar to current rows."""
        files = ", ".join(quote_literal(f) for f in self.parts())
        con.execute(
            f"CREATE TEMP TABLE __ix AS SELECT row_number() OVER (ORDER BY filename, file_row_number) - 1 AS node, "
            f"id, bands, sig FROM read_parquet([{files}], filename=true, file_row_number=true)"
        )
        pairs = con.execute(f"""
            WITH ib AS (SELECT node, generate_subscripts(bands, 1) - 1 AS band, unnest(bands) AS key FROM __ix),
                 ranked AS (SELECT *, row_number() OVER (PARTITION BY band, key ORDER BY node) AS rn FROM ib)
            SELECT DISTINCT r.node AS a, c.idx AS b FROM ranked r JOIN {bands_table} c
              ON r.band = c.band AND r.key = c.key AND r.rn <= {int(cap)}
        """).fetchnumpy()
        a = pairs["a"].astype(np.int64)
        b = pairs["b"].astype(np.int64)
        if a.size == 0:
            return a, b
        nodes = np.unique(a)
        con.register("__ix_nodes", pa.table({"node": nodes}))
        blobs = con.execute("SELECT node, sig FROM __ix JOIN __ix_nodes USING (node) ORDER BY node").fetchall()
        con.unregister("__ix_nodes")
        ix_sig = np.frombuffer(b"".join(r[1] for r in blobs), dtype=sig.dtype).reshape(len(blobs), sig.shape[1])
        pos = np.searchsorted(nodes, a)
        keep_a, keep_b = [], []
        for s in range(0, len(a), 200_000):
            j = (ix_sig[pos[s : s + 200_000]] == sig[b[s : s + 200_000]]).mean(axis=1)
            ok = j >= threshold
            keep_a.append(a[s : s + 200_000][ok])
            keep_b.append(b[s : s + 200_000][ok])
        return np.concatenate(keep_a), np.concatenate(keep_b)

    def append(self, ids: np.ndarray, bands: np.ndarray, sig: np.ndarray) -> None:
        if len(ids) == 0:
            return
        width = sig.shape[1] * sig.dtype.itemsize
        blob = pa.FixedSizeBinaryArray.from_buffers(
            pa.binary(width), len(ids), [None, pa.py_buffer(np.ascontiguousarray(sig).tobytes())]
        )
        table = pa.table(
            {
                "id": pa.array([str(x) for x in ids], type=pa.string()),
                "bands": pa.array(list(np.asarray(bands, dtype=np.uint64)), type=pa.list_(pa.uint64())),
                "sig": blob.cast(pa.binary()),
            }
        )
        name = f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
        tmp = self.path / f".{name}.tmp"
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, self.path / name)
        self._ids = None
