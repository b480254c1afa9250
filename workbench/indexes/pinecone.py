"""Pinecone serverless as the vector index: one namespace per tenant, the same filter language as locally.

Tenant isolation is by namespace (a query can only see its tenant's namespace), and the tenant field
stays in the metadata too. Scores are Pinecone's similarities (cosine), comparable with Chroma's 1 - distance.

With `retrieval.hybrid.method: sparse_dense` (a `dotproduct` index), queries carry the tenant's BM25 query vector,
both scaled convexly by alpha, so Pinecone ranks by exactly the score `SparseDenseIndex` computes locally. As
there, `Hit.score` is the cosine (recomputed from the returned values) and the sparse-dense score is
`metadata["fusion_score"]`; an exact keyword keeps the matches of the top `candidates` that contain it.

`build` (the Lambda, live evaluation) reads through `pinecone_reads.ReadClient`, which spares a cold start the SDK;
`connect` gives the SDK's client, for loading.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

from workbench.errors import ConfigError, DataError
from workbench.filters import validate_filter
from workbench.registry import BuildContext
from workbench.types import Hit

_BATCH = 100
_CONCURRENT_QUERIES = 10  # an SQS batch of queries at once, within the read client's connection pool


class PineconeIndex:
    def __init__(self, index: Any, tenant_field: str = "tenant", hybrid: Any = None, bm25_dir: Path | None = None) -> None:
        """`hybrid`: a sparse_dense `HybridConfig`, with the tenants' BM25 parameters in `bm25_dir`."""
        self.index, self.tenant_field, self.hybrid, self.bm25_dir = index, tenant_field, hybrid, bm25_dir
        self.serves_sparse_dense = hybrid is not None

    def upsert(
        self,
        ids: Sequence[str],
        vectors: Any,
        texts: Sequence[str],
        metadatas: Sequence[dict[str, Any]],
        sparse: Sequence[dict[str, list]] | None = None,
    ) -> None:
        by_tenant: dict[str, list[dict[str, Any]]] = {}
        for i, meta in enumerate(metadatas):
            if self.tenant_field not in meta:
                raise DataError(f"metadata of {ids[i]!r} lacks the tenant field {self.tenant_field!r}")
            record = {"id": ids[i], "values": [float(x) for x in vectors[i]], "metadata": {**meta, "text": texts[i]}}
            if sparse is not None and sparse[i]["indices"]:
                record["sparse_values"] = sparse[i]
            by_tenant.setdefault(str(meta[self.tenant_field]), []).append(record)
        for tenant, records in by_tenant.items():
            for start in range(0, len(records), _BATCH):
                self.index.upsert(vectors=records[start : start + _BATCH], namespace=tenant)

    def query(
        self,
        vector: Sequence[float],
        top_k: int,
        tenant: str | None,
        filter: dict[str, Any] | None = None,
        text: str = "",
        keyword: str | None = None,
    ) -> list[Hit]:
        if tenant is None:
            raise ValueError("Pinecone queries are always tenant-scoped: pass the tenant")
        if filter is not None:
            validate_filter(filter)
        if self.hybrid is None:
            res = self.index.query(
                vector=[float(x) for x in vector], top_k=top_k, namespace=tenant, filter=filter, include_metadata=True
            )
            return [_hit(m, float(m.score)) for m in res.matches]
        from workbench.indexes.sparse import bm25

        dense, sparse = bm25.scale(vector, bm25.encode_query(_params(self.bm25_dir, tenant), text), self.hybrid.weight)
        k = max(self.hybrid.candidates, top_k) if keyword else top_k
        res = self.index.query(
            vector=dense,
            sparse_vector=sparse if sparse["indices"] else None,
            top_k=k,
            namespace=tenant,
            filter=filter,
            include_metadata=True,
            include_values=True,
        )
        import numpy as np

        q = np.asarray(vector, dtype=np.float64)
        hits = [
            _hit(m, float(q @ np.asarray(m.values, dtype=np.float64)), fusion_score=round(float(m.score), 6)) for m in res.matches
        ]
        if keyword:
            hits = [h for h in hits if keyword.lower() in h.text.lower()]
        return hits[:top_k]

    def query_many(
        self,
        vectors: Sequence[Sequence[float]],
        top_k: int,
        tenant: str | None,
        filter: dict[str, Any] | None = None,
        texts: Sequence[str] | None = None,
        keywords: Sequence[str | None] | None = None,
    ) -> list[list[Hit]]:
        """`query` for each vector of a batch. Pinecone takes one query vector per request, so they run concurrently."""
        texts, keywords = texts or [""] * len(vectors), keywords or [None] * len(vectors)
        if len(vectors) == 1:
            return [self.query(vectors[0], top_k, tenant, filter, texts[0], keywords[0])]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(_CONCURRENT_QUERIES, len(vectors)), thread_name_prefix="pinecone") as pool:
            return list(pool.map(lambda v, t, k: self.query(v, top_k, tenant, filter, t, k), vectors, texts, keywords))

    def fingerprints(self, ids: Sequence[str], tenant: str) -> dict[str, str]:
        return {}  # the loader copies an evaluated index; it does not diff

    def count(self, tenant: str | None = None) -> int:
        stats = self.index.describe_index_stats()
        if tenant is None:
            return int(stats.total_vector_count)
        namespace = (stats.namespaces or {}).get(tenant)
        return int(namespace.vector_count) if namespace is not None else 0


def _hit(match: Any, score: float, **extra: Any) -> Hit:
    meta = dict(match.metadata or {})
    return Hit(id=match.id, score=score, text=str(meta.pop("text", "")), metadata={**meta, **extra})


@lru_cache(maxsize=256)
def _params(folder: Path | None, tenant: str) -> Any:
    from workbench.indexes.sparse import bm25

    if folder is None:
        raise ConfigError("a sparse_dense index needs the folder of the tenants' BM25 parameters (WORKBENCH_BM25_DIR)")
    return bm25.load(bm25.params_path(folder, tenant))


def connect(host: str, key: str) -> Any:
    """The SDK's client of the index's data plane, for writes (`pinecone-load`); queries need only `ReadClient`.
    `Pinecone(api_key).Index(host)` would build a control-plane client first, with a pool and TLS context unused."""
    from pinecone import Index

    return Index(host=host, api_key=key)


def build(ctx: BuildContext) -> PineconeIndex:
    host = os.environ.get("PINECONE_HOST")
    if not host:
        raise ConfigError("the pinecone index needs PINECONE_HOST (the index's data-plane URL) in the environment")
    hybrid = ctx.retrieval.hybrid
    if hybrid.enabled and hybrid.method != "sparse_dense":
        raise ConfigError(f"retrieval.hybrid.method {hybrid.method!r} runs locally only; Pinecone serves sparse_dense")
    folder = Path(os.environ.get("WORKBENCH_BM25_DIR", Path(__file__).resolve().parent.parent.parent / "bm25"))
    from workbench.indexes.pinecone_reads import ReadClient

    return PineconeIndex(
        ReadClient(host, api_key(), pool_size=_CONCURRENT_QUERIES),
        ctx.retrieval.tenant_field,
        hybrid if hybrid.enabled else None,
        folder if hybrid.enabled else None,
    )


def api_key() -> str:
    """From Secrets Manager when PINECONE_SECRET_NAME is set (the Lambda), else from PINECONE_API_KEY."""
    name = os.environ.get("PINECONE_SECRET_NAME")
    if name:
        import boto3
        from aws_lambda_powertools.utilities.parameters import SecretsProvider

        # A client of boto3's default session, not a session of its own: the botocore models a session loads serve
        # every client made from it, and a cold start that loads them once per session pays again for the same files.
        return str(SecretsProvider(boto3_client=boto3.client("secretsmanager")).get(name))
    key = os.environ.get("PINECONE_API_KEY")
    if not key:
        raise ConfigError("set PINECONE_API_KEY, or PINECONE_SECRET_NAME to read it from Secrets Manager")
    return key
