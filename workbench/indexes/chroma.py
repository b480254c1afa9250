"""Chroma `PersistentClient` as the local vector index, tenant-scoped, with Pinecone-language filters."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from workbench.config import IndexConfig
from workbench.filters import combine, to_chroma
from workbench.records import Hit
from workbench.registry import BuildContext

_UPSERT_CHUNK = 1000


class ChromaIndex:
    def __init__(self, path: Path, cfg: IndexConfig, tenant_field: str = "tenant") -> None:
        import chromadb

        self.cfg, self.tenant_field, self.path = cfg, tenant_field, path
        self._client = chromadb.PersistentClient(path=str(path), settings=chromadb.Settings(anonymized_telemetry=False))
        hnsw = {"space": cfg.distance, "ef_construction": cfg.hnsw.construction_ef,
                "ef_search": cfg.hnsw.search_ef, "max_neighbors": cfg.hnsw.max_neighbors}
        # embedding_function=None: we always bring vectors; Chroma's default would download a model.
        self.collection = self._client.get_or_create_collection(cfg.collection, configuration={"hnsw": hnsw},
                                                                embedding_function=None)
        built = (self.collection.configuration or {}).get("hnsw") or {}
        if built.get("space", cfg.distance) != cfg.distance:
            raise ValueError(f"collection {cfg.collection!r} was built with distance {built['space']!r}, "
                             f"config asks {cfg.distance!r}; use another collection name or delete the workspace")
        if built.get("ef_search") != cfg.hnsw.search_ef:
            self.collection.modify(configuration={"hnsw": {"ef_search": cfg.hnsw.search_ef}})

    def upsert(self, ids: Sequence[str], vectors: Any, texts: Sequence[str], metadatas: Sequence[dict[str, Any]]) -> None:
        for m in metadatas:
            if self.tenant_field not in m:
                raise ValueError(f"metadata {m!r} lacks the tenant field {self.tenant_field!r}; every chunk belongs to a tenant")
        for i in range(0, len(ids), _UPSERT_CHUNK):
            s = slice(i, i + _UPSERT_CHUNK)
            self.collection.upsert(ids=list(ids[s]), embeddings=vectors[s], documents=list(texts[s]), metadatas=list(metadatas[s]))

    def query(self, vector: Sequence[float], top_k: int, tenant: str | None, filter: dict[str, Any] | None = None) -> list[Hit]:
        scope = {self.tenant_field: {"$eq": tenant}} if tenant is not None else None
        res = self.collection.query(query_embeddings=[list(map(float, vector))], n_results=top_k,
                                    where=to_chroma(combine(scope, filter)),
                                    include=["documents", "metadatas", "distances"])
        return [Hit(id=i, score=self._similarity(d), text=doc or "", metadata=dict(meta or {}))
                for i, d, doc, meta in zip(res["ids"][0], res["distances"][0], res["documents"][0], res["metadatas"][0])]

    def fingerprints(self, ids: Sequence[str]) -> dict[str, str]:
        """content_hash stored with each existing id, so ingestion can skip unchanged chunks."""
        out: dict[str, str] = {}
        for i in range(0, len(ids), _UPSERT_CHUNK):
            got = self.collection.get(ids=list(ids[i:i + _UPSERT_CHUNK]), include=["metadatas"])
            out.update((cid, (m or {}).get("content_hash", "")) for cid, m in zip(got["ids"], got["metadatas"]))
        return out

    def documents(self, tenant: str | None) -> list[Hit]:
        """Every chunk of a tenant (for keyword indexes built beside the vector index)."""
        got = self.collection.get(where={self.tenant_field: {"$eq": tenant}} if tenant is not None else None,
                                  include=["documents", "metadatas"])
        return [Hit(i, 0.0, doc or "", dict(meta or {})) for i, doc, meta in zip(got["ids"], got["documents"], got["metadatas"])]

    def vectors(self, ids: Sequence[str]) -> dict[str, Any]:
        """Stored embeddings by id (for exact re-scoring of candidates)."""
        got = self.collection.get(ids=list(ids), include=["embeddings"])
        return dict(zip(got["ids"], got["embeddings"]))

    def count(self) -> int:
        return self.collection.count()

    def _similarity(self, distance: float) -> float:
        # Chroma returns distances; the workbench (like Pinecone) speaks in similarities.
        return 1.0 - distance if self.cfg.distance in ("cosine", "ip") else -distance


def build(ctx: BuildContext) -> ChromaIndex:
    return ChromaIndex(ctx.workspace.chroma_dir, ctx.config.index, ctx.config.retrieval.tenant_field)
