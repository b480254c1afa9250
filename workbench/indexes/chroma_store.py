"""One Chroma client per folder in this process, the collection name of each tenant, and a `search_ef` that takes effect.

Chroma's Rust core keeps each collection's HNSW graph in memory with the ef_search it was loaded with:
`collection.modify` changes the stored setting, not the loaded graph, so a changed `search_ef` would change
no result until the process restarts. The store remembers the ef_search each collection was handed out with
and, when a caller needs another one, closes and reopens its client, so the graph is reloaded with the new
value. Every ChromaIndex on a folder goes through its store, so nothing else holds the old client open.
Alternating two search_ef values on one collection therefore reloads it at each switch: correct, not fast,
and not meant for threads querying the same folder at that moment (a reopen closes the client they use).
Across processes the stored search_ef is shared: the last process to open a collection sets what the
others load next, so run different search_ef values on one folder in one process, or give each its own folder.
"""

from __future__ import annotations

import hashlib
import re
import threading
from pathlib import Path
from typing import Any, Callable, ClassVar

from workbench.errors import ConfigError

_DIGEST = 16
_MAX_NAME = 63  # Chroma's rule, like S3 buckets: 3-63 characters


def collection_name(base: str, tenant: str) -> str:
    """A valid Chroma name for any tenant, distinct per (base, tenant).

    Readable part: base and tenant with every run of other characters as '-' (no '..', alphanumeric start);
    distinct part: a digest of the exact (base, tenant), which also ends the name with an alphanumeric."""
    readable = re.sub(r"[^A-Za-z0-9]+", "-", f"{base}-{tenant}")[: _MAX_NAME - _DIGEST - 1].strip("-")
    digest = hashlib.sha256(f"{base}\0{tenant}".encode()).hexdigest()[:_DIGEST]
    return f"{readable}-{digest}"


class ChromaStore:
    _open: ClassVar[dict[str, "ChromaStore"]] = {}
    _guard: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, path: Path, where: str | None = None) -> None:
        self.path, self.where = path, where or str(path)
        self.lock = threading.RLock()
        self._handles: dict[str, Any] = {}
        self._ef: dict[str, int] = {}  # ef_search of each collection handed out since the client opened
        self.client = self._connect()

    @classmethod
    def at(cls, path: Path) -> "ChromaStore":
        key = str(Path(path).resolve())
        return cls.shared(key, lambda: ChromaStore(Path(key)))

    @classmethod
    def shared(cls, key: str, make: Callable[[], "ChromaStore"]) -> "ChromaStore":
        """The one store of this process for `key` (a folder, or a server's database), made on first use."""
        with cls._guard:
            if key not in cls._open:
                cls._open[key] = make()
            return cls._open[key]

    def _connect(self) -> Any:
        import chromadb

        return chromadb.PersistentClient(path=str(self.path), settings=chromadb.Settings(anonymized_telemetry=False))

    def collection(self, name: str, hnsw: dict[str, Any], metadata: dict[str, Any] | None) -> Any:
        """The collection `name` searched with `hnsw["ef_search"]`; created (with `metadata`) when given, else None if absent."""
        ef = hnsw["ef_search"]
        with self.lock:
            if self._ef.get(name, ef) != ef:
                self._set_ef(self._handles[name], ef)
                self._reopen()
            handle = self._handles.get(name) or self._open_collection(name, hnsw, metadata)
            if handle is not None:
                self._handles[name], self._ef[name] = handle, ef
            return handle

    def _open_collection(self, name: str, hnsw: dict[str, Any], metadata: dict[str, Any] | None) -> Any:
        if metadata is None:
            try:
                handle = self.client.get_collection(name, embedding_function=None)
            except Exception as exc:  # chromadb raises NotFoundError (a ValueError in older versions)
                if "does not exist" in str(exc) or type(exc).__name__ == "NotFoundError":
                    return None
                raise
        else:
            # embedding_function=None: we always bring vectors; Chroma's default would download a model.
            handle = self.client.get_or_create_collection(
                name, configuration={"hnsw": hnsw}, metadata=metadata, embedding_function=None
            )
        built = (handle.configuration or {}).get("hnsw") or {}
        if built.get("space", hnsw["space"]) != hnsw["space"]:
            raise ConfigError(
                f"collection {name!r} in {self.where} was built with distance {built['space']!r}, the config "
                f"asks {hnsw['space']!r}; use another index.collection or delete the workspace"
            )
        if built.get("ef_search") != hnsw["ef_search"]:
            self._set_ef(handle, hnsw["ef_search"])  # before the first query loads the graph: no reopen needed
        return handle

    @staticmethod
    def _set_ef(handle: Any, ef: int) -> None:
        handle.modify(configuration={"hnsw": {"ef_search": ef}})

    def _reopen(self) -> None:
        self.client.close()
        self.client = self._connect()
        self._handles.clear()
        self._ef.clear()

    def collections(self) -> list[Any]:
        with self.lock:
            return list(self.client.list_collections())

    def drop(self, name: str) -> None:
        with self.lock:
            self.client.delete_collection(name)
            self._handles.pop(name, None)
            self._ef.pop(name, None)
