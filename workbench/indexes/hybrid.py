"""Hybrid retrieval: BM25 keyword scores (bm25s) fused with the vector results, per tenant (local exploration).

Fusion by reciprocal rank (`rrf`: sum of 1 / (rrf_k + rank)) or by weighted score (`weighted`: weight x
cosine + (1 - weight) x BM25 normalised to [0, 1] over the candidates). An optional exact keyword (the
event's `metadata.keyword`) keeps only chunks that contain it. The BM25 index of a tenant is built from the
vector index's own chunks on first use and rebuilt after an upsert.

The fused score decides the order and is kept in `metadata["fusion_score"]`; `Hit.score` stays the cosine
similarity (0 for a keyword-only hit), because thresholds downstream (the reasoner's `min_score`) speak cosine.
The exportable hybrid mode is `sparse_dense` (workbench/indexes/sparse_dense.py); `with_hybrid` picks the wrapper.
"""

from __future__ import annotations

from typing import Any, Sequence

from workbench import indexes
from workbench.config import HybridConfig
from workbench.filters import matches
from workbench.protocols import VectorIndex
from workbench.types import Hit


def with_hybrid(index: Any, cfg: HybridConfig) -> Any:
    """The index wrapped for the configured hybrid method; an index that scores sparse-dense itself (Pinecone) is kept."""
    if isinstance(index, HybridIndex) or getattr(index, "serves_sparse_dense", False):
        return index
    if cfg.method == "sparse_dense":
        from workbench.indexes.sparse_dense import SparseDenseIndex

        return index if isinstance(index, SparseDenseIndex) else SparseDenseIndex(index, cfg)
    return HybridIndex(index, cfg)


class HybridIndex(indexes.PerTenantWrapper):
    def __init__(self, inner: VectorIndex, cfg: HybridConfig) -> None:
        super().__init__(inner)
        self.cfg = cfg

    def query_many(
        self,
        vectors: Sequence[Sequence[float]],
        top_k: int,
        tenant: str | None,
        filter: dict[str, Any] | None = None,
        texts: Sequence[str] | None = None,
        keywords: Sequence[str | None] | None = None,
    ) -> list[list[Hit]]:
        """`query` for each vector of a batch: the dense candidates of all in one multi-query, then fusion per vector."""
        n = max(self.cfg.candidates, top_k)
        texts, keywords = texts or [""] * len(vectors), keywords or [None] * len(vectors)
        return [
            self._ranked(dense, text, keyword, n, tenant, filter)[:top_k]
            for dense, text, keyword in zip(indexes.query_many(self.inner, vectors, n, tenant, filter), texts, keywords)
        ]

    def _ranked(
        self, dense: list[Hit], text: str, keyword: str | None, n: int, tenant: str | None, flt: dict[str, Any] | None
    ) -> list[Hit]:
        fused = self._fuse(dense, self._keyword_hits(text, n, tenant, flt) if text else [])
        return [h for h in fused if keyword.lower() in h.text.lower()] if keyword else fused

    def _keyword_hits(self, text: str, n: int, tenant: str | None, flt: dict[str, Any] | None) -> list[Hit]:
        import bm25s

        model, chunks = self._index_for(tenant)
        if not chunks:
            return []
        ids, scores = model.retrieve(
            bm25s.tokenize([text], stopwords="en", show_progress=False), k=len(chunks), show_progress=False
        )
        hits = [Hit(chunks[i].id, float(s), chunks[i].text, chunks[i].metadata) for i, s in zip(ids[0], scores[0]) if s > 0]
        return [h for h in hits if matches(flt, h.metadata)][:n]

    def _index_for(self, tenant: str | None) -> tuple[Any, list[Hit]]:
        return self.built(tenant, _bm25_of)

    def _fuse(self, dense: list[Hit], sparse: list[Hit]) -> list[Hit]:
        by_id = {h.id: h for h in [*sparse, *dense]}
        if self.cfg.method == "rrf":
            score: dict[str, float] = {}
            for ranked in (dense, sparse):
                for rank, h in enumerate(ranked, 1):
                    score[h.id] = score.get(h.id, 0.0) + 1.0 / (self.cfg.rrf_k + rank)
        else:
            top = max((h.score for h in sparse), default=0.0) or 1.0
            keyword = {h.id: h.score / top for h in sparse}
            vector = {h.id: h.score for h in dense}
            score = {i: self.cfg.weight * vector.get(i, 0.0) + (1 - self.cfg.weight) * keyword.get(i, 0.0) for i in by_id}
        cosine = {h.id: h.score for h in dense}
        order = sorted(score, key=lambda i: (-score[i], i))
        return [
            Hit(i, cosine.get(i, 0.0), by_id[i].text, {**by_id[i].metadata, "fusion_score": round(float(score[i]), 6)})
            for i in order
        ]


def _bm25_of(chunks: list[Hit]) -> tuple[Any, list[Hit]]:
    import bm25s

    model = bm25s.BM25()
    if chunks:
        model.index(bm25s.tokenize([c.text for c in chunks], stopwords="en", show_progress=False), show_progress=False)
    return model, chunks
