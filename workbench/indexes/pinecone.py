"""Pinecone serverless as the vector index: one namespace per tenant, the same filter language as locally.

Tenant isolation is by namespace (a query can only see its tenant's namespace), and the tenant field
stays in the metadata too. Scores are Pinecone's similarities (cosine), comparable with Chroma's 1 - distance.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

from workbench.filters import validate_filter
from workbench.records import Hit
from workbench.registry import BuildContext

_BATCH = 100


class PineconeIndex:
    def __init__(self, index: Any, tenant_field: str = "tenant") -> None:
        self.index, self.tenant_field = index, tenant_field

    def upsert(self, ids: Sequence[str], vectors: Any, texts: Sequence[str], metadatas: Sequence[dict[str, Any]]) -> None:
        by_tenant: dict[str, list[dict[str, Any]]] = {}
        for i, meta in enumerate(metadatas):
            if self.tenant_field not in meta:
                raise ValueError(f"metadata of {ids[i]!r} lacks the tenant field {self.tenant_field!r}")
            by_tenant.setdefault(str(meta[self.tenant_field]), []).append(
                {"id": ids[i], "values": [float(x) for x in vectors[i]], "metadata": {**meta, "text": texts[i]}})
        for tenant, records in by_tenant.items():
            for start in range(0, len(records), _BATCH):
                self.index.upsert(vectors=records[start:start + _BATCH], namespace=tenant)

    def query(self, vector: Sequence[float], top_k: int, tenant: str | None, filter: dict[str, Any] | None = None) -> list[Hit]:
        if tenant is None:
            raise ValueError("Pinecone queries are always tenant-scoped: pass the tenant")
        if filter is not None:
            validate_filter(filter)
        res = self.index.query(vector=[float(x) for x in vector], top_k=top_k, namespace=tenant, filter=filter,
                               include_metadata=True)
        hits = []
        for m in res.matches:
            meta = dict(m.metadata or {})
            hits.append(Hit(id=m.id, score=float(m.score), text=str(meta.pop("text", "")), metadata=meta))
        return hits

    def fingerprints(self, ids: Sequence[str], tenant: str) -> dict[str, str]:
        return {}  # the loader copies an evaluated index; it does not diff

    def count(self) -> int:
        return int(self.index.describe_index_stats().total_vector_count)


def connect(host: str, key: str) -> Any:
    from pinecone import Pinecone

    return Pinecone(api_key=key).Index(host=host)


def build(ctx: BuildContext) -> PineconeIndex:
    host = os.environ.get("PINECONE_HOST")
    if not host:
        raise ValueError("the pinecone index needs PINECONE_HOST (the index's data-plane URL) in the environment")
    return PineconeIndex(connect(host, api_key()), ctx.config.retrieval.tenant_field)


def api_key() -> str:
    """From Secrets Manager when PINECONE_SECRET_NAME is set (the Lambda), else from PINECONE_API_KEY."""
    name = os.environ.get("PINECONE_SECRET_NAME")
    if name:
        from aws_lambda_powertools.utilities.parameters import get_secret

        return str(get_secret(name, max_age=300))
    key = os.environ.get("PINECONE_API_KEY")
    if not key:
        raise ValueError("set PINECONE_API_KEY, or PINECONE_SECRET_NAME to read it from Secrets Manager")
    return key
