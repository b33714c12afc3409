"""The response cache every LLM resource goes through.

SQLite in WAL mode: many processes (Dagster's multiprocess executor, two runs at once) read and
write concurrently, readers never block, writers wait on a short busy timeout. Each batch of answers
is committed as soon as it arrives, so a crash loses at most the batch in flight, a re-run resumes
for free, and an audit can replay a whole pipeline without calling a model.
"""

import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

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


class ResponseCache:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._con: sqlite3.Connection | None = None
        self._pid = -1

    def _conn(self) -> sqlite3.Connection:
        if self._con is None or self._pid != os.getpid():  # never share a connection across fork
            con = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute("PRAGMA busy_timeout=60000")
            con.execute(SCHEMA)
            self._con, self._pid = con, os.getpid()
        return self._con

    def get_many(self, keys: Sequence[str]) -> dict[str, LLMResponse]:
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
        rows = [(k, r.model, r.text, r.prompt_tokens, r.completion_tokens, time.time())
                for k, r in items if r.ok]
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

    def stats(self) -> dict[str, int]:
        row = self._conn().execute(
            "SELECT count(*), coalesce(sum(prompt_tokens),0), coalesce(sum(completion_tokens),0) FROM responses"
        ).fetchone()
        return {"entries": row[0], "prompt_tokens": row[1], "completion_tokens": row[2]}

    def prune(self, older_than_s: float | None = None, model: str | None = None) -> int:
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


@dataclass
class CacheCounters:
    hits: int = 0
    misses: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


class CachedLLM:
    """Wraps any client: answers from the cache first, sends only misses, stores answers at once.

    With ``offline=True`` misses become errors instead of calls: that is how audits replay.
    """

    def __init__(self, client: LLMClient, cache: ResponseCache, offline: bool = False) -> None:
        self.client, self.cache, self.offline = client, cache, offline
        self.counters = CacheCounters()

    @property
    def model_id(self) -> str:
        return self.client.model_id

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
                fresh = [LLMResponse(text=None, error="not in response cache (offline replay)")
                         for _ in unique]
            else:
                fresh = self.client.generate([requests[i] for i in unique.values()])
                self.cache.put_many(zip(unique.keys(), fresh, strict=True))
            by_key = dict(zip(unique.keys(), fresh, strict=True))
            for resp in fresh:
                self.counters.prompt_tokens += resp.prompt_tokens
                self.counters.completion_tokens += resp.completion_tokens
                self.counters.failed += 0 if resp.ok else 1
            for i in todo_idx:
                out[i] = by_key[keys[i]]
        return [r for r in out if r is not None]
