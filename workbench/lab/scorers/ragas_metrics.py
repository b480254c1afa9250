"""Answer metrics per question: the offline set always, the LLM-judged set only when a judge is configured.

Offline: ragas's non-LLM metrics, plus the two that fit extractive answers (`span_metrics`): whether the
answer contains a reference, and SQuAD token F1, both over every reference answer. Metrics whose inputs a
question lacks (a BEIR query has no reference answer) are left empty (NaN), and LLM metrics without a judge
are reported as not run: never as zero. A judged score that fails (unparseable output, a timeout, no score)
is NaN in its row and counted in `<metric>_failed` (see `judge.py`), never silently.
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

from workbench.errors import UnknownMetricError
from workbench.lab.scorers import BY_NAME, names
from workbench.protocols import Embedder

OFFLINE = names("offline")
JUDGED = names("judged")


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


class SpanMetric:
    """An offline metric of `span_metrics`, scored against every reference answer of the question."""

    def __init__(self, score: Any) -> None:
        self.score = score


def build_metrics(
    embedder: Embedder, judge: str | None, names: Sequence[str] | None = None, judge_cache: Any = None
) -> dict[str, Any]:
    """Instantiate the chosen metrics; `judge` is "provider:model" for any LangChain chat model, its answers
    kept in `judge_cache` (see `judge.judge_cache`)."""
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

    from workbench.lab.scorers.judge import judged_factories
    from workbench.lab.scorers.span_metrics import contains_reference, token_f1

    names = list(names or (OFFLINE + (JUDGED if judge else ())))
    check_metrics(names)
    emb = LangchainEmbeddingsWrapper(make_langchain_embeddings(embedder))
    factories: dict[str, Any] = {
        "id_based_context_precision": IDBasedContextPrecision,
        "id_based_context_recall": IDBasedContextRecall,
        "non_llm_context_precision_with_reference": NonLLMContextPrecisionWithReference,
        "non_llm_context_recall": NonLLMContextRecall,
        "non_llm_string_similarity": NonLLMStringSimilarity,
        "bleu_score": BleuScore,
        "rouge_score": RougeScore,
        "exact_match": ExactMatch,
        "semantic_similarity": lambda: SemanticSimilarity(embeddings=emb),
        "answer_contains_reference": lambda: SpanMetric(contains_reference),
        "token_f1": lambda: SpanMetric(token_f1),
    }
    if judge:
        factories.update(judged_factories(judge, emb, judge_cache))
    missing = [n for n in names if n not in factories]
    if missing:
        raise UnknownMetricError(f"metric(s) {missing} need an LLM judge: pass --judge provider:model (e.g. openai:gpt-4o-mini)")
    return {n: factories[n]() for n in names}


def score_samples(metrics: dict[str, Any], samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Score every sample with every metric; identical samples (the repeats of a deterministic pipeline) are scored
    once and share the scores."""
    keys = [json.dumps(s, sort_keys=True, default=str) for s in samples]
    unique = dict(zip(keys, samples))
    scored = dict(zip(unique, _score_unique(metrics, list(unique.values()))))
    return [dict(scored[k]) for k in keys]


def _score_unique(metrics: dict[str, Any], samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Score every sample with every metric in one event loop (judge calls then run concurrently, a few at a time).

    Each row holds a value per metric, and for each judged metric `<name>_failed` (1 failed, 0 scored, NaN not
    applicable), with the judge's errors in `judge_errors`."""
    from ragas import SingleTurnSample

    from workbench.lab.scorers.judge import JUDGE_CONCURRENCY, judged_score

    judged = [name for name in metrics if name in JUDGED]

    async def one(name: str, sample: dict[str, Any], ragas_sample: Any, gate: asyncio.Semaphore) -> tuple[float, str | None]:
        metric = metrics[name]
        if isinstance(metric, SpanMetric):
            return metric.score(sample["response"], sample["references"]), None
        if name in JUDGED:
            return await judged_score(metric, ragas_sample, gate)
        value = await metric.single_turn_ascore(ragas_sample)
        return (float(value) if value is not None and not math.isnan(value) else math.nan), None

    async def all_scores() -> list[dict[str, Any]]:
        gate = asyncio.Semaphore(JUDGE_CONCURRENCY)
        jobs, slots = [], []
        for row, sample in enumerate(samples):
            ragas_sample = SingleTurnSample(**{k: v for k, v in sample.items() if k != "references" and v not in (None, [], "")})
            for name in metrics:
                if all(sample.get(f) not in (None, [], "") for f in BY_NAME[name].needs):
                    jobs.append(one(name, sample, ragas_sample, gate))
                    slots.append((row, name))
        out: list[dict[str, Any]] = [
            {
                **{name: math.nan for name in metrics},
                **{f"{name}_failed": math.nan for name in judged},
                **({"judge_errors": ""} if judged else {}),
            }
            for _ in samples
        ]
        for (row, name), (value, error) in zip(slots, await asyncio.gather(*jobs)):
            out[row][name] = value
            if name in JUDGED:
                out[row][f"{name}_failed"] = float(error is not None)
                if error:
                    out[row]["judge_errors"] = "; ".join(filter(None, [out[row]["judge_errors"], f"{name}: {error}"]))
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
