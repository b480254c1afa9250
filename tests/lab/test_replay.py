"""The decision log is appended for every decision, and replaying it with another config reports what changed."""

import mlflow
import pytest
from conftest import CORPUS, event, ingested_agent

from workbench.decisionlog.jsonl import read_log
from workbench.events import Event
from workbench.lab import tracking
from workbench.lab.replay import log_replay, replay


@pytest.fixture
def logged(hashing_config, workspace, tmp_path):
    agent = ingested_agent(hashing_config, workspace, tmp_path, CORPUS)
    for i, q in enumerate(["What is the atomic number of oxygen?", "Who won Super Bowl 50?", "Where was the game played?"]):
        agent.handle(Event(**event(q, user="u1" if i < 2 else "u2", event_id=f"d{i}")))
    return agent


def test_every_decision_is_appended(logged, workspace) -> None:
    records = list(read_log(workspace.decisions))
    assert [r["event_id"] for r in records] == ["d0", "d1", "d2"]
    assert {"prompt", "hits", "answer", "config_id", "model", "latency_ms", "timestamp"} <= set(records[0])
    assert records[0]["model"] == "extractive:offline"


def test_replay_with_another_config_reports_the_change(logged, workspace, hashing_config) -> None:
    same = replay(workspace.decisions, hashing_config, workspace)
    assert same.metrics["retrieval_overlap"] == 1.0 and same.metrics["answers_changed"] == 0.0
    assert same.metrics["answer_similarity"] == pytest.approx(1.0, abs=1e-5)

    narrower = hashing_config.with_overrides({"retrieval.top_k": 1, "reasoner.max_sentences": 2})
    changed = replay(workspace.decisions, narrower, workspace)
    assert changed.metrics["replayed"] == 3 and changed.metrics["retrieval_overlap"] < 1.0
    assert list(changed.table["event_id"]) == ["d0", "d1", "d2"]  # per user, in the original order
    assert workspace.decisions.read_text().count("\n") == 3  # replay never appends to the log it reads

    tracking.connect(workspace)
    run = mlflow.get_run(log_replay(changed, narrower, workspace.decisions))
    assert run.data.tags["replayed_config_ids"] == hashing_config.config_id
    assert run.data.metrics["retrieval_overlap"] == pytest.approx(changed.metrics["retrieval_overlap"])


def test_replay_never_reaches_real_endpoints(logged, workspace, hashing_config, http_sink) -> None:
    url, received = http_sink
    declining = hashing_config.with_overrides(
        {
            "reasoner.min_score": 0.99,
            "escalation": {"after": 1, "actuator": {"kind": "http", "url": url}},
            "actuator": {"kind": "http", "url": url},
        }
    )
    result = replay(workspace.decisions, declining, workspace)
    assert result.metrics["answers_changed"] == 1.0  # every replayed answer declined, and would have escalated
    assert received == []
