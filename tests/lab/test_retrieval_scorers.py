"""Retrieval metrics: hand-computed cases, then agreement with ranx on random graded runs."""

import math
import random

import pytest
from ranx import Qrels, Run, evaluate

from workbench.lab.scorers.retrieval import hit_rate_at_k, mrr_at_k, ndcg_at_k, precision_at_k, recall_at_k, retrieval_metrics


def test_hand_computed() -> None:
    ranked = ["a", "x", "b", "y"]
    rel = {"a": 2, "b": 1, "c": 1}
    assert precision_at_k(ranked, rel, 4) == 0.5
    assert recall_at_k(ranked, rel, 2) == pytest.approx(1 / 3)
    assert hit_rate_at_k(["x", "y"], rel, 2) == 0.0
    assert mrr_at_k(["x", "b"], rel, 2) == 0.5
    dcg = 2 / math.log2(2) + 1 / math.log2(4)
    idcg = 2 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(ranked, rel, 10) == pytest.approx(dcg / idcg)
    assert retrieval_metrics([], rel, 5) == {
        "recall_at_k": 0,
        "precision_at_k": 0,
        "hit_rate_at_k": 0,
        "mrr_at_k": 0,
        "ndcg_at_10": 0,
    }


def test_agrees_with_ranx() -> None:
    rng = random.Random(7)
    docs = [f"d{i}" for i in range(30)]
    qrels, run = {}, {}
    for q in range(40):
        qrels[f"q{q}"] = {d: rng.randint(1, 3) for d in rng.sample(docs, rng.randint(1, 6))}
        run[f"q{q}"] = {d: 1.0 - i / 100 for i, d in enumerate(rng.sample(docs, 12))}
    for k in (1, 3, 5, 10):
        want = evaluate(Qrels(qrels), Run(run), [f"recall@{k}", f"precision@{k}", f"hit_rate@{k}", f"mrr@{k}", f"ndcg@{k}"])
        ranked = {q: sorted(r, key=r.get, reverse=True) for q, r in run.items()}
        got = {
            f"recall@{k}": sum(recall_at_k(ranked[q], qrels[q], k) for q in qrels) / len(qrels),
            f"precision@{k}": sum(precision_at_k(ranked[q], qrels[q], k) for q in qrels) / len(qrels),
            f"hit_rate@{k}": sum(hit_rate_at_k(ranked[q], qrels[q], k) for q in qrels) / len(qrels),
            f"mrr@{k}": sum(mrr_at_k(ranked[q], qrels[q], k) for q in qrels) / len(qrels),
            f"ndcg@{k}": sum(ndcg_at_k(ranked[q], qrels[q], k) for q in qrels) / len(qrels),
        }
        for name, value in got.items():
            assert value == pytest.approx(want[name], abs=1e-9), name
