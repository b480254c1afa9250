"""Vector indexes behind the `VectorIndex` protocol, and the multi-query a batch of events uses."""

from __future__ import annotations

from typing import Any, Sequence

from workbench.types import Hit


def query_many(index: Any, vectors: Sequence[Sequence[float]], top_k: int, tenant: str | None,
               filter: dict[str, Any] | None = None, **hybrid: Sequence[Any]) -> list[list[Hit]]:
    """The hits of each vector, within one tenant and filter: the index's own `query_many` (one call for all, as
    Chroma takes many query embeddings) when it has one, else one `query` per vector. `hybrid`, for an index that
    also scores keywords: `texts` and `keywords`, one per vector."""
    many = getattr(index, "query_many", None)
    if many is not None:
        return many(vectors, top_k, tenant, filter, **hybrid)
    each = [{"text": t, "keyword": k} for t, k in zip(hybrid["texts"], hybrid["keywords"])] if hybrid else [{}] * len(vectors)
    return [index.query(v, top_k, tenant, filter, **kw) for v, kw in zip(vectors, each)]
