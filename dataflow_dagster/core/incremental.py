"""Row-level memo: a refresh sends only input rows it has not seen through a step.

The response cache already makes a repeated LLM request free, but a refresh of a 10M-row table would
still re-read, re-render and re-hash every row of every step. The memo skips that work: per step (and
partition) a Parquet sidecar maps each processed input row to the output rows it produced. A refresh
keys the current input rows, runs the operator on the unseen ones only and unions the remembered
output of the rest.

Why this is sound, and what keeps it so:
- The row key is md5 of the whole input row (``_id`` and content), not the ``_id`` alone: refiners
  keep ids while rewriting text, so an id can come back with new content, and must be recomputed.
- The step key covers the operator fingerprint (name, version, config), prompt hash, model id and
  the input schema: any change recomputes every row of that step (and only the rows downstream whose
  content actually changed, since their row keys change).
- Only operators that declare ``row_local`` (output of a row depends on that row alone) reuse rows
  this way. Set-wise operators (dedup) are recomputed in full unless they implement
  ``run_incremental``, which judges new rows against the rows seen before.
- Output rows are mapped back to the input row they came from by ``_id`` (filters, evaluators,
  refiners keep it) or ``_parent_ids[1]`` (generators); if any output row cannot be mapped, the step
  runs in full and keeps no memo. Rows whose LLM call failed are never remembered, so a refresh
  retries them exactly as a full run would.
- The combined output is ordered by input position, in full and in delta runs alike, so rows and
  therefore the content hash (which is order-independent anyway) equal a full run's.
- A memo is only ever an optimisation: a damaged pointer or memo file is discarded with a warning
  (in the log and in the step's ``incremental`` lineage) and the step runs in full.
"""

import contextlib
import fcntl
import json
import logging
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from dataflow_dagster.core.integrity import atomic_write_text, parquet_problem
from dataflow_dagster.core.storage import AssetAddress, Storage
from operators.core.contract import Kind, Operator, OperatorContext, quote_ident, quote_literal
from operators.core.rowids import ID, PARENTS
from operators.core.sql_ops import POS

MEMO_FORMAT = "1"
KEYS, NEW, PREV = "__memo_keys_cur", "__memo_input_new", "__memo_input_prev"
FINAL_OUT, FINAL_REJ = "__memo_final_out", "__memo_final_rej"


def _relations(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() UNION ALL SELECT view_name FROM duckdb_views() WHERE NOT internal"
        ).fetchall()
    }


def _schema(con: duckdb.DuckDBPyConnection, rel: str) -> list[list[str]]:
    return [[r[0], r[1]] for r in con.execute(f"DESCRIBE {quote_ident(rel)}").fetchall()]


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    rows = con.execute(sql).fetchall()  # fetchall: duckdb 2 refuses new work while a result is unfinished
    return int(rows[0][0]) if rows and rows[0][0] is not None else 0


@dataclass
class RowMemo:
    """The memo of one step (and partition) for one run. Use: prepare → run → combine → save."""

    storage: Storage
    asset: str
    partition: str | None
    op: Operator
    prompt_hash: str | None
    model_id: str | None
    mode: str = "full"  # full: op ran on every row; delta: on unseen rows only; off: no memo at all
    reason: str = ""
    stats: dict[str, Any] = field(default_factory=dict)
    _doc: dict[str, Any] | None = None
    _key: str = ""
    _src: str = ""
    _out_schema: list[list[str]] = field(default_factory=list)
    _rej_schema: list[list[str]] = field(default_factory=list)
    log: logging.Logger | None = None
    _lease: Any = None  # open lease file while this run reads a memo generation

    # ---- paths --------------------------------------------------------------------------------
    @property
    def folder(self) -> Path:
        return self.storage.memo_dir(AssetAddress(self.asset, self.partition))

    @property
    def pointer(self) -> Path:
        return self.folder / "current.json"

    @property
    def usable(self) -> bool:
        return self.op.row_local or type(self.op).run_incremental is not Operator.run_incremental

    # ---- prepare ------------------------------------------------------------------------------
    def prepare(self, con: duckdb.DuckDBPyConnection, src: str) -> str:
        """Key the input rows and return the relation the operator should read."""
        self._src = src
        if not self.usable:
            return self._off(src, "operator is set-wise (row_local=False) without run_incremental")
        cols = [c for c, _ in _schema(con, src) if c != POS]
        packed = ", ".join(f"{quote_ident(c)} := {quote_ident(c)}" for c in cols)
        con.execute(
            f"CREATE TABLE {KEYS} AS SELECT {POS}, {ID} AS __in_id, "
            f"md5(to_json(struct_pack({packed}))::VARCHAR) AS __in_key FROM {quote_ident(src)}"
        )
        n, distinct = con.execute(f"SELECT count(*), count(DISTINCT __in_id) FROM {KEYS}").fetchall()[0]
        if n != distinct:
            return self._off(src, "input _id values are not unique")
        self._key = self._step_key([[c, t] for c, t in _schema(con, src) if c != POS])
        self.stats = {"mode": "full", "rows_total": int(n), "rows_processed": int(n), "rows_reused": 0}
        self._doc = self._load_and_lease()
        if self._doc is None or self._doc.get("key") != self._key:
            self.reason = "no memo yet" if self._doc is None else "operator, prompt, model or input schema changed"
            self.stats["reason"] = self.reason
            return src
        keys = quote_literal(self._doc["files"]["keys"])
        try:
            con.execute(f"CREATE TABLE __memo_seen AS SELECT __in_key FROM read_parquet({keys})")
        except duckdb.Error as exc:
            self._doc = self._discard(f"memo file {self._doc['files']['keys']} cannot be read ({exc})")
            return src
        if not self.op.row_local:
            gone = _count(con, f"SELECT count(*) FROM __memo_seen ANTI JOIN {KEYS} USING (__in_key)")
            if gone:
                self.reason = f"{gone} earlier input rows were removed or changed; set-wise step runs in full"
                self.stats["reason"] = self.reason
                return src
        con.execute(
            f"CREATE VIEW {NEW} AS SELECT s.* FROM {quote_ident(src)} s SEMI JOIN "
            f"(SELECT {POS} FROM {KEYS} ANTI JOIN __memo_seen USING (__in_key)) k USING ({POS})"
        )
        con.execute(
            f"CREATE VIEW {PREV} AS SELECT s.* FROM {quote_ident(src)} s SEMI JOIN "
            f"(SELECT {POS} FROM {KEYS} SEMI JOIN __memo_seen USING (__in_key)) k USING ({POS})"
        )
        new = _count(con, f"SELECT count(*) FROM {NEW}")
        self.mode, self.reason = "delta", ""
        self.stats.update(mode="delta", rows_processed=new, rows_reused=int(n) - new)
        return NEW

    def _off(self, src: str, reason: str) -> str:
        self.mode, self.reason = "off", reason
        self.stats = {"mode": "off", "reason": reason}
        return src

    def _step_key(self, input_schema: list[list[str]]) -> str:
        import hashlib

        payload = json.dumps(
            {
                "format": MEMO_FORMAT,
                "fingerprint": self.op.fingerprint(),
                "kind": str(self.op.kind),
                "prompt": self.prompt_hash,
                "model": self.model_id,
                "input": input_schema,
            },
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode()).hexdigest()

    def _load(self) -> dict[str, Any] | None:
        try:
            doc = json.loads(self.pointer.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return self._discard(f"memo {self.pointer} is not valid JSON ({str(exc).splitlines()[0][:120]})")
        files = doc.get("files") if isinstance(doc, dict) else None
        if (
            not isinstance(files, dict)
            or not isinstance(doc.get("key"), str)
            or not {"keys", "out"} <= set(files)
            or not all(isinstance(p, str) for p in files.values())
        ):
            return self._discard(f"memo {self.pointer} lacks valid 'key'/'files' fields")
        if not all(Path(p).exists() for p in files.values()):
            return None
        for p in files.values():
            if (problem := parquet_problem(p)) is not None:
                return self._discard(f"memo file {p} {problem}")
        return doc

    # ---- concurrency ----------------------------------------------------------------------------
    # Runs of one step at once (two schedules, a backfill and a manual run) share the memo folder.
    # Saves are serialised by an exclusive flock on ``.lock``; a run that reads a memo generation
    # holds a shared flock on a lease file naming its files, and a save never prunes leased files.
    # flocks die with their process, so a crashed run's lease is recognised and removed.
    @contextlib.contextmanager
    def _folder_lock(self) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / ".lock", "a+") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            yield

    def _load_and_lease(self) -> dict[str, Any] | None:
        if not self.pointer.exists():
            return None
        with self._folder_lock():
            doc = self._load()
            if doc is not None:
                lease = self.folder / f".lease-{uuid.uuid4().hex[:12]}.json"
                lease.write_text(json.dumps(sorted(doc["files"].values())), encoding="utf-8")
                self._lease = open(lease, encoding="utf-8")  # noqa: SIM115 - held until release()
                fcntl.flock(self._lease.fileno(), fcntl.LOCK_SH)
            return doc

    def release(self) -> None:
        """Drop this run's lease (its snapshots are written; the memo files may now go)."""
        if self._lease is not None:
            path, self._lease = Path(self._lease.name), self._lease.close()
            path.unlink(missing_ok=True)

    def _leased_files(self) -> set[str]:
        """Files named by live leases; dead leases (their process ended) are deleted."""
        held: set[str] = set()
        for lease in self.folder.glob(".lease-*.json"):
            if self._lease is not None and lease.name == Path(self._lease.name).name:
                continue
            try:
                with open(lease, encoding="utf-8") as fh:
                    try:
                        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        held.update(json.loads(fh.read() or "[]"))
                        continue
                lease.unlink(missing_ok=True)
            except (OSError, json.JSONDecodeError):
                continue
        return held

    def _discard(self, problem: str) -> None:
        """Forget a damaged memo: warn, drop the pointer, and let this run rebuild it in full."""
        message = f"{self.asset}: row memo discarded, running every row: {problem}"
        (self.log or logging.getLogger("dataflow")).warning(message)
        self.stats["warning"] = message
        self.invalidate()
        return None

    # ---- run ----------------------------------------------------------------------------------
    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        """Run the operator on ``ctx.source`` (as prepared); fall back to a full run where needed."""
        if self.mode == "delta" and not self.op.row_local:
            before = _relations(ctx.con)
            stats = self.op.run_incremental(ctx, PREV)
            if stats is None:
                return self._rerun_full(ctx, before, f"{self.op.name} declined an incremental run")
            return stats
        return self.op.run(ctx) or {}

    def _rerun_full(self, ctx: OperatorContext, before: set[str], reason: str) -> dict[str, Any]:
        for rel in _relations(ctx.con) - before:
            ctx.con.execute(f"DROP VIEW IF EXISTS {quote_ident(rel)}")
            ctx.con.execute(f"DROP TABLE IF EXISTS {quote_ident(rel)}")
        ctx.source = self._src
        self.mode, self.reason = "full", reason
        total = self.stats.get("rows_total", 0)
        self.stats.update(mode="full", rows_processed=total, rows_reused=0, reason=reason)
        return self.op.run(ctx) or {}

    # ---- combine ------------------------------------------------------------------------------
    def _map_sql(self, rel: str) -> str:
        """``rel`` rows with the key and input position of the input row each came from."""
        link = f"o.{PARENTS}[1]" if self.op.kind == Kind.GENERATE else f"o.{ID}"
        return (
            f"SELECT o.*, k.__in_key, k.{POS} AS __src_pos FROM {quote_ident(rel)} o "
            f"JOIN {KEYS} k ON {link} = k.__in_id"
        )

    def combine(self, ctx: OperatorContext, out: str, rej: str | None, err: str | None) -> tuple[str, str | None]:
        """Relations to write as the step's table and rejected table (memo rows + processed rows).

        Returns the names unchanged when the memo is off or the output rows cannot be mapped.
        """
        con = ctx.con
        if self.mode == "off":
            return out, rej
        if self.op.kind == Kind.GENERATE and PARENTS not in [c for c, _ in _schema(con, out)]:
            return self._give_up(out, rej, "generated rows carry no _parent_ids")
        parts = [(out, FINAL_OUT, "out")] + ([(rej, FINAL_REJ, "rej")] if rej else [])
        for rel, _final, _name in parts:
            unmapped = _count(
                con, f"SELECT (SELECT count(*) FROM {quote_ident(rel)}) - (SELECT count(*) FROM ({self._map_sql(rel)}))"
            )
            if unmapped:
                return self._give_up(out, rej, f"{unmapped} rows of {rel} do not map to one input row")
        schemas = {name: _schema(con, rel) for rel, _f, name in parts}
        if self.mode == "delta" and self._doc is not None:
            recorded = self._doc.get("schemas", {})
            if any(recorded.get(name) != schema for name, schema in schemas.items()):
                return self._give_up(out, rej, "output schema differs from the memo's")
        err_keys = (
            f"SELECT k.__in_key FROM {quote_ident(err)} e JOIN {KEYS} k ON e.{ID} = k.__in_id"
            if err
            else "SELECT NULL::VARCHAR AS __in_key WHERE false"
        )
        con.execute(f"CREATE TABLE __memo_err_keys AS {err_keys}")
        for rel, final, name in parts:
            schema = schemas[name]
            cols = ", ".join(quote_ident(c) for c, _ in schema)
            sql = f"SELECT {cols}, __in_key, __src_pos FROM ({self._map_sql(rel)})"
            if self.mode == "delta" and self._doc is not None:
                cast = ", ".join(f"CAST(m.{quote_ident(c)} AS {t}) AS {quote_ident(c)}" for c, t in schema)
                memo = quote_literal(self._doc["files"][name])
                sql += (
                    f" UNION ALL SELECT {cast}, m.__in_key, k.{POS} AS __src_pos "
                    f"FROM read_parquet({memo}) m JOIN {KEYS} k USING (__in_key)"
                )
            con.execute(f"CREATE VIEW {final}_keyed AS {sql}")
            con.execute(f"CREATE VIEW {final} AS SELECT {cols} FROM {final}_keyed ORDER BY __src_pos")
        self._out_schema = schemas["out"]
        self._rej_schema = schemas.get("rej", [])
        return FINAL_OUT, (FINAL_REJ if rej else None)

    def invalidate(self) -> None:
        self.pointer.unlink(missing_ok=True)

    def _give_up(self, out: str, rej: str | None, reason: str) -> tuple[str, str | None]:
        if self.mode == "delta":
            self.invalidate()
            raise MemoMismatch(reason)
        self.mode, self.reason = "off", reason
        self.stats.update(mode="off", reason=reason)
        return out, rej

    # ---- save ---------------------------------------------------------------------------------
    def save(self, con: duckdb.DuckDBPyConnection) -> None:
        """Write the memo for the next run; then point ``current.json`` at it (atomic rename).

        Two runs of one step at once (two schedules, a backfill and a manual run) share this folder;
        without the lock one run's prune deletes the other's files while they are being written, or
        after they are written but before its pointer names them."""
        if self.mode == "off":  # gave up on the memo after leasing it: nothing to write, let go
            self.release()
            return
        try:
            with self._folder_lock():
                self._save_locked(con)
        finally:
            self.release()

    def _save_locked(self, con: duckdb.DuckDBPyConnection) -> None:
        gen = uuid.uuid4().hex[:12]
        files: dict[str, str] = {}
        keep = "WHERE __in_key NOT IN (SELECT __in_key FROM __memo_err_keys)"
        parts = {"out": (FINAL_OUT, self._out_schema)}
        if self._rej_schema:
            parts["rej"] = (FINAL_REJ, self._rej_schema)
        for name, (final, schema) in parts.items():
            cols = ", ".join(quote_ident(c) for c, _ in schema)
            files[name] = self._copy(con, f"SELECT {cols}, __in_key FROM {final}_keyed {keep}", f"{gen}-{name}")
        files["keys"] = self._copy(con, f"SELECT DISTINCT __in_key FROM {KEYS} {keep}", f"{gen}-keys")
        doc = {
            "key": self._key,
            "asset": self.asset,
            "partition": self.partition,
            "files": files,
            "schemas": {"out": self._out_schema, **({"rej": self._rej_schema} if self._rej_schema else {})},
        }
        old = self._load()
        atomic_write_text(self.pointer, json.dumps(doc, indent=1))
        self._prune(keep={*files.values(), *((old or {}).get("files", {}).values()), *self._leased_files()})

    def _copy(self, con: duckdb.DuckDBPyConnection, sql: str, stem: str) -> str:
        final = self.folder / f"{stem}.parquet"
        tmp = self.folder / f".tmp-{stem}.parquet"
        con.execute(f"COPY ({sql}) TO {quote_literal(str(tmp))} (FORMAT parquet, COMPRESSION zstd)")
        os.replace(tmp, final)
        return str(final)

    def _prune(self, keep: set[str]) -> None:
        """Keep this generation and the previous one (a concurrent run may still read it).

        Runs under the folder lock, so a ``.tmp-`` file here is a crashed run's leftover. Files a
        running step still reads (leased) stay too."""
        for f in self.folder.glob("*.parquet"):
            if str(f) not in keep:
                f.unlink(missing_ok=True)


class MemoMismatch(Exception):
    """A delta run produced rows the memo cannot account for; the step must run in full."""
