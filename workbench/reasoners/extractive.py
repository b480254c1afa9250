"""The offline default reasoner: answers with the retrieved sentences that best answer the question.

Deterministic and grounded by construction: it can only say what the context says, and it cites the
chunk of every sentence it uses. It declines when retrieval found nothing close enough. Sentences are
ranked by `extractive_scoring`; the best `max_sentences` each bring their better neighbour along (a
sentence window) while the answer stays within `max_answer_words`, because an answer often sits in
the sentence next to the one that repeats the question. Sentence vectors come from the chunk's metadata (stored at
ingest), so reasoning embeds only the question, which the loop has just embedded (a cache hit), and, in a batch
(`prefetch`), everything of the batch's events in one call.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np

from workbench.protocols import Embedder
from workbench.reasoners.extractive_scoring import score_sentences
from workbench.reasoners.sentences import SENTENCE_VECTORS, decode_vectors, split_sentences
from workbench.registry import BuildContext
from workbench.types import Answer, Hit

DECLINE = "I don't know: nothing in the knowledge base matches this question closely enough."


@dataclass(frozen=True)
class _Candidate:
    hit: int  # rank of the hit it came from
    position: int  # sentence number within that hit
    text: str


class ExtractiveReasoner:
    def __init__(self, embedder: Embedder, max_sentences: int = 1, min_score: float = 0.2, max_answer_words: int = 50) -> None:
        self.embedder, self.max_sentences, self.min_score = embedder, max_sentences, min_score
        self.max_answer_words = max_answer_words
        self.embedded_sentences = 0  # sentences that had no stored vector; benchmarks and tests read it
        self._held: dict[int, dict[str, Any]] = {}  # vectors embedded ahead for the batches in progress (`prefetch`)
        self._lock = threading.Lock()

    def reason(self, question: str, prompt: str, hits: Sequence[Hit]) -> Answer:
        if self._declines(hits):
            return Answer(DECLINE, declined=True)
        candidates, slots, vectors = self._candidates(question, hits)
        if not candidates:  # hits with no text to quote
            return Answer(DECLINE, declined=True)
        cosines = vectors[1:] @ vectors[0]
        scores = score_sentences(question, [c.text for c in candidates], cosines, [hits[c.hit].score for c in candidates])
        best = sorted(range(len(candidates)), key=lambda i: (-scores[i], i))[: self.max_sentences]
        words = sum(len(candidates[i].text.split()) for i in best)
        windows = []
        for i in best:
            window, words = self._window(candidates, slots, scores, i, words, taken={*best, *(j for w in windows for j in w)})
            windows.append(window)
        chosen = [candidates[i] for window in windows for i in window]
        citations = tuple(dict.fromkeys(hits[c.hit].id for c in chosen))
        return Answer(" ".join(c.text for c in chosen), citations)

    def _candidates(self, question: str, hits: Sequence[Hit]) -> tuple[list[_Candidate], dict[tuple[int, int], int], np.ndarray]:
        """Every distinct sentence of the hits (overlapping chunks repeat some), where each (hit, position) finds
        its sentence, and the vectors: the question's first, then one row per candidate."""
        candidates: list[_Candidate] = []
        slots: dict[tuple[int, int], int] = {}
        first: dict[str, int] = {}
        rows: list[np.ndarray | None] = []
        for rank, hit in enumerate(hits):
            sentences = split_sentences(hit.text)
            blob = hit.metadata.get(SENTENCE_VECTORS)
            stored = decode_vectors(blob, len(sentences), self.embedder.dimension) if isinstance(blob, str) else None
            for position, sentence in enumerate(sentences):
                if sentence not in first:
                    first[sentence] = len(candidates)
                    candidates.append(_Candidate(rank, position, sentence))
                    rows.append(stored[position] if stored is not None else None)
                slots[(rank, position)] = first[sentence]
        missing = [c.text for c, row in zip(candidates, rows) if row is None]
        self.embedded_sentences += len(missing)
        fresh = iter(np.asarray(self._embed([question, *missing]), dtype=np.float32))
        query = next(fresh)
        return candidates, slots, np.vstack([query, *(row if row is not None else next(fresh) for row in rows)])

    def _window(
        self,
        candidates: list[_Candidate],
        slots: dict[tuple[int, int], int],
        scores: list[float],
        best: int,
        words: int,
        taken: set[int],
    ) -> tuple[list[int], int]:
        """The sentence with its better-scoring neighbour in the same hit, if the answer stays within the word budget."""
        centre = candidates[best]
        around = [
            (slots[(centre.hit, centre.position + step)], step)
            for step in (-1, 1)
            if (centre.hit, centre.position + step) in slots
        ]
        for i, step in sorted(around, key=lambda item: -scores[item[0]]):
            added = len(candidates[i].text.split())
            if i not in taken and words + added <= self.max_answer_words:
                return ([i, best] if step < 0 else [best, i]), words + added
        return [best], words

    def _declines(self, hits: Sequence[Hit]) -> bool:
        return not hits or max(h.score for h in hits) < self.min_score

    def texts(self, question: str, hits: Sequence[Hit]) -> list[str]:
        """What `reason` embeds: the question, then the sentences of the hits with no stored vector; nothing when it declines."""
        if self._declines(hits):
            return []
        missing = []
        for hit in hits:
            sentences = split_sentences(hit.text)
            blob = hit.metadata.get(SENTENCE_VECTORS)
            if not isinstance(blob, str) or decode_vectors(blob, len(sentences), self.embedder.dimension) is None:
                missing += sentences
        return [question, *missing]

    @contextmanager
    def prefetch(self, batch: Sequence[tuple[str, Sequence[Hit]]], known: dict[str, Any] | None = None) -> Iterator[None]:
        """Embed in one call what `reason` will embed for each (question, hits) of a batch, beyond the `known`
        vectors (the batch's questions), and serve it until the block ends: at most one model call per batch instead
        of one per event. A vector depends on its text alone, so concurrent batches may share what is held."""
        known = known or {}
        wanted = list(dict.fromkeys(t for question, hits in batch for t in self.texts(question, hits)))
        fresh = [t for t in wanted if t not in known]
        vectors = {**{t: known[t] for t in wanted if t in known}, **dict(zip(fresh, self.embedder.embed(fresh) if fresh else []))}
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
    cfg = ctx.own("reasoner")
    return ExtractiveReasoner(ctx.embedder, cfg.max_sentences, cfg.min_score, cfg.max_answer_words)
