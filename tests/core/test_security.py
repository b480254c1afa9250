"""PII never reaches history or logs; a planted secret never reaches exports, MLflow or artifacts; tenants stay apart."""

import json
import logging

import mlflow
import pytest
from conftest import event

from workbench.config import AgentConfig
from workbench.events import Event
from workbench.lab import tracking
from workbench.lab.evalsets import DatasetSpec
from workbench.lab.evaluate import evaluate
from workbench.loop import Agent
from workbench.redaction import luhn_valid, redact

SECRET = "sk-live-PLANTED-0123456789abcdef"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("mail me at jane.doe+x@example.co.uk now", "mail me at [EMAIL] now"),
        ("card 4111 1111 1111 1111 please", "card [CARD] please"),
        ("card 4111-1111-1111-1112 is not valid", "card 4111-1111-1111-1112 is not valid"),  # fails Luhn: kept
        ("call +44 20 7946 0958 or (555) 123-4567", "call [PHONE] or [PHONE]"),
        ("Apollo ran from 1961 to 1972 with 400,000 people", "Apollo ran from 1961 to 1972 with 400,000 people"),
    ],
)
def test_redaction(text, expected) -> None:
    assert redact(text) == expected
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")


def test_pii_is_redacted_before_history_outbox_and_logs(hashing_config, workspace, caplog) -> None:
    agent = Agent.from_config(hashing_config, workspace)
    caplog.set_level(logging.DEBUG)
    d = agent.handle(Event(**event("I am jane@example.com, card 4111 1111 1111 1111, phone +1 415 555 0100")))
    stored = " ".join(m.content for m in agent.state.load("acme", "user#u1").history)
    for pii in ("jane@example.com", "4111 1111 1111 1111", "415 555 0100"):
        assert pii not in stored and pii not in d.question and pii not in d.prompt
        assert pii not in workspace.outbox.read_text() and pii not in caplog.text
    assert "[EMAIL]" in stored and "[CARD]" in stored and "[PHONE]" in stored
    keep = Agent.from_config(hashing_config.with_overrides({"privacy.redact": []}), workspace)
    assert "jane@example.com" in keep.handle(Event(**event("jane@example.com", user="u2"))).question


def test_a_planted_secret_appears_nowhere(squad_subset, workspace, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SLACK_WEBHOOK_URL", f"https://hooks.slack.com/services/{SECRET}")
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("PINECONE_API_KEY", SECRET)
    cfg = AgentConfig(embedder={"kind": "hashing"}, actuator={"kind": "slack", "url_env": "SLACK_WEBHOOK_URL"})
    experiment = tracking.connect(workspace)
    result = evaluate(cfg, DatasetSpec(corpus=squad_subset, limit=3), workspace, progress=False)
    run_id = tracking.log_evaluation(result, result.evalset.name, result.evalset.content_hash)

    from workbench.deploy.bundle import export_bundle

    bundle = tmp_path / "bundle"
    export_bundle(cfg.model_copy(update={"embedder": AgentConfig().embedder}), bundle, run_id=run_id, check_model=False)
    seen = [
        json.dumps(mlflow.get_run(run_id).data.params),
        json.dumps(mlflow.get_run(run_id).data.tags),
        json.dumps(mlflow.search_runs([experiment]).to_json()),
    ]
    for path in [*workspace.root.rglob("*"), *bundle.rglob("*")]:
        if path.is_file() and path.stat().st_size < 50_000_000:
            seen.append(path.read_bytes().decode("utf-8", "ignore"))
    assert not any(SECRET in text for text in seen)
    assert any("SLACK_WEBHOOK_URL" in text for text in seen)  # the name of the secret is there, its value is not
