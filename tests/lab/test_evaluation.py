"""An evaluation of the real default pipeline on real SQuAD paragraphs, logged to a temporary MLflow store."""

import mlflow
import pytest

from workbench.config import AgentConfig
from workbench.errors import UnknownMetricError
from workbench.lab import tracking
from workbench.lab.evalsets import DatasetSpec
from workbench.lab.evaluate import evaluate
from workbench.lab.scorers.ragas_metrics import JUDGED, OFFLINE, build_metrics
from workbench.lab.scorers.span_metrics import contains_reference

pytestmark = pytest.mark.model


@pytest.fixture
def cached_minilm(minilm, workspace):
    from workbench.embedders.cache import CachedEmbedder

    return CachedEmbedder(minilm, workspace.embedding_cache)


def test_evaluation_is_logged_and_reads_back(squad_subset, workspace, cached_minilm) -> None:
    cfg = AgentConfig(name="eval-test")
    spec = DatasetSpec(corpus=squad_subset, limit=12)
    experiment_id = tracking.connect(workspace)
    result = evaluate(cfg, spec, workspace, embedder=cached_minilm, progress=False)

    table = result.table
    assert len(table) == 12 and set(OFFLINE) <= set(table.columns)
    assert table["hit_rate_at_k"].mean() >= 0.75  # MiniLM finds most SQuAD paragraphs in the top 5
    first = table.iloc[0]
    assert first["question"] == "Which NFL team represented the AFC at Super Bowl 50?"
    assert first["relevant"] == ["Super_Bowl_50#0"] and first["retrieved"][0] == "Super_Bowl_50#0"
    assert result.not_run == list(JUDGED)
    # The extractive metrics, over every reference answer of each question (SQuAD gives several).
    references = {c.case_id: c.turns[0].answers for c in result.evalset.cases}
    contained = [contains_reference(a, references[c]) for a, c in zip(table["answer"], table["case_id"])]
    assert result.metrics["answer_contains_reference"] == pytest.approx(sum(contained) / len(contained))
    assert result.metrics["answer_contains_reference"] >= 0.5 and 0 < result.metrics["token_f1"] < 1
    assert result.metrics["answer_tokens"] == pytest.approx(table["answer_tokens"].mean()) and table["answer_tokens"].min() > 0

    run_id = tracking.log_evaluation(result, result.evalset.name, result.evalset.content_hash)
    runs = mlflow.search_runs([experiment_id], filter_string=f"tags.config_id = '{cfg.config_id}'")
    assert list(runs["run_id"]) == [run_id]
    run = runs.iloc[0]
    assert run["params.retrieval.top_k"] == "5" and run["params.embedder.model"] == "all-MiniLM-L6-v2"
    assert run["tags.dataset_hash"] == result.evalset.content_hash
    assert run["tags.ragas_llm_metrics"] == "not run (no judge configured)"
    assert run["metrics.token_f1"] == pytest.approx(result.metrics["token_f1"])
    assert run["metrics.ndcg_at_10"] == pytest.approx(table["ndcg_at_10"].mean())
    assert run["metrics.latency_total_p95_ms"] > 0 and run["metrics.cost_per_1m_events"] > 0
    # 24 paragraphs: the HNSW graph finds exactly what brute force finds, and the metric says so.
    assert run["metrics.ann_recall_at_k"] == table["ann_recall_at_k"].mean() == 1.0
    assert "metrics.faithfulness" not in runs.columns  # not run is not zero
    assert tracking.config_of_run(run_id) == cfg
    logged = mlflow.load_table("per_question.json", run_ids=[run_id])
    assert len(logged) == 12
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run_id)} | {
        a.path for a in mlflow.MlflowClient().list_artifacts(run_id, "plots")
    }
    assert {"config.yaml", "per_question.json", "plots/run_summary.png"} <= artifacts
    assert tracking.finished_run(cfg.config_id, result.evalset.content_hash, experiment_id) == run_id


def test_metrics_are_named_or_refused(cached_minilm) -> None:
    with pytest.raises(UnknownMetricError, match="unknown metric"):
        build_metrics(cached_minilm, None, ["recall_at_everything"])
    with pytest.raises(UnknownMetricError, match="need an LLM judge"):
        build_metrics(cached_minilm, None, ["faithfulness"])


def test_unreachable_tracking_server_says_how_to_fix(workspace) -> None:
    with pytest.raises(tracking.TrackingError, match="cannot use the MLflow tracking store at http://127.0.0.1:9"):
        tracking.connect(workspace, "http://127.0.0.1:9")


def test_an_offline_metric_reads_only_the_fields_its_memo_is_keyed_on(cached_minilm) -> None:
    """The process-wide memo of offline scores is keyed on each metric's declared fields: ragas's own declaration of
    what each metric reads must be the same set, or two samples differing elsewhere would share a score."""
    from workbench.lab.scorers import BY_NAME
    from workbench.lab.scorers.ragas_metrics import SpanMetric

    for name, metric in build_metrics(cached_minilm, None).items():
        if not isinstance(metric, SpanMetric):
            assert set(metric.required_columns["SINGLE_TURN"]) == set(BY_NAME[name].needs), name


def test_offline_scores_seen_before_are_reused_and_equal_to_fresh_ones(cached_minilm, monkeypatch) -> None:
    from workbench.lab.scorers import ragas_metrics

    sample = {
        "user_input": "Who won Super Bowl 50?",
        "response": "The Denver Broncos won Super Bowl 50.",
        "reference": "Denver Broncos",
        "references": ["Denver Broncos", "the Broncos"],
        "retrieved_contexts": ["The Denver Broncos defeated the Carolina Panthers 24-10."],
        "reference_contexts": ["Denver Broncos defeated the Carolina Panthers"],
        "retrieved_context_ids": ["Super_Bowl_50#0"],
        "reference_context_ids": ["Super_Bowl_50#0"],
    }
    other_question = {**sample, "user_input": "Which team won?"}  # no offline metric reads the question
    metrics = build_metrics(cached_minilm, None)
    monkeypatch.setattr(ragas_metrics, "_OFFLINE_SCORES", {})
    fresh = ragas_metrics.score_samples(metrics, [sample], cached_minilm.model_id, "ws")[0]
    assert 0 < fresh["semantic_similarity"] < 1 and fresh["id_based_context_recall"] == 1.0
    assert len(ragas_metrics._OFFLINE_SCORES["ws"]) == len(metrics)  # one score per metric, kept

    def recomputed(*args, **kwargs):
        raise AssertionError("a score seen before was computed again")

    for metric in metrics.values():
        monkeypatch.setattr(metric, "score" if isinstance(metric, ragas_metrics.SpanMetric) else "single_turn_ascore", recomputed)
    assert ragas_metrics.score_samples(metrics, [other_question, sample], cached_minilm.model_id, "ws") == [fresh, fresh]
    with pytest.raises(AssertionError, match="computed again"):  # another embedder's semantic similarity is its own
        ragas_metrics.score_samples(metrics, [sample], "another/model", "ws")
    with pytest.raises(AssertionError, match="computed again"):  # and another workspace starts its own memo
        ragas_metrics.score_samples(metrics, [sample], cached_minilm.model_id, "another workspace")
