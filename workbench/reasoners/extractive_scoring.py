"""How the extractive reasoner ranks candidate sentences: meaning, shared rare words, retrieval and question type.

The weights were chosen on the first half of SQuAD v1.1 dev and checked on the other half
(benchmarks/extractive_answers.py, docs/benchmarks.md). Each feature answers a failure of ranking by
cosine alone: a sentence close in meaning to the question but from a worse passage (retrieval score),
a paraphrase that loses the question's rare words (overlap), "how many" answered without a number
(question type), and half sentences cut at a chunk boundary (fragment).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Sequence

WEIGHTS = {"cosine": 1.0, "overlap": 1.0, "retrieval": 0.5, "answer_type": 0.1, "fragment": -0.1}

_KINDS = (
    ("number", re.compile(r"\bhow (many|much|long|far|old|large|big|tall|high|deep|wide)\b|\bwhat (percentage|number|amount)\b")),
    ("time", re.compile(r"\bwhen\b|\b(what|which) (year|decade|century|date|month|day)\b")),
    ("entity", re.compile(r"\bwho\b|\bwhom\b|\bwhose\b|\bwhere\b")),
)
_NUMBER = re.compile(
    r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|"
    r"hundred|thousand|million|billion|dozen)\b",
    re.IGNORECASE,
)
_TIME = re.compile(
    r"\b(1\d{3}|20\d{2})\b|\b(january|february|march|april|may|june|july|august|september|october|"
    r"november|december|century|decade)\b",
    re.IGNORECASE,
)
_NAME = re.compile(r"(?<=\S )[A-Z][\w'-]+")  # a capitalised word that does not open the sentence
_WHOLE = re.compile(r"^[\"'(\[]?[A-Z0-9].*[.!?][\"')\]]?$", re.DOTALL)


def question_kind(question: str) -> str:
    """number, time, entity (who/where) or other: what kind of words the answer must contain."""
    lowered = question.lower()
    return next((kind for kind, pattern in _KINDS if pattern.search(lowered)), "other")


def answer_type_match(kind: str, sentence: str, question_words: set[str]) -> float:
    if kind == "number":
        return float(bool(_NUMBER.search(sentence)))
    if kind == "time":
        return float(bool(_TIME.search(sentence)))
    if kind == "entity":
        return float(any(w.lower() not in question_words for w in _NAME.findall(sentence)))
    return 0.0


def score_sentences(question: str, sentences: Sequence[str], cosines: Sequence[float], retrieval: Sequence[float]) -> list[float]:
    """One score per sentence; `cosines` to the question and the `retrieval` score of the hit each came from.

    Overlap is the share of the question's stemmed terms, weighted by their rarity among these candidates,
    that the sentence contains: the rare words of a question are the ones its answer sentence repeats."""
    from workbench.indexes.sparse.bm25 import tokenize

    terms = [set(tokenize(s)) for s in sentences]
    asked = set(tokenize(question))
    frequency = Counter(t for ts in terms for t in ts if t in asked)
    rarity = {t: math.log((len(sentences) + 1) / (frequency[t] + 0.5)) for t in asked}
    total = sum(rarity.values()) or 1.0
    kind = question_kind(question)
    question_words = {w.lower() for w in re.findall(r"\w+", question)}
    w = WEIGHTS
    return [
        w["cosine"] * cos
        + w["overlap"] * sum(rarity[t] for t in asked & ts) / total
        + w["retrieval"] * ret
        + w["answer_type"] * answer_type_match(kind, s, question_words)
        + w["fragment"] * (not _WHOLE.match(s.strip()))
        for s, ts, cos, ret in zip(sentences, terms, cosines, retrieval)
    ]
