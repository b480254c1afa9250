"""ragas metrics per question: the offline set always, the LLM-judged set only when a judge is configured.

Metrics whose inputs a question lacks (a BEIR query has no reference answer) are left empty (NaN),
and LLM metrics without a judge are reported as not run: never as zero.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

import numpy as np

from workbench.protocols import Embedder

OFFLINE = ("id_based_context_precision", "id_based_context_recall", "non_llm_context_precision_with_reference",
           "non_llm_context_recall", "non_llm_string_similarity", "bleu_score", "rouge_score", "exact_match",
           "semantic_similarity")
JUDGED = ("faithfulness", "answer_relevancy", "llm_context_precision_with_reference", "factual_correctness")

# What each metric reads from a sample; a sample missing any of these is not scored by it.
_NEEDS = {
    "id_based_context_precision": ("retrieved_context_ids", "reference_context_ids"),
    "id_based_context_recall": ("retrieved_context_ids", "reference_context_ids"),
    "non_llm_context_precision_with_reference": ("retrieved_contexts", "reference_contexts"),
    "non_llm_context_recall": ("retrieved_contexts", "reference_contexts"),
    "non_llm_string_similarity": ("response", "reference"),
    "bleu_score": ("response", "reference"),
    "rouge_score": ("response", "reference"),
    "exact_match": ("response", "reference"),
    "semantic_similarity": ("response", "reference"),
    "faithfulness": ("response", "retrieved_contexts"),
    "answer_relevancy": ("response",),
    "llm_context_precision_with_reference": ("retrieved_contexts", "reference"),
    "factual_correctness": ("response", "reference"),
}


class UnknownMetricError(ValueError):
    pass


def check_metrics(names: Sequence[str]) -> None:
    unknown = sorted(set(names) - set(OFFLINE) - set(JUDGED))
    if unknown:
        raise UnknownMetricError(f"unknown metric(s) {unknown}; choose from {list(OFFLINE + JUDGED)}")


def make_langchain_embeddings(embedder: Embedder) -> Any:
    """Our embedder (cached) as a LangChain `Embeddings`, so ragas and LangChain reuse it."""
    from langchain_core.embeddings import Embeddings

    class WorkbenchEmbeddings(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return np.asarray(embedder.embed(texts), dtype=float).tolist()

        def embed_query(self, text: str) -> list[float]:
            return self.embed_documents([text])[0]

    return WorkbenchEmbeddings()


def build_metrics(embedder: Embedder, judge: str | None, names: Sequence[str] | None = None) -> dict[str, Any]:
    """Instantiate the chosen ragas metrics; `judge` is "provider:model" for any LangChain chat model."""
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="ragas")
    # ragas posts usage analytics from a thread; offline that stalls each call for seconds. Opt out.
    os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")
    from ragas.embeddings import LangchainEmbeddingsWrapper
    from ragas.metrics import (
        BleuScore,
        ExactMatch,
        IDBasedContextPrecision,
        IDBasedContextRecall,
        NonLLMContextPrecisionWithReference,
        NonLLMContextRecall,
        NonLLMStringSimilarity,
        RougeScore,
        SemanticSimilarity,
    )

    names = list(names or (OFFLINE + (JUDGED if judge else ())))
    check_metrics(names)
    emb = LangchainEmbeddingsWrapper(make_langchain_embeddings(embedder))
    factories: dict[str, Any] = {
        "id_based_context_precision": IDBasedContextPrecision, "id_based_context_recall": IDBasedContextRecall,
        "non_llm_context_precision_with_reference": NonLLMContextPrecisionWithReference,
        "non_llm_context_recall": NonLLMContextRecall, "non_llm_string_similarity": NonLLMStringSimilarity,
        "bleu_score": BleuScore, "rouge_score": RougeScore, "exact_match": ExactMatch,
        "semantic_similarity": lambda: SemanticSimilarity(embeddings=emb),
    }
    if judge:
        factories.update(_judged(judge, emb))
    missing = [n for n in names if n not in factories]
    if missing:
        raise UnknownMetricError(f"metric(s) {missing} need an LLM judge: pass --judge provider:model (e.g. openai:gpt-4o-mini)")
    return {n: factories[n]() for n in names}


def _judged(judge: str, emb: Any) -> dict[str, Any]:
    from langchain.chat_models import init_chat_model
    from ragas.llms import LangchainLLMWrapper
    from ragas.metrics import FactualCorrectness, Faithfulness, LLMContextPrecisionWithReference, ResponseRelevancy

    provider, _, model = judge.partition(":")
    if not model:
        raise ValueError(f"judge {judge!r}: write it as provider:model, e.g. openai:gpt-4o-mini")
    llm = LangchainLLMWrapper(init_chat_model(model, model_provider=provider, temperature=0))
    return {"faithfulness": lambda: Faithfulness(llm=llm),
            "answer_relevancy": lambda: ResponseRelevancy(llm=llm, embeddings=emb),
            "llm_context_precision_with_reference": lambda: LLMContextPrecisionWithReference(llm=llm),
            "factual_correctness": lambda: FactualCorrectness(llm=llm)}


def score_samples(metrics: dict[str, Any], samples: list[dict[str, Any]]) -> list[dict[str, float]]:
    """Score every sample with every metric in one event loop (judge calls then run concurrently).

    Identical samples (the repeats of a deterministic pipeline) are scored once and share the scores."""
    keys = [json.dumps(s, sort_keys=True, default=str) for s in samples]
    unique = dict(zip(keys, samples))
    scored = dict(zip(unique, _score_unique(metrics, list(unique.values()))))
    return [dict(scored[k]) for k in keys]


def _score_unique(metrics: dict[str, Any], samples: list[dict[str, Any]]) -> list[dict[str, float]]:
    from ragas import SingleTurnSample

    async def one(metric: Any, sample: Any) -> float:
        value = await metric.single_turn_ascore(sample)
        return float(value) if value is not None and not math.isnan(value) else math.nan

    async def all_scores() -> list[dict[str, float]]:
        jobs, slots = [], []
        for row, sample in enumerate(samples):
            ragas_sample = SingleTurnSample(**{k: v for k, v in sample.items() if v not in (None, [], "")})
            for name, metric in metrics.items():
                if all(sample.get(f) not in (None, [], "") for f in _NEEDS[name]):
                    jobs.append(one(metric, ragas_sample))
                    slots.append((row, name))
        out = [{name: math.nan for name in metrics} for _ in samples]
        for (row, name), value in zip(slots, await asyncio.gather(*jobs)):
            out[row][name] = value
        return out

    return _run(all_scores())


def _run(coro: Any) -> Any:
    """asyncio.run, also from inside a running loop (Jupyter, papermill): then in a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()
