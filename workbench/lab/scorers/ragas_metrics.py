"""Answer metrics per question: the offline set always, the LLM-judged set only when a judge is configured.

Offline: ragas's non-LLM metrics, plus the two that fit extractive answers (`span_metrics`): whether the
answer contains a reference, and SQuAD token F1, both over every reference answer. Metrics whose inputs a
question lacks (a BEIR query has no reference answer) are left empty (NaN), and LLM metrics without a judge
are reported as not run: never as zero. A judged score that fails (unparseable output, a timeout, no score)
is NaN in its row and counted in `<metric>_failed` (see `judge.py`), never silently.

An offline metric is a function of the fields it declares (`scorers.Scorer.needs`) and, for semantic similarity, of
the embedder: its score is kept in this process, per workspace like the workspace's caches (`_OFFLINE_SCORES`), and
not computed again for the same inputs. The points of a sweep, the trials of a search and the repeats of an
evaluation mostly give answers and rankings seen before: they are scored once.
"""

from __future__ import annotations

import asyncio
import functools
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
_OFFLINE_SCORES: dict[str, dict[tuple[str, ...], float]] = {}  # workspace -> (embedder, metric, inputs as JSON) -> score
_KEPT_SCORES = 500_000  # ~100 MB of keys at most per workspace; then its memo starts again


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


def score_samples(
    metrics: dict[str, Any], samples: list[dict[str, Any]], embedder_id: str, workspace: str
) -> list[dict[str, Any]]:
    """Score every sample with every metric. Offline scores seen before in this process and `workspace`, for the same
    inputs with the same embedder (`embedder_id`), are reused; the rest are computed in one event loop, where judge
    calls run concurrently, a few at a time, and identical samples (repeats) ask the judge once.

    Each row holds a value per metric, and for each judged metric `<name>_failed` (1 failed, 0 scored, NaN not
    applicable), with the judge's errors in `judge_errors`."""
    from ragas import SingleTurnSample

    from workbench.lab.scorers.judge import JUDGE_CONCURRENCY, judged_score

    judged = [name for name in metrics if name in JUDGED]
    known = _OFFLINE_SCORES.setdefault(workspace, {})
    out: list[dict[str, Any]] = [
        {
            **{name: math.nan for name in metrics},
            **{f"{name}_failed": math.nan for name in judged},
            **({"judge_errors": ""} if judged else {}),
        }
        for _ in samples
    ]
    todo: dict[tuple[str, ...], list[tuple[int, str]]] = {}  # an offline score to compute -> the cells it fills
    asks: dict[tuple[str, ...], list[tuple[int, str]]] = {}  # a judged score -> its cells (repeats ask once)
    for row, sample in enumerate(samples):
        for name in metrics:
            needs = BY_NAME[name].needs
            if any(sample.get(f) in (None, [], "") for f in needs):
                continue
            if name in JUDGED:  # a judge's prompt may read more than the fields it needs (the question)
                asks.setdefault((name, json.dumps(sample, sort_keys=True, default=str)), []).append((row, name))
                continue
            key = (embedder_id, name, json.dumps([sample[f] for f in needs], default=str))
            if key in known:
                out[row][name] = known[key]
            else:
                todo.setdefault(key, []).append((row, name))
    semantic = [samples[cells[0][0]] for key, cells in todo.items() if key[1] == "semantic_similarity"]
    _embed_in_one_batch(metrics.get("semantic_similarity"), semantic)

    @functools.cache  # one per sample, whichever of its metrics are computed
    def ragas_sample(row: int) -> Any:
        return SingleTurnSample(**{k: v for k, v in samples[row].items() if k != "references" and v not in (None, [], "")})

    async def offline(name: str, row: int) -> float:
        metric = metrics[name]
        if isinstance(metric, SpanMetric):
            return metric.score(samples[row]["response"], samples[row]["references"])
        value = await metric.single_turn_ascore(ragas_sample(row))
        return float(value) if value is not None and not math.isnan(value) else math.nan

    async def all_scores() -> tuple[list[float], list[tuple[float, str | None]]]:
        gate = asyncio.Semaphore(JUDGE_CONCURRENCY)
        computed = asyncio.gather(*(offline(cells[0][1], cells[0][0]) for cells in todo.values()))
        judging = asyncio.gather(*(judged_score(metrics[c[0][1]], ragas_sample(c[0][0]), gate) for c in asks.values()))
        return await computed, await judging

    computed, judgements = _run(all_scores()) if todo or asks else ([], [])
    if len(known) + len(todo) > _KEPT_SCORES:
        known.clear()
    for (key, cells), value in zip(todo.items(), computed):
        known[key] = value
        for row, name in cells:
            out[row][name] = value
    for cells, (value, error) in zip(asks.values(), judgements):
        for row, name in cells:
            out[row][name] = value
            out[row][f"{name}_failed"] = float(error is not None)
            if error:
                out[row]["judge_errors"] = "; ".join(filter(None, [out[row]["judge_errors"], f"{name}: {error}"]))
    return out


def _embed_in_one_batch(metric: Any, samples: list[dict[str, Any]]) -> None:
    """Put the texts semantic similarity will embed one at a time (ragas's way) into the embedding cache in one batch:
    a model call per text costs several times its share of a batch."""
    if metric is None or not samples:
        return
    texts = list(dict.fromkeys(t for s in samples for t in (s["reference"] or " ", s["response"] or " ")))
    metric.embeddings.embed_documents(texts)


def _run(coro: Any) -> Any:
    """asyncio.run, also from inside a running loop (Jupyter, papermill): then in a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()
