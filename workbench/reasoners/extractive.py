"""The offline default reasoner: answers with the retrieved sentences closest to the question.

Deterministic and grounded by construction: it can only say what the context says, and it
cites the chunk of every sentence it uses. It declines when retrieval found nothing close enough.
"""

from __future__ import annotations

import re
import threading
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

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
        self._held: dict[int, dict[str, Any]] = {}  # vectors embedded ahead for the batches in progress (`prefetch`)
        self._lock = threading.Lock()

    def reason(self, question: str, prompt: str, hits: Sequence[Hit]) -> Answer:
        texts = self.texts(question, hits)
        if not texts:
            return Answer(DECLINE, declined=True)
        candidates = [(hit.id, s) for hit in hits for s in split_sentences(hit.text)]
        vectors = np.asarray(self._embed(texts), dtype=np.float32)
        similarity = vectors[1:] @ vectors[0]
        best = sorted(range(len(candidates)), key=lambda i: (-float(similarity[i]), i))[: self.max_sentences]
        chosen = [candidates[i] for i in best]
        citations = tuple(dict.fromkeys(cid for cid, _ in chosen))
        return Answer(" ".join(s for _, s in chosen), citations)

    def texts(self, question: str, hits: Sequence[Hit]) -> list[str]:
        """What `reason` embeds: the question, then every sentence of the hits; nothing when it declines."""
        if not hits or max(h.score for h in hits) < self.min_score:
            return []
        return [question] + [s for hit in hits for s in split_sentences(hit.text)]

    @contextmanager
    def prefetch(self, batch: Sequence[tuple[str, Sequence[Hit]]]) -> Iterator[None]:
        """Embed in one call what `reason` will embed for each (question, hits) of a batch, and serve it until the
        block ends: one model call per batch instead of one per event. A vector depends on its text alone, so
        concurrent batches may share what is held."""
        wanted = list(dict.fromkeys(t for question, hits in batch for t in self.texts(question, hits)))
        vectors = dict(zip(wanted, self.embedder.embed(wanted) if wanted else []))
        with self._lock:
            self._held[id(vectors)] = vectors
        try:
            yield
        finally:
            with self._lock:
                del self._held[id(vectors)]

    def _embed(self, texts: list[str]) -> list[Any]:
        """The held vector of each text, the model's for the others (each distinct text once)."""
        with self._lock:
            held = list(self._held.values())
        found: dict[str, Any] = {}
        for vectors in held:
            found.update((t, vectors[t]) for t in texts if t in vectors)
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        if missing:
            found.update(zip(missing, self.embedder.embed(missing)))
        return [found[t] for t in texts]


def build(ctx: BuildContext) -> ExtractiveReasoner:
    cfg = ctx.config.reasoner
    return ExtractiveReasoner(ctx.embedder, cfg.max_sentences, cfg.min_score)
