"""Chroma (embedded, or a server: chroma_server.py) as the vector index: one collection per tenant, Pinecone-language filters.

A collection per tenant, as the export keeps a Pinecone namespace per tenant: a tenant's query searches
only its own HNSW graph, so it is as fast as an unscoped one (a metadata filter on one shared graph was not:
see docs/benchmarks.md), and chunk ids are unique per tenant, so one tenant can never overwrite another's
chunk by reusing a document id. The tenant field stays in each chunk's metadata too.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Iterator, Sequence

from workbench.config import IndexConfig
from workbench.errors import ConfigError, DataError
from workbench.filters import to_chroma
from workbench.indexes.chroma_server import store_for
from workbench.indexes.chroma_store import collection_name
from workbench.registry import BuildContext
from workbench.types import Hit

_UPSERT_CHUNK = 1000
_PAGE = 1000


class ChromaIndex:
    def __init__(self, path: Path, cfg: IndexConfig, tenant_field: str = "tenant") -> None:
        self.cfg, self.tenant_field, self.path = cfg, tenant_field, path
        self._store = store_for(path, cfg)
        self._hnsw = {
            "space": cfg.distance,
            "ef_construction": cfg.hnsw.construction_ef,
            "ef_search": cfg.hnsw.search_ef,
            "max_neighbors": cfg.hnsw.max_neighbors,
        }
        self._migrate_shared_collection()

    def collection(self, tenant: str, create: bool = False) -> Any:
        """The tenant's Chroma collection (None when it holds nothing yet and `create` is False)."""
        tenant = str(tenant)
        meta = {"workbench_index": self.cfg.collection, "tenant": tenant} if create else None
        handle = self._store.collection(collection_name(self.cfg.collection, tenant), self._hnsw, meta)
        if handle is not None and (handle.metadata or {}).get("tenant") != tenant:
            raise ConfigError(
                f"collection {handle.name!r} belongs to tenant {(handle.metadata or {}).get('tenant')!r}, "
                f"not {tenant!r}; use another index.collection"
            )
        return handle

    def tenants(self) -> list[str]:
        """Every tenant with a collection in this index, sorted."""
        return sorted(
            {
                str(c.metadata["tenant"])
                for c in self._store.collections()  # a set: a move can hold two at once
                if (c.metadata or {}).get("workbench_index") == self.cfg.collection
            }
        )

    def upsert(self, ids: Sequence[str], vectors: Any, texts: Sequence[str], metadatas: Sequence[dict[str, Any]]) -> None:
        rows: dict[str, list[int]] = {}
        for i, m in enumerate(metadatas):
            if not m.get(self.tenant_field):
                raise DataError(
                    f"metadata of {ids[i]!r} lacks the tenant field {self.tenant_field!r}; every chunk belongs to a tenant"
                )
            rows.setdefault(str(m[self.tenant_field]), []).append(i)
        for tenant, idx in rows.items():
            col = self.collection(tenant, create=True)
            for s in range(0, len(idx), _UPSERT_CHUNK):
                part = idx[s : s + _UPSERT_CHUNK]
                col.upsert(
                    ids=[ids[i] for i in part],
                    embeddings=[vectors[i] for i in part],
                    documents=[texts[i] for i in part],
                    metadatas=[metadatas[i] for i in part],
                )

    def query(
        self,
        vector: Sequence[float],
        top_k: int,
        tenant: str | None,
        filter: dict[str, Any] | None = None,
        text: str = "",
        keyword: str | None = None,
    ) -> list[Hit]:
        """Best hits in the tenant's collection; tenant None (admin tools) merges the best of every tenant. Ranked by the
        vector alone (`text` is for indexes that score keywords); `keyword` keeps the hits that contain it."""
        if tenant is None:
            to_chroma(filter)
            hits = sorted((h for t in self.tenants() for h in self.query(vector, top_k, t, filter)), key=lambda h: -h.score)
        else:
            hits = self.query_many([vector], top_k, tenant, filter)[0]
        return [h for h in hits if keyword.lower() in h.text.lower()][:top_k] if keyword else hits[:top_k]

    def query_many(
        self, vectors: Sequence[Sequence[float]], top_k: int, tenant: str | None, filter: dict[str, Any] | None = None
    ) -> list[list[Hit]]:
        """The best hits of each vector in the tenant's collection, in one Chroma call (a batch of events)."""
        if tenant is None:
            return [self.query(v, top_k, None, filter) for v in vectors]
        where = to_chroma(filter)  # a bad filter is refused even where the tenant has nothing yet
        col = self.collection(tenant)
        if col is None:
            return [[] for _ in vectors]
        res = col.query(
            query_embeddings=[list(map(float, v)) for v in vectors],
            n_results=top_k,
            where=where,
            include=["documents", "metadatas", "distances"],
        )
        return [
            [
                Hit(id=i, score=self._similarity(d), text=doc or "", metadata=dict(meta or {}))
                for i, d, doc, meta in zip(*(res[key][row] for key in ("ids", "distances", "documents", "metadatas")))
            ]
            for row in range(len(vectors))
        ]

    def fingerprints(self, ids: Sequence[str], tenant: str) -> dict[str, str]:
        """content_hash stored with each of the tenant's existing ids, so ingestion can skip unchanged chunks."""
        col = self.collection(tenant)
        out: dict[str, str] = {}
        for i in range(0, len(ids) if col is not None else 0, _UPSERT_CHUNK):
            got = col.get(ids=list(ids[i : i + _UPSERT_CHUNK]), include=["metadatas"])
            out.update((cid, (m or {}).get("content_hash", "")) for cid, m in zip(got["ids"], got["metadatas"]))
        return out

    def pages(self, tenant: str, embeddings: bool = True, size: int = _PAGE) -> Iterator[dict[str, Any]]:
        """The tenant's chunks, a page at a time (Chroma `get` results: ids, documents, metadatas, embeddings)."""
        col = self.collection(tenant)
        total = col.count() if col is not None else 0
        include = ["documents", "metadatas", *(["embeddings"] if embeddings else [])]
        for offset in range(0, total, size):
            yield col.get(include=include, limit=size, offset=offset)

    def documents(self, tenant: str | None) -> list[Hit]:
        """Every chunk of a tenant, or of all tenants for None (for keyword indexes built beside the vector index)."""
        return [
            Hit(i, 0.0, doc or "", dict(meta or {}))
            for t in ([tenant] if tenant is not None else self.tenants())
            for page in self.pages(t, embeddings=False)
            for i, doc, meta in zip(page["ids"], page["documents"], page["metadatas"])
        ]

    def count(self, tenant: str | None = None) -> int:
        cols = [self.collection(t) for t in ([tenant] if tenant is not None else self.tenants())]
        return sum(c.count() for c in cols if c is not None)

    def vectors(self, ids: Sequence[str], tenant: str) -> dict[str, Any]:
        """The tenant's stored embeddings by id (for exact re-scoring of candidates)."""
        col = self.collection(tenant)
        got = col.get(ids=list(ids), include=["embeddings"]) if col is not None and ids else {"ids": [], "embeddings": []}
        return dict(zip(got["ids"], got["embeddings"]))

    def _similarity(self, distance: float) -> float:
        # Chroma returns distances; the workbench (like Pinecone) speaks in similarities.
        return 1.0 - distance if self.cfg.distance in ("cosine", "ip") else -distance

    def _migrate_shared_collection(self) -> None:
        """Move a workspace built with the earlier layout (all tenants in one collection) to a collection per tenant."""
        old = next((c for c in self._store.collections() if c.name == self.cfg.collection), None)
        if old is None:
            return
        print(f"chroma: moving {old.count()} chunks of {old.name!r} to one collection per tenant", file=sys.stderr)
        while (page := old.get(include=["embeddings", "documents", "metadatas"], limit=_PAGE))["ids"]:
            self.upsert(page["ids"], page["embeddings"], page["documents"], page["metadatas"])
            old.delete(ids=page["ids"])
        self._store.drop(old.name)


def build(ctx: BuildContext) -> ChromaIndex:
    return ChromaIndex(ctx.workspace.chroma_dir, ctx.own("index"), ctx.retrieval.tenant_field)
