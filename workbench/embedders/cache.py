"""An embedding cache keyed by (model, sha256 of text): no text is embedded twice, across runs and sweeps.

On disk (SQLite) so it survives processes; with an in-memory layer in front, because a sweep asks for
the same question and sentence vectors once per point.

Each vector is stored with the model time it cost when it was computed (its batch's time, shared out by
text length), and every hit adds that time to `saved_ms`. The cache's own work (lookups, waiting for the
lock, storing new vectors) is summed in `overhead_ms`. Evaluations charge each stage its hits' model time and take
off the cache's overhead, so their latency is what a cache-less production path (the Lambda) pays, whatever was
evaluated before: a warm cache no longer makes a configuration look fast, nor a cold one slow.
"""

from __future__ import annotations

import fcntl
import hashlib
import threading
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from workbench.protocols import Embedder
from workbench.sqlite_connections import connect

_LOOKUP_CHUNK = 500  # stays under SQLite's bound-parameter limit
_MEMORY_ITEMS = 200_000  # ~300 MB of 384-d float32 vectors at most


class CachedEmbedder:
    def __init__(self, inner: Embedder, path: Path) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.dimension = inner.dimension
        self.computed = 0  # texts the model actually embedded; tests and benchmarks read it
        self.saved_ms = 0.0  # model time of every hit so far; an evaluation reads its growth over each stage
        self.overhead_ms = 0.0  # time in embed() outside the model: what a cache-less path does not spend
        self._lock = threading.Lock()
        self._embedding = threading.Lock()
        self._memory: dict[str, tuple[np.ndarray, float]] = {}
        self._db = connect(path, check_same_thread=False)
        self._lockfile = Path(f"{path}.lock")
        # A cache: a vector lost to a power cut is computed again. Not waiting for the disk on every commit keeps
        # the cache's own bookkeeping (milliseconds) out of the stage timings, where only model time belongs.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS embeddings (model TEXT, key TEXT, vector BLOB, ms REAL, PRIMARY KEY (model, key))"
        )
        if "ms" not in {row[1] for row in self._db.execute("PRAGMA table_info(embeddings)")}:
            self._db.execute("ALTER TABLE embeddings ADD COLUMN ms REAL")  # a cache from before compute times were kept

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        called = time.perf_counter()
        keys = [hashlib.sha256(t.encode()).hexdigest() for t in texts]
        # One embedding at a time per cache: two threads missing the same text (ragas scores concurrently)
        # would otherwise both run the model on it. The model is compute-bound, so nothing is lost.
        with self._embedding:
            found = self._lookup(set(keys))
            spent = 0.0
            missing = {k: t for k, t in zip(keys, texts) if k not in found}
            if missing:
                # And one process at a time per cache file: sweep workers on one machine (processes, Ray tasks) ask
                # for the same questions and answers; the second finds what the first stored, instead of embedding it.
                with open(self._lockfile, "a") as lock:
                    fcntl.flock(lock, fcntl.LOCK_EX)
                    found.update(self._lookup(set(missing)))
                    missing = {k: t for k, t in missing.items() if k not in found}
                    if missing:
                        start = time.perf_counter()
                        vectors = np.asarray(self.inner.embed(list(missing.values())), dtype=np.float32)
                        spent = (time.perf_counter() - start) * 1000
                        chars = sum(max(len(t), 1) for t in missing.values())
                        new = {k: (v, spent * max(len(t), 1) / chars) for (k, t), v in zip(missing.items(), vectors)}
                        found.update(new)
                        self._store(new)
                        self._remember(new)
                        self.computed += len(missing)
            # Every text asked for is charged its model time (a repeated text too: the model would run on it again),
            # less the time the model just spent here, which the caller's clock has already seen. One counter for
            # all threads: the guard runs a stage's calls on its own threads, and an evaluation asks one question at a time.
            self.saved_ms += sum(found[k][1] for k in keys) - spent
            self.overhead_ms += (time.perf_counter() - called) * 1000 - spent
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for row, key in enumerate(keys):
            out[row] = found[key][0]
        return out

    def _lookup(self, keys: set[str]) -> dict[str, tuple[np.ndarray, float]]:
        found = {k: self._memory[k] for k in keys if k in self._memory}
        ordered = sorted(keys - found.keys())
        with self._lock:
            for i in range(0, len(ordered), _LOOKUP_CHUNK):
                chunk = ordered[i : i + _LOOKUP_CHUNK]
                rows = self._db.execute(  # a row without a time predates them: computed again, once, to measure it
                    f"SELECT key, vector, ms FROM embeddings WHERE model = ? AND ms IS NOT NULL AND key IN ({','.join('?' * len(chunk))})",
                    [self.model_id, *chunk],
                )
                found.update((k, (np.frombuffer(v, dtype=np.float32), ms)) for k, v, ms in rows)
        self._remember(found)
        return found

    def _remember(self, vectors: dict[str, tuple[np.ndarray, float]]) -> None:
        if len(self._memory) + len(vectors) > _MEMORY_ITEMS:
            self._memory.clear()
        self._memory.update(vectors)

    def _store(self, items: dict[str, tuple[np.ndarray, float]]) -> None:
        with self._lock, self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?)",
                [(self.model_id, k, v.tobytes(), ms) for k, (v, ms) in items.items()],
            )
