"""Answer metrics that fit extractive answers: does the answer contain a reference, and token-level F1.

A sentence that holds the gold span scores 0 on exact match and little on ROUGE against a two-word
reference, though a reader finds the answer in it. These two measure that, over every acceptable
reference (SQuAD gives several), with the normalisation of the official SQuAD v1.1 script: lower
case, punctuation and the articles a/an/the removed, whitespace collapsed.

`answer_contains_reference` is ragas's `StringPresence` on normalised text and over all references
(ragas compares the first reference only, case and punctuation included). `token_f1` is SQuAD's F1.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from typing import Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD v1.1's `normalize_answer`: lower, no punctuation, no articles, single spaces."""
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION)).split())


def answer_tokens(text: str) -> list[str]:
    """The tokens F1 counts; also the unit of answer length in the benchmarks."""
    return normalize_answer(text).split()


def contains_reference(response: str, references: Sequence[str]) -> float:
    """1.0 when some normalised reference occurs in the normalised response as whole tokens, else 0.0."""
    padded = f" {normalize_answer(response)} "
    return float(any(ref and f" {ref} " in padded for ref in map(normalize_answer, references)))


def token_f1(response: str, references: Sequence[str]) -> float:
    """The best SQuAD token F1 of the response against any reference (0.0 with no token in common)."""
    said = answer_tokens(response)
    return max((_f1(said, answer_tokens(ref)) for ref in references), default=0.0)


def _f1(said: list[str], gold: list[str]) -> float:
    common = sum((Counter(said) & Counter(gold)).values())
    if not common:
        return 0.0
    precision, recall = common / len(said), common / len(gold)
    return 2 * precision * recall / (precision + recall)
