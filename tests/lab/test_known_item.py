"""Known-item eval sets from an unlabeled corpus: deterministic for a seed, and useful: on real SQuAD they rank
the points of a top_k x hybrid sweep as the human questions do."""

import json
from collections import Counter

import pytest

from workbench.errors import EvalSetError
from workbench.lab.evalsets import load_evalset
from workbench.lab.known_item import build_known_item_set, rank_agreement


def test_same_seed_same_set_other_seed_other_set(squad_subset, tmp_path) -> None:
    first = build_known_item_set(squad_subset, 30, seed=7)
    assert first.content_hash == build_known_item_set(squad_subset, 30, seed=7).content_hash
    assert first.content_hash != build_known_item_set(squad_subset, 30, seed=8).content_hash
    assert len({c.turns[0].question for c in first.cases}) == 30
    many = build_known_item_set(squad_subset, 64, seed=7).cases  # 32 chunks: each is asked twice
    assert sorted(Counter(c.turns[0].reference_contexts[0] for c in many).values()) == [2] * 32
    paragraphs = {
        f"{a['title']}#{i}": p["context"]
        for a in json.loads(squad_subset.read_text())["data"]
        for i, p in enumerate(a["paragraphs"])
    }
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
def test_generated_queries_rank_a_sweep_as_human_questions_do(squad_subset, workspace, minilm) -> None:
    """Each point retrieves through `Agent.retrieve` (what `evaluate` runs) on one index; only retrieval is scored,
    so the reasoner and the answer metrics are left out to keep the test short."""
    from workbench.config import AgentConfig
    from workbench.embedders.cache import CachedEmbedder
    from workbench.events import Event
    from workbench.ingest.chunking import doc_id_of
    from workbench.lab.evalsets import DatasetSpec, from_squad
    from workbench.lab.evaluate import open_index
    from workbench.lab.scorers.retrieval import ndcg_at_k
    from workbench.loop import Agent

    embedder = CachedEmbedder(minilm, workspace.embedding_cache)
    index, _, _ = open_index(AgentConfig(), DatasetSpec(corpus=squad_subset), workspace, embedder)
    sets = {
        "human": from_squad(squad_subset, "acme", per_paragraph=2),  # 48 questions written by people
        "simulated": build_known_item_set(squad_subset, 48, seed=0),
    }
    scores: dict[str, dict[str, float]] = {"human": {}, "simulated": {}}
    for point in SWEEP:
        agent = Agent.from_config(AgentConfig().with_overrides(point), workspace, embedder=embedder, index=index)
        for side, evalset in sets.items():
            total = 0.0
            for case in evalset.cases:
                turn = case.turns[0]
                event = Event(event_id=case.case_id, tenant=case.tenant, user_id=case.user_id, text=turn.question)
                hits = agent.retrieve(event, embedder.embed([turn.question])[0])
                total += ndcg_at_k(list(dict.fromkeys(doc_id_of(h.id) for h in hits)), turn.relevant, 10)
            scores[side][json.dumps(point)] = total / len(evalset.cases)
    tau = rank_agreement(scores["human"], scores["simulated"])
    print(f"Kendall's tau, {len(SWEEP)} points, nDCG@10 on 48 human vs 48 simulated queries: {tau:.3f}")
    assert tau >= 0.6, scores


def test_the_command_writes_the_same_set_for_a_seed(squad_subset, tmp_path) -> None:
    import subprocess
    import sys

    def build(*args):
        return subprocess.run(
            [sys.executable, "-m", "workbench.cli", "build-evalset", *args],
            capture_output=True,
            text=True,
            env={"WORKBENCH_HOME": str(tmp_path / "ws"), "PATH": "/usr/bin:/bin"},
        )

    for out in ("a.jsonl", "b.jsonl"):
        done = build("--from-corpus", str(squad_subset), "--n", "12", "--seed", "3", "-o", str(tmp_path / out))
        assert done.returncode == 0 and "12 cases" in done.stdout, done.stderr
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    both = build(str(squad_subset), "--from-corpus", str(squad_subset), "-o", str(tmp_path / "c.jsonl"))
    assert both.returncode == 2 and "either SOURCE" in both.stderr and "Traceback" not in both.stderr
    bad = build("--from-corpus", str(squad_subset), "--style", "poetry", "-o", str(tmp_path / "d.jsonl"))
    assert bad.returncode == 2 and "--style 'poetry'" in bad.stderr
