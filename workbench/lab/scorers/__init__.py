"""Scorers: one module per family of metric (retrieval, ragas answers, extractive spans, ANN recall, the LLM judge),
and here what each metric declares, as `mlflow.genai` scorers do: the sample fields it reads, its family, and
whether it is a hit (0 or 1 per question). The summary, the paired tests, the gate, the diffs and the plots read
these declarations; none guesses from a column's name or values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Family = Literal["retrieval", "offline", "judged"]


@dataclass(frozen=True)
class Scorer:
    name: str
    family: Family  # retrieval: IR metrics of the ranked ids; offline: ragas and span metrics, no LLM; judged: an LLM's
    needs: tuple[str, ...] = ()  # the sample fields it reads: a question lacking one is not scored (NaN), never 0
    hit: bool = False  # 0 or 1 per question: paired by McNemar's exact test, not Wilcoxon's


_IDS = ("retrieved_context_ids", "reference_context_ids")
_CONTEXTS = ("retrieved_contexts", "reference_contexts")
_ANSWER = ("response", "reference")
_SPANS = ("response", "references")

SCORERS = (
    Scorer("recall_at_k", "retrieval"),
    Scorer("precision_at_k", "retrieval"),
    Scorer("hit_rate_at_k", "retrieval", hit=True),
    Scorer("mrr_at_k", "retrieval"),
    Scorer("ndcg_at_10", "retrieval"),
    Scorer("ann_recall_at_k", "retrieval"),
    Scorer("id_based_context_precision", "offline", _IDS),
    Scorer("id_based_context_recall", "offline", _IDS),
    Scorer("non_llm_context_precision_with_reference", "offline", _CONTEXTS),
    Scorer("non_llm_context_recall", "offline", _CONTEXTS),
    Scorer("non_llm_string_similarity", "offline", _ANSWER),
    Scorer("bleu_score", "offline", _ANSWER),
    Scorer("rouge_score", "offline", _ANSWER),
    Scorer("exact_match", "offline", _ANSWER, hit=True),
    Scorer("semantic_similarity", "offline", _ANSWER),
    Scorer("answer_contains_reference", "offline", _SPANS, hit=True),
    Scorer("token_f1", "offline", _SPANS),
    Scorer("faithfulness", "judged", ("response", "retrieved_contexts")),
    Scorer("answer_relevancy", "judged", ("response",)),
    Scorer("llm_context_precision_with_reference", "judged", ("retrieved_contexts", "reference")),
    Scorer("factual_correctness", "judged", _ANSWER),
)
BY_NAME = {s.name: s for s in SCORERS}


def names(family: Family) -> tuple[str, ...]:
    return tuple(s.name for s in SCORERS if s.family == family)


def is_hit(metric: str) -> bool:
    return metric in BY_NAME and BY_NAME[metric].hit
