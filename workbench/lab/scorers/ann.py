"""ANN recall: how many of the HNSW index's top k an exact search over the same stored vectors also returns.

The exact search is brute force with numpy over the tenant's vectors, loaded once per evaluation, with the
same filter applied in Python (`workbench.filters.matches`). Logged as `ann_recall_at_k`, so users see what
the approximate index costs them, and what a larger `search_ef` buys back.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from workbench.filters import matches


class ExactSearch:
    def __init__(self, index: Any) -> None:
        """`index`: a ChromaIndex (it can page out a tenant's stored vectors)."""
        self.index = index
        self._tenants: dict[str, tuple[list[str], np.ndarray, list[dict[str, Any]]]] = {}

    def _load(self, tenant: str) -> tuple[list[str], np.ndarray, list[dict[str, Any]]]:
        if tenant not in self._tenants:
            ids: list[str] = []
            rows: list[Any] = []
            metas: list[dict[str, Any]] = []
            for page in self.index.pages(tenant):
                ids += page["ids"]
                rows += list(page["embeddings"])
                metas += [dict(m or {}) for m in page["metadatas"]]
            matrix = np.asarray(rows, dtype=np.float32).reshape(len(ids), -1 if ids else 0)
            self._tenants[tenant] = (ids, matrix, metas)
        return self._tenants[tenant]

    def top_k(self, vector: Sequence[float], k: int, tenant: str, filter: dict[str, Any] | None = None) -> list[str]:
        """Ids of the k stored vectors nearest `vector` under the index's distance, exactly."""
        ids, matrix, metas = self._load(tenant)
        keep = np.array([matches(filter, m) for m in metas] if filter else [True] * len(ids), dtype=bool)
        if not keep.any():
            return []
        q = np.asarray(vector, dtype=np.float32)
        rows = matrix[keep]
        distance = self.index.cfg.distance
        if distance == "cosine":
            score = (rows @ q) / (np.linalg.norm(rows, axis=1) * np.linalg.norm(q) + 1e-12)
        elif distance == "ip":
            score = rows @ q
        else:
            score = -np.sum((rows - q) ** 2, axis=1)
        order = np.argsort(-score, kind="stable")[:k]
        kept = np.flatnonzero(keep)
        return [ids[kept[i]] for i in order]

    def recall(
        self,
        vector: Sequence[float],
        k: int,
        tenant: str,
        filter: dict[str, Any] | None = None,
        found: Sequence[str] | None = None,
    ) -> float:
        """|HNSW top k ∩ exact top k| / |exact top k|; NaN when nothing matches. `found`: the ids of the index's top k
        for this vector and filter where the caller has them already (asked again, the graph answers the same)."""
        exact = self.top_k(vector, k, tenant, filter)
        if not exact:
            return math.nan
        approx = set(found) if found is not None else {h.id for h in self.index.query(vector, k, tenant, filter)}
        return len(approx & set(exact)) / len(exact)
