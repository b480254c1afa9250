"""The offline default reasoner: answers with the retrieved sentences closest to the question.

Deterministic and grounded by construction: it can only say what the context says, and it
cites the chunk of every sentence it uses. It declines when retrieval found nothing close enough.
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np

from workbench.protocols import Embedder
from workbench.records import Answer, Hit
from workbench.registry import BuildContext

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[A-Z0-9])")
DECLINE = "I don't know: nothing in the knowledge base matches this question closely enough."


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


class ExtractiveReasoner:
    def __init__(self, embedder: Embedder, max_sentences: int = 1, min_score: float = 0.2) -> None:
        self.embedder, self.max_sentences, self.min_score = embedder, max_sentences, min_score

    def reason(self, question: str, prompt: str, hits: Sequence[Hit]) -> Answer:
        if not hits or max(h.score for h in hits) < self.min_score:
            return Answer(DECLINE, declined=True)
        candidates = [(hit.id, s) for hit in hits for s in split_sentences(hit.text)]
        vectors = np.asarray(self.embedder.embed([question] + [s for _, s in candidates]), dtype=np.float32)
        similarity = vectors[1:] @ vectors[0]
        best = sorted(range(len(candidates)), key=lambda i: (-float(similarity[i]), i))[: self.max_sentences]
        chosen = [candidates[i] for i in best]
        citations = tuple(dict.fromkeys(cid for cid, _ in chosen))
        return Answer(" ".join(s for _, s in chosen), citations)


def build(ctx: BuildContext) -> ExtractiveReasoner:
    cfg = ctx.config.reasoner
    return ExtractiveReasoner(ctx.embedder, cfg.max_sentences, cfg.min_score)
