"""The offline default reasoner: answers with the retrieved sentences that best answer the question.

Deterministic and grounded by construction: it can only say what the context says, and it cites the
chunk of every sentence it uses. It declines when retrieval found nothing close enough. Sentences are
ranked by `extractive_scoring`; the best `max_sentences` each bring their better neighbour along (a
sentence window) while the answer stays within `max_answer_words`, because an answer often sits in
the sentence next to the one that repeats the question. Sentence vectors come from the chunk's metadata (stored at
ingest), so reasoning embeds only the question, which the loop has just embedded (a cache hit).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from workbench.protocols import Embedder
from workbench.reasoners.extractive_scoring import score_sentences
from workbench.reasoners.sentences import SENTENCE_VECTORS, decode_vectors, split_sentences
from workbench.records import Answer, Hit
from workbench.registry import BuildContext

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

    def reason(self, question: str, prompt: str, hits: Sequence[Hit]) -> Answer:
        if not hits or max(h.score for h in hits) < self.min_score:
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
        fresh = iter(np.asarray(self.embedder.embed([question, *missing]), dtype=np.float32))
        query = next(fresh)
        return candidates, slots, np.vstack([query, *(row if row is not None else next(fresh) for row in rows)])

    def _window(self, candidates: list[_Candidate], slots: dict[tuple[int, int], int], scores: list[float], best: int,
                words: int, taken: set[int]) -> tuple[list[int], int]:
        """The sentence with its better-scoring neighbour in the same hit, if the answer stays within the word budget."""
        centre = candidates[best]
        around = [(slots[(centre.hit, centre.position + step)], step) for step in (-1, 1) if (centre.hit, centre.position + step) in slots]
        for i, step in sorted(around, key=lambda item: -scores[item[0]]):
            added = len(candidates[i].text.split())
            if i not in taken and words + added <= self.max_answer_words:
                return ([i, best] if step < 0 else [best, i]), words + added
        return [best], words


def build(ctx: BuildContext) -> ExtractiveReasoner:
    cfg = ctx.config.reasoner
    return ExtractiveReasoner(ctx.embedder, cfg.max_sentences, cfg.min_score, cfg.max_answer_words)
