"""The response cache every LLM resource goes through.

SQLite in WAL mode: many processes (Dagster's multiprocess executor, two runs at once) read and
write concurrently, readers never block, writers wait on a short busy timeout. Each batch of answers
is committed as soon as it arrives, so a crash loses at most the batch in flight, a re-run resumes
for free, and an audit can replay a whole pipeline without calling a model.

A damaged file (disk full mid-write, a partial copy) gives one error naming the file and the way
out, never a raw ``sqlite3`` traceback from deep inside a step.
"""

import contextlib
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from operators.core.contract import OperatorError
from operators.core.llm import LLMClient, LLMRequest, LLMResponse

SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    text TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    created REAL NOT NULL
)
"""


class CacheCorruptError(OperatorError):
    """The response cache file cannot be used; the message says which file and what to do."""


_DAMAGE_WORDS = ("not a database", "malformed", "disk image", "file is encrypted", "no such table", "no such column")


@contextlib.contextmanager
def _cache_errors(path: Path) -> Iterator[None]:
    try:
        yield
    except sqlite3.DatabaseError as exc:
        text = str(exc)
        if any(w in text for w in _DAMAGE_WORDS):
            raise CacheCorruptError(
                f"LLM response cache {path} is damaged ({text}); move it aside (`mv {path} {path}.damaged`) "
                "and re-run: answers are requested again (`sqlite3 FILE .recover` may salvage the old ones)"
            ) from None
        raise CacheCorruptError(f"LLM response cache {path}: {type(exc).__name__}: {text}") from exc


class ResponseCache:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._con: sqlite3.Connection | None = None
        self._pid = -1

    def _conn(self) -> sqlite3.Connection:
        if self._con is None or self._pid != os.getpid():  # never share a connection across fork
            with _cache_errors(self.path):
                self._con, self._pid = self._open(), os.getpid()
        return self._con

    def _open(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute("PRAGMA busy_timeout=60000")
            con.execute(SCHEMA)
        except BaseException:
            con.close()
            raise
        return con

    def get_many(self, keys: Sequence[str]) -> dict[str, LLMResponse]:
        with _cache_errors(self.path):
            out: dict[str, LLMResponse] = {}
            con = self._conn()
            for i in range(0, len(keys), 500):
                chunk = list(keys[i : i + 500])
                marks = ",".join("?" * len(chunk))
                for key, model, text, pt, ct in con.execute(
                    f"SELECT key, model, text, prompt_tokens, completion_tokens FROM responses WHERE key IN ({marks})",
                    chunk,
                ):
                    out[key] = LLMResponse(text=text, prompt_tokens=pt, completion_tokens=ct, cached=True, model=model)
            return out

    def put_many(self, items: Iterable[tuple[str, LLMResponse]]) -> None:
        with _cache_errors(self.path):
            rows = [(k, r.model, r.text, r.prompt_tokens, r.completion_tokens, time.time()) for k, r in items if r.ok]
            if not rows:
                return
            con = self._conn()
            con.execute("BEGIN IMMEDIATE")
            try:
                con.executemany("INSERT OR IGNORE INTO responses VALUES (?, ?, ?, ?, ?, ?)", rows)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def contains(self, keys: Sequence[str]) -> set[str]:
        """Which of ``keys`` are cached (for dry-run plans: no texts loaded)."""
        with _cache_errors(self.path):
            con, found = self._conn(), set()
            for i in range(0, len(keys), 500):
                chunk = list(keys[i : i + 500])
                marks = ",".join("?" * len(chunk))
                found.update(k for (k,) in con.execute(f"SELECT key FROM responses WHERE key IN ({marks})", chunk))
            return found

    def stats(self) -> dict[str, Any]:
        """Totals plus a per-model breakdown; ``bytes`` is the database file with its WAL."""
        with _cache_errors(self.path):
            con = self._conn()
            row = con.execute(
                "SELECT count(*), coalesce(sum(prompt_tokens),0), coalesce(sum(completion_tokens),0), "
                "min(created), max(created) FROM responses"
            ).fetchone()
            per_model = {
                m: {"entries": n, "prompt_tokens": pt, "completion_tokens": ct}
                for m, n, pt, ct in con.execute(
                    "SELECT model, count(*), sum(prompt_tokens), sum(completion_tokens) FROM responses "
                    "GROUP BY model ORDER BY model"
                )
            }
            size = sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists())
            return {
                "entries": row[0],
                "prompt_tokens": row[1],
                "completion_tokens": row[2],
                "oldest": row[3],
                "newest": row[4],
                "bytes": size,
                "models": per_model,
            }

    def prune(self, older_than_s: float | None = None, model: str | None = None) -> int:
        with _cache_errors(self.path):
            clauses, args = [], []
            if older_than_s is not None:
                clauses.append("created < ?")
                args.append(time.time() - older_than_s)
            if model is not None:
                clauses.append("model = ?")
                args.append(model)
            where = " WHERE " + " AND ".join(clauses) if clauses else ""
            cur = self._conn().execute(f"DELETE FROM responses{where}", args)
            return cur.rowcount

    def vacuum(self) -> None:
        """Give pruned space back to the file system (takes a write lock briefly)."""
        with _cache_errors(self.path):
            self._conn().execute("VACUUM")


@dataclass
class CacheCounters:
    hits: int = 0
    misses: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


class _Committer(threading.Thread):
    """Commits answers from a queue on its own thread and connection, so the dispatch loop never
    waits on SQLite; answers that queue up while a commit runs go into the next one (group commit)."""

    def __init__(self, path: Path, max_batch: int) -> None:
        super().__init__(name="llm-cache-commit", daemon=True)
        self.cache, self.max_batch = ResponseCache(path), max_batch
        self.queue: queue.SimpleQueue[tuple[str, LLMResponse] | None] = queue.SimpleQueue()
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        done = False
        while not done:
            item = self.queue.get()
            batch = [] if item is None else [item]
            done = item is None
            while not done and len(batch) < self.max_batch:
                try:
                    nxt = self.queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    done = True
                else:
                    batch.append(nxt)
            try:
                self.cache.put_many(batch)
            except BaseException as exc:  # surfaced by close(); keep draining so the producer never blocks
                self.error = exc

    def close(self) -> None:
        self.queue.put(None)
        self.join()
        if self.error is not None:
            raise self.error


class CachedLLM:
    """Wraps any client: answers from the cache first, sends only misses, stores answers as they land.

    Clients that take an ``on_result`` callback (the OpenAI-compatible one) hand each answer to a
    committer thread while the batch is still running (commits of up to ``commit_every`` answers), so
    a crash loses at most the answers of the commit in progress; other clients' answers are committed
    when their batch returns. With ``offline=True`` misses become errors instead of calls: that is
    how audits replay.
    """

    def __init__(self, client: LLMClient, cache: ResponseCache, offline: bool = False, commit_every: int = 64) -> None:
        self.client, self.cache, self.offline = client, cache, offline
        self.commit_every = commit_every
        self.counters = CacheCounters()

    @property
    def model_id(self) -> str:
        return self.client.model_id

    @property
    def preferred_batch(self) -> int:
        """The client's best batch (0: no preference, the operator's batch size stands)."""
        return int(getattr(self.client, "preferred_batch", 0) or 0)

    def _dispatch(self, keys: list[str], requests: list[LLMRequest]) -> list[LLMResponse]:
        if not getattr(self.client, "accepts_on_result", False):
            fresh = self.client.generate(requests)
            self.cache.put_many(zip(keys, fresh, strict=True))
            return fresh
        committer = _Committer(self.cache.path, self.commit_every)
        try:
            fresh = self.client.generate(  # type: ignore[call-arg]
                requests, on_result=lambda i, resp: committer.queue.put((keys[i], resp)) if resp.ok else None
            )
        finally:
            committer.close()  # also on a crash: whatever landed is kept
        return fresh

    def generate(self, requests: Sequence[LLMRequest]) -> list[LLMResponse]:
        keys = [r.cache_key(self.model_id) for r in requests]
        found = self.cache.get_many(list(dict.fromkeys(keys)))
        out: list[LLMResponse | None] = [found.get(k) for k in keys]
        todo_idx = [i for i, r in enumerate(out) if r is None]
        self.counters.hits += len(requests) - len(todo_idx)
        if todo_idx:
            unique: dict[str, int] = {}
            for i in todo_idx:
                unique.setdefault(keys[i], i)
            self.counters.misses += len(unique)
            if self.offline:
                fresh = [LLMResponse(text=None, error="not in response cache (offline replay)") for _ in unique]
            else:
                fresh = self._dispatch(list(unique), [requests[i] for i in unique.values()])
            by_key = dict(zip(unique.keys(), fresh, strict=True))
            for resp in fresh:
                self.counters.prompt_tokens += resp.prompt_tokens
                self.counters.completion_tokens += resp.completion_tokens
                self.counters.failed += 0 if resp.ok else 1
            for i in todo_idx:
                out[i] = by_key[keys[i]]
        return [r for r in out if r is not None]


def cache_stats(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Stats of the response cache at ``path`` (for the CLI: ``<root>/llm_cache.sqlite``)."""
    return ResponseCache(path).stats()


def cache_prune(
    path: str | os.PathLike[str], older_than_s: float | None = None, model: str | None = None, vacuum: bool = True
) -> int:
    """Delete cached answers older than ``older_than_s`` and/or of ``model``; returns how many."""
    cache = ResponseCache(path)
    n = cache.prune(older_than_s, model)
    if vacuum and n:
        cache.vacuum()
    return n
