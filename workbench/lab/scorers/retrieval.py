"""Classic IR metrics over graded relevance (checked against ranx in the tests).

`ranked` is the retrieved doc ids, best first; `relevant` maps doc id to a grade (> 0 is relevant).
nDCG uses linear gain (grade / log2(rank + 1)), as ranx's `ndcg` does.
"""

from __future__ import annotations

import math
from typing import Sequence


def precision_at_k(ranked: Sequence[str], relevant: dict[str, int], k: int) -> float:
    return sum(1 for d in ranked[:k] if relevant.get(d, 0) > 0) / k


def recall_at_k(ranked: Sequence[str], relevant: dict[str, int], k: int) -> float:
    total = sum(1 for g in relevant.values() if g > 0)
    return sum(1 for d in ranked[:k] if relevant.get(d, 0) > 0) / total if total else 0.0


def hit_rate_at_k(ranked: Sequence[str], relevant: dict[str, int], k: int) -> float:
    return float(any(relevant.get(d, 0) > 0 for d in ranked[:k]))


def mrr_at_k(ranked: Sequence[str], relevant: dict[str, int], k: int) -> float:
    return next((1.0 / rank for rank, d in enumerate(ranked[:k], 1) if relevant.get(d, 0) > 0), 0.0)


def ndcg_at_k(ranked: Sequence[str], relevant: dict[str, int], k: int = 10) -> float:
    dcg = sum(relevant.get(d, 0) / math.log2(rank + 1) for rank, d in enumerate(ranked[:k], 1))
    ideal = sorted((g for g in relevant.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(rank + 1) for rank, g in enumerate(ideal, 1))
    return dcg / idcg if idcg else 0.0


def retrieval_metrics(ranked: Sequence[str], relevant: dict[str, int], k: int) -> dict[str, float]:
    """One question's retrieval row at the pipeline's own top_k (so points of a top_k sweep compare), nDCG at 10."""
    return {
        "recall_at_k": recall_at_k(ranked, relevant, k),
        "precision_at_k": precision_at_k(ranked, relevant, k),
        "hit_rate_at_k": hit_rate_at_k(ranked, relevant, k),
        "mrr_at_k": mrr_at_k(ranked, relevant, k),
        "ndcg_at_10": ndcg_at_k(ranked, relevant, 10),
    }
