"""Pinecone's sparse-dense score, computed exactly on the local Chroma index: the exportable hybrid mode.

score = alpha * (query . vector) + (1 - alpha) * (BM25 query . BM25 document), the score a Pinecone `dotproduct`
index returns for the convexly scaled query (`workbench.indexes.sparse.bm25.scale`). `alpha` is `retrieval.hybrid.weight`.

Candidates: the dense top-n from Chroma (n = `hybrid.candidates`, at least top_k) and the sparse top-n from the
tenant's BM25 postings, re-scored exactly. No document outside both lists can score above
alpha * (n-th dense score) + (1 - alpha) * (n-th sparse score); while the k-th candidate is below that bound, n doubles
(up to the tenant's size). So the ranking is Pinecone's exact one, not a truncation: a larger `candidates` only saves
rounds. The one approximation left is the dense list itself (HNSW in Chroma, ANN in Pinecone alike).

`Hit.score` stays the cosine (dot product of unit vectors), so the reasoner's `min_score` still speaks cosine; the
sparse-dense score is in `metadata["fusion_score"]`. BM25 parameters are fitted per tenant on its chunks, saved next
to the Chroma index (`<index>/bm25/<collection>/<tenant>.json`), refitted when the tenant's chunks change.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from workbench import indexes
from workbench.config import HybridConfig
from workbench.filters import matches
from workbench.indexes.sparse import bm25
from workbench.types import Hit


@dataclass
class _Tenant:
    docs: list[Hit]
    params: bm25.BM25Params
    postings: dict[int, list[tuple[int, float]]]


class SparseDenseIndex(indexes.PerTenantWrapper):
    def __init__(self, inner: Any, cfg: HybridConfig) -> None:
        super().__init__(inner)
        self.cfg = cfg
        self.folder = params_folder(inner)

    def params(self, tenant: str | None) -> bm25.BM25Params:
        return self._tenant(tenant).params

    def query_many(
        self,
        vectors: Sequence[Sequence[float]],
        top_k: int,
        tenant: str | None,
        filter: dict[str, Any] | None = None,
        texts: Sequence[str] | None = None,
        keywords: Sequence[str | None] | None = None,
    ) -> list[list[Hit]]:
        """`query` for each vector of a batch; the first round of dense candidates of all in one multi-query."""
        t = self._tenant(tenant)
        texts, keywords = texts or [""] * len(vectors), keywords or [None] * len(vectors)
        firsts = indexes.query_many(self.inner, vectors, max(self.cfg.candidates, top_k), tenant, filter)
        out = []
        for vector, first, text, keyword in zip(vectors, firsts, texts, keywords):
            k = max(self.cfg.candidates, top_k) if keyword else top_k  # as the Lambda: keyword-filter the top `candidates`
            ranked = self._exact_top(
                np.asarray(vector, dtype=np.float64), bm25.encode_query(t.params, text), k, tenant, filter, t, first
            )
            if keyword:
                ranked = [h for h in ranked if keyword.lower() in h.text.lower()]
            out.append(ranked[:top_k])
        return out

    def _exact_top(
        self,
        q: np.ndarray,
        sq: dict[str, list],
        k: int,
        tenant: str | None,
        flt: dict[str, Any] | None,
        t: _Tenant,
        dense: list[Hit],
    ) -> list[Hit]:
        """`dense`: the top max(candidates, k) by cosine, the first round's candidates."""
        alpha = self.cfg.weight
        sparse: dict[int, float] = {}
        for index, weight in zip(sq["indices"], sq["values"]):
            for doc, value in t.postings.get(index, ()):
                sparse[doc] = sparse.get(doc, 0.0) + weight * value
        sparse = {d: s for d, s in sparse.items() if matches(flt, t.docs[d].metadata)}
        sparse_ranked = sorted(sparse, key=lambda d: -sparse[d])
        by_id = {h.id: (i, h) for i, h in enumerate(t.docs)}
        n = max(self.cfg.candidates, k)
        while True:
            ids = list(dict.fromkeys([h.id for h in dense] + [t.docs[d].id for d in sparse_ranked[:n]]))
            vectors = self.inner.vectors(ids, tenant)
            scored = []
            for cid in ids:
                doc, hit = by_id[cid]
                cosine = float(q @ np.asarray(vectors[cid], dtype=np.float64))
                scored.append((alpha * cosine + (1 - alpha) * sparse.get(doc, 0.0), cid, cosine, hit))
            scored.sort(key=lambda s: (-s[0], s[1]))
            if len(dense) < n or n >= len(t.docs):
                break  # every document that passes the filter was a candidate
            outside = alpha * (dense[-1].score + 1e-6) + (1 - alpha) * (
                sparse[sparse_ranked[n]] if len(sparse_ranked) > n else 0.0
            )
            if len(scored) >= k and scored[k - 1][0] >= outside:
                break
            n *= 2
            dense = self.inner.query(q.tolist(), n, tenant, flt)
        return [
            Hit(cid, cosine, hit.text, {**hit.metadata, "fusion_score": round(score, 6)})
            for score, cid, cosine, hit in scored[:k]
        ]

    def _tenant(self, tenant: str | None) -> _Tenant:
        def build(docs: list[Hit]) -> _Tenant:
            params = fitted(docs, bm25.params_path(self.folder, tenant))
            postings: dict[int, list[tuple[int, float]]] = {}
            for i, doc in enumerate(docs):
                vec = bm25.encode_document(params, doc.text)
                for index, value in zip(vec["indices"], vec["values"]):
                    postings.setdefault(index, []).append((i, value))
            return _Tenant(docs, params, postings)

        return self.built(tenant, build)


def params_folder(index: Any) -> Path:
    """Where an index keeps its BM25 parameters: beside its Chroma files, per collection."""
    return Path(index.path) / "bm25" / index.cfg.collection


def fitted(docs: Sequence[Hit], path: Path) -> bm25.BM25Params:
    """The saved parameters when they were fitted on exactly these chunks, else fitted now and saved."""
    stamp = bm25.fingerprint((d.id, d.text) for d in docs)
    if path.exists():
        params = bm25.load(path)
        if params.fingerprint == stamp:
            return params
    params = bm25.fit((d.text for d in docs), stamp)
    bm25.save(params, path)
    return params


def tenant_params(index: Any, tenant_field: str) -> dict[str, bm25.BM25Params]:
    """Fitted parameters of every tenant in a Chroma index (at ingest, for pinecone-load and for the bundle)."""
    tenants = index.tenants()
    folder = params_folder(index)
    return {t: fitted(index.documents(t), bm25.params_path(folder, t)) for t in tenants}


def fit_at_ingest(index: Any, tenant_field: str) -> None:
    """Fit and save every tenant's parameters of a local index (an index without Chroma files has none to keep)."""
    base = index.inner if isinstance(index, SparseDenseIndex) else index  # a guard passes these attributes through
    if hasattr(base, "collection") and hasattr(base, "path"):
        tenant_params(base, tenant_field)
