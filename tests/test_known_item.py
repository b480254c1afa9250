"""Known-item eval sets from an unlabeled corpus: deterministic for a seed, and useful: on real SQuAD they rank
the points of a top_k x hybrid sweep as the human questions do."""

import json
from collections import Counter

import pytest

from workbench.evaluation.dataset import EvalSetError, load_evalset
from workbench.evaluation.known_item import build_known_item_set, rank_agreement


def test_same_seed_same_set_other_seed_other_set(squad_subset, tmp_path) -> None:
    first = build_known_item_set(squad_subset, 30, seed=7)
    assert first.content_hash == build_known_item_set(squad_subset, 30, seed=7).content_hash
    assert first.content_hash != build_known_item_set(squad_subset, 30, seed=8).content_hash
    assert len({c.turns[0].question for c in first.cases}) == 30
    many = build_known_item_set(squad_subset, 64, seed=7).cases  # 32 chunks: each is asked twice
    assert sorted(Counter(c.turns[0].reference_contexts[0] for c in many).values()) == [2] * 32
    paragraphs = {f"{a['title']}#{i}": p["context"] for a in json.loads(squad_subset.read_text())["data"]
                  for i, p in enumerate(a["paragraphs"])}
    styles = set()
    for case in first.cases:
        [(doc, grade)] = case.turns[0].relevant.items()
        assert grade == 1 and case.turns[0].reference_contexts[0] in paragraphs[doc]  # the chunk comes from its document
        styles.add(case.case_id.rsplit("-", 1)[1])
    assert styles == {"terms", "sentence"}
    back = load_evalset(first.save(tmp_path / "ki.jsonl"))
    assert back.content_hash == first.content_hash


def test_noise_controls_how_many_query_words_the_item_lacks(squad_subset) -> None:
    def foreign_share(noise: float) -> float:
        cases = build_known_item_set(squad_subset, 40, seed=1, style="terms", noise=noise).cases
        words = [(w, c.turns[0].reference_contexts[0].lower()) for c in cases for w in c.turns[0].question.split()]
        return sum(w not in text for w, text in words) / len(words)

    assert foreign_share(0.0) == 0.0  # every term is the item's own
    assert 0.25 < foreign_share(0.5) < 0.75  # about half drawn from the collection (a few of those the item has too)


def test_bad_requests_say_what_is_possible(squad_subset) -> None:
    with pytest.raises(ValueError, match="n 0: ask for one query or more"):
        build_known_item_set(squad_subset, 0)
    with pytest.raises(EvalSetError, match="no chunk holds 500 or more distinct terms"):
        build_known_item_set(squad_subset, 5, min_terms=500, max_terms=600)
    with pytest.raises(ValueError, match="noise 1.5"):
        build_known_item_set(squad_subset, 5, noise=1.5)


def test_rank_agreement_is_kendalls_tau_b() -> None:
    from scipy.stats import kendalltau

    a = {"p1": 0.1, "p2": 0.4, "p3": 0.4, "p4": 0.9, "p5": 0.2}
    b = {"p1": 0.2, "p2": 0.3, "p3": 0.5, "p4": 0.8, "p5": 0.2}
    points = sorted(a)
    assert rank_agreement(a, b) == pytest.approx(kendalltau([a[p] for p in points], [b[p] for p in points]).statistic)
    assert rank_agreement(a, a) == pytest.approx(1.0)
    assert rank_agreement(a, {k: -v for k, v in a.items()}) == pytest.approx(-1.0)


SWEEP = [{"retrieval.top_k": k, "retrieval.hybrid.enabled": hybrid} for k in (1, 3, 5) for hybrid in (False, True)]


@pytest.mark.model
def test_generated_queries_rank_a_sweep_as_human_questions_do(squad_subset, workspace, minilm, tmp_path) -> None:
    from workbench.config import AgentConfig
    from workbench.embedders.cache import CachedEmbedder
    from workbench.evaluation.dataset import DatasetSpec
    from workbench.evaluation.runner import evaluate

    embedder = CachedEmbedder(minilm, workspace.embedding_cache)
    generated = build_known_item_set(squad_subset, 48, seed=0).save(tmp_path / "known.jsonl")
    human = DatasetSpec(corpus=squad_subset, per_paragraph=2)  # 48 questions written by people
    simulated = DatasetSpec(corpus=squad_subset, evalset=generated)
    scores: dict[str, dict[str, float]] = {"human": {}, "simulated": {}}
    for point in SWEEP:
        cfg = AgentConfig().with_overrides(point)
        for side, spec in (("human", human), ("simulated", simulated)):
            result = evaluate(cfg, spec, workspace, metrics=["id_based_context_recall"], embedder=embedder, progress=False)
            scores[side][json.dumps(point)] = result.metrics["ndcg_at_10"]
    tau = rank_agreement(scores["human"], scores["simulated"])
    print(f"Kendall's tau, {len(SWEEP)} points, nDCG@10 on 48 human vs 48 simulated queries: {tau:.3f}")
    assert tau >= 0.6, scores
