"""An embedding cache keyed by (model, sha256 of text): no text is embedded twice, across runs and sweeps.

On disk (SQLite) so it survives processes; with an in-memory layer in front, because a sweep asks for
the same question and sentence vectors once per point.
"""

from __future__ import annotations

import fcntl
import hashlib
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from workbench.protocols import Embedder
from workbench.sqlite_local import connect

_LOOKUP_CHUNK = 500  # stays under SQLite's bound-parameter limit
_MEMORY_ITEMS = 200_000  # ~300 MB of 384-d float32 vectors at most


class CachedEmbedder:
    def __init__(self, inner: Embedder, path: Path) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.dimension = inner.dimension
        self.computed = 0  # texts the model actually embedded; tests and benchmarks read it
        self._lock = threading.Lock()
        self._embedding = threading.Lock()
        self._memory: dict[str, np.ndarray] = {}
        self._db = connect(path, check_same_thread=False)
        self._lockfile = Path(f"{path}.lock")
        self._db.execute("CREATE TABLE IF NOT EXISTS embeddings (model TEXT, key TEXT, vector BLOB, PRIMARY KEY (model, key))")

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        keys = [hashlib.sha256(t.encode()).hexdigest() for t in texts]
        # One embedding at a time per cache: two threads missing the same text (ragas scores concurrently)
        # would otherwise both run the model on it. The model is compute-bound, so nothing is lost.
        with self._embedding:
            found = self._lookup(set(keys))
            missing = {k: t for k, t in zip(keys, texts) if k not in found}
            if missing:
                # And one process at a time per cache file: sweep workers on one machine (processes, Ray tasks) ask
                # for the same questions and answers; the second finds what the first stored, instead of embedding it.
                with open(self._lockfile, "a") as lock:
                    fcntl.flock(lock, fcntl.LOCK_EX)
                    found.update(self._lookup(set(missing)))
                    missing = {k: t for k, t in missing.items() if k not in found}
                    if missing:
                        vectors = np.asarray(self.inner.embed(list(missing.values())), dtype=np.float32)
                        found.update(zip(missing, vectors))
                        self._store(list(zip(missing, vectors)))
                        self._remember(dict(zip(missing, vectors)))
                        self.computed += len(missing)
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for row, key in enumerate(keys):
            out[row] = found[key]
        return out

    def _lookup(self, keys: set[str]) -> dict[str, np.ndarray]:
        found = {k: self._memory[k] for k in keys if k in self._memory}
        ordered = sorted(keys - found.keys())
        with self._lock:
            for i in range(0, len(ordered), _LOOKUP_CHUNK):
                chunk = ordered[i:i + _LOOKUP_CHUNK]
                rows = self._db.execute(
                    f"SELECT key, vector FROM embeddings WHERE model = ? AND key IN ({','.join('?' * len(chunk))})",
                    [self.model_id, *chunk])
                found.update((k, np.frombuffer(v, dtype=np.float32)) for k, v in rows)
        self._remember(found)
        return found

    def _remember(self, vectors: dict[str, np.ndarray]) -> None:
        if len(self._memory) + len(vectors) > _MEMORY_ITEMS:
            self._memory.clear()
        self._memory.update(vectors)

    def _store(self, items: list[tuple[str, np.ndarray]]) -> None:
        with self._lock, self._db:
            self._db.executemany("INSERT OR IGNORE INTO embeddings VALUES (?, ?, ?)",
                                 [(self.model_id, k, v.tobytes()) for k, v in items])
