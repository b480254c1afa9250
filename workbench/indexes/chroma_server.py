"""Chroma as a server (`index.host`, `index.port`): `chromadb.HttpClient`, a database per workspace folder.

Each folder the embedded index would use (the agent's `chroma/`, each evaluated index under `indexes/`) is a
database of its own on the server, named after the folder, so evaluated indexes never mix with the agent's.

A server keeps each collection's HNSW graph loaded with the ef_search it first searched with: `modify` changes
the stored setting only, and no client can make the server reload (tests/indexes/test_chroma_server.py shows both).
So on a server a collection's name carries its search_ef, and a changed search_ef moves the tenant's chunks,
vectors included (nothing is embedded again), into a collection built with the new value. Run one search_ef
per index on a shared server: clients that disagree would move it back and forth.

TLS, headers and auth come from Chroma's own environment variables, never from the config (which is logged):
CHROMA_SERVER_SSL_ENABLED, CHROMA_SERVER_SSL_VERIFY (a CA bundle), CHROMA_SERVER_HEADERS (a JSON object),
CHROMA_CLIENT_AUTH_PROVIDER and CHROMA_CLIENT_AUTH_CREDENTIALS.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workbench.config import IndexConfig
from workbench.errors import ChromaServerError
from workbench.indexes.chroma_store import ChromaStore, collection_name

_LOGICAL = "workbench_name"  # the collection's name before its search_ef was added
_PAGE = 1000


def store_for(path: Path, cfg: IndexConfig) -> ChromaStore:
    """The embedded store in `path`, or, with `cfg.host`, the server's database for that folder."""
    if cfg.host is None:
        return ChromaStore.at(path)
    Path(path).mkdir(parents=True, exist_ok=True)  # for what is kept beside the index, as with an embedded one (ready.json, BM25)
    database = f"workbench-{Path(path).name}"
    return ChromaStore.shared(f"{cfg.host}:{cfg.port}/{database}", lambda: ChromaServerStore(cfg.host, cfg.port, database))


class ChromaServerStore(ChromaStore):
    def __init__(self, host: str, port: int, database: str) -> None:
        self.host, self.port, self.database = host, port, database
        super().__init__(Path(database), where=f"{host}:{port} database {database!r}")

    def _connect(self) -> Any:
        import chromadb
        from chromadb.errors import NotFoundError, UniqueConstraintError

        ssl = False
        try:
            env = chromadb.Settings(anonymized_telemetry=False)  # reads the CHROMA_* variables
            ssl, headers = bool(env.chroma_server_ssl_enabled), env.chroma_server_headers
            admin = chromadb.AdminClient(
                chromadb.Settings(
                    anonymized_telemetry=False,
                    chroma_api_impl="chromadb.api.fastapi.FastAPI",
                    chroma_server_host=self.host,
                    chroma_server_http_port=self.port,
                    chroma_server_ssl_enabled=ssl,
                    chroma_server_headers=headers,
                )
            )
            try:
                admin.get_database(self.database)
            except NotFoundError:
                try:
                    admin.create_database(self.database)
                except UniqueConstraintError:
                    pass  # another client created it in between
            return chromadb.HttpClient(
                self.host,
                self.port,
                ssl=ssl,
                headers=headers,
                database=self.database,
                settings=chromadb.Settings(anonymized_telemetry=False),
            )
        except Exception as exc:  # noqa: BLE001 - transport, TLS, auth and settings errors all mean the same to the user
            raise ChromaServerError(
                f"cannot use the Chroma server at {'https' if ssl else 'http'}://{self.host}:{self.port} (index.host, index.port): "
                f"{type(exc).__name__}: {str(exc)[:200]}. Start it (`chroma run --path DIR --host {self.host} --port "
                f"{self.port}`), check the CHROMA_SERVER_* variables, or remove index.host to use the embedded index"
            ) from None

    def collection(self, name: str, hnsw: dict[str, Any], metadata: dict[str, Any] | None) -> Any:
        """The collection `name` searched with `hnsw["ef_search"]`: under a name of its own for that value, holding
        whatever a collection of `name` with another search_ef held (moved, as an interrupted move is finished)."""
        physical = collection_name(name, f"ef{hnsw['ef_search']}")
        with self.lock:
            if physical in self._handles:
                return self._handles[physical]
            stale = [c for c in self.collections() if (c.metadata or {}).get(_LOGICAL) == name and c.name != physical]
            if metadata is None and stale:
                metadata = stale[0].metadata
            handle = self._open_collection(physical, hnsw, None if metadata is None else {**metadata, _LOGICAL: name})
            if handle is None:
                return None
            for old in stale:
                self._move(old, handle)
            self._handles[physical] = handle
            return handle

    def _move(self, old: Any, new: Any) -> None:
        # Deleting page by page: an interrupted move leaves each chunk in exactly one of the two, and the next open finishes it.
        while (page := old.get(include=["embeddings", "documents", "metadatas"], limit=_PAGE))["ids"]:
            new.upsert(ids=page["ids"], embeddings=page["embeddings"], documents=page["documents"], metadatas=page["metadatas"])
            old.delete(ids=page["ids"])
        self.client.delete_collection(old.name)
