"""Vector indexes behind the `VectorIndex` protocol, and the multi-query a batch of events uses."""

from __future__ import annotations

import threading
from typing import Any, Callable, Sequence

from workbench.types import Hit


def query_many(
    index: Any,
    vectors: Sequence[Sequence[float]],
    top_k: int,
    tenant: str | None,
    filter: dict[str, Any] | None = None,
    **hybrid: Sequence[Any],
) -> list[list[Hit]]:
    """The hits of each vector, within one tenant and filter: the index's own `query_many` (one call for all, as
    Chroma takes many query embeddings) when it has one, else one `query` per vector. `hybrid`, for an index that
    also scores keywords: `texts` and `keywords`, one per vector."""
    many = getattr(index, "query_many", None)
    if many is not None:
        return many(vectors, top_k, tenant, filter, **hybrid)
    each = [{"text": t, "keyword": k} for t, k in zip(hybrid["texts"], hybrid["keywords"])] if hybrid else [{}] * len(vectors)
    return [index.query(v, top_k, tenant, filter, **kw) for v, kw in zip(vectors, each)]


class PerTenantWrapper:
    """A vector index wrapped with something built per tenant from its chunks (BM25 postings or fitted
    parameters): built on first use, forgotten on every upsert, so keyword scores never lag the chunks.
    A subclass gives `query_many` (a batch of vectors with their texts and keywords); `query` is one of them."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self._built: dict[str, Any] = {}
        self._lock = threading.Lock()

    def upsert(self, ids: Sequence[str], vectors: Any, texts: Sequence[str], metadatas: Sequence[dict[str, Any]]) -> None:
        self.inner.upsert(ids, vectors, texts, metadatas)
        with self._lock:
            self._built.clear()

    def fingerprints(self, ids: Sequence[str], tenant: str) -> dict[str, str]:
        return self.inner.fingerprints(ids, tenant)

    def count(self, tenant: str | None = None) -> int:
        return self.inner.count(tenant)

    def query(
        self,
        vector: Sequence[float],
        top_k: int,
        tenant: str | None,
        filter: dict[str, Any] | None = None,
        text: str = "",
        keyword: str | None = None,
    ) -> list[Hit]:
        return self.query_many([vector], top_k, tenant, filter, [text], [keyword])[0]

    def built(self, tenant: str | None, build: Callable[[list[Hit]], Any]) -> Any:
        """What `build` makes of the tenant's chunks, once until the next upsert."""
        key = tenant or ""
        with self._lock:
            if key not in self._built:
                self._built[key] = build(self.inner.documents(tenant))
            return self._built[key]
