"""The loop end to end on local backends (hashing embedder for speed; the real model is in test_end_to_end)."""

import json
import subprocess
import sys

import pytest
from conftest import CORPUS, event, ingested_agent

from workbench.events import Event
from workbench.loop import Agent
from workbench.reasoners.extractive import DECLINE


@pytest.fixture
def agent(hashing_config, workspace, tmp_path):
    agent = ingested_agent(hashing_config, workspace, tmp_path, CORPUS)
    return agent


def test_decision_record_carries_everything_needed_to_audit(agent, workspace) -> None:
    d = agent.handle(Event(**event("What is the atomic number of oxygen?", correlation_id="corr-1")))
    assert d.hits[0][0] == "ox#c0"
    assert d.citations == ("ox#c0",)
    assert "atomic number 8" in d.answer
    assert d.config_id == agent.config.config_id and d.correlation_id == "corr-1"
    assert "[ox#c0] Oxygen: Oxygen is a chemical element" in d.prompt
    assert set(d.latency_ms) == {"embed", "retrieve", "load_state", "build_prompt", "reason", "persist_state", "act", "total"}
    assert all(v >= 0 for v in d.latency_ms.values())
    [line] = workspace.outbox.read_text().splitlines()
    assert json.loads(line)["config_id"] == d.config_id


def test_retrieval_never_crosses_tenants(agent) -> None:
    acme = agent.handle(Event(**event("beta tenant secret oxygen atomic number", tenant="acme")))
    beta = agent.handle(Event(**event("beta tenant secret oxygen atomic number", tenant="beta", user="u2")))
    assert "secret#c0" not in dict(acme.hits)
    assert [h for h, _ in beta.hits] == ["secret#c0"]


def test_config_filter_and_event_filter_both_apply(agent) -> None:
    sport_only = Agent(
        agent.config.with_overrides({"retrieval.filter": {"topic": "sport"}}),
        agent.embedder,
        agent.index,
        agent.state,
        agent.reasoner,
        agent.actuator,
    )
    assert [h for h, _ in sport_only.handle(Event(**event("oxygen element"))).hits] == ["sb#c0"]
    narrowed = agent.handle(Event(**event("oxygen element", user="u3")), filter={"topic": {"$ne": "chemistry"}})
    assert [h for h, _ in narrowed.hits] == ["sb#c0"]


def test_history_reaches_the_prompt(agent) -> None:
    agent.handle(Event(**event("Who won Super Bowl 50?", event_id="t1")))
    d = agent.handle(Event(**event("Where was the game played?", event_id="t2")))
    assert "user: Who won Super Bowl 50?" in d.prompt


def test_declines_when_nothing_is_close(agent) -> None:
    d = agent.handle(Event(**event("zxqv wvut", user="u9")))
    assert d.declined and d.answer == DECLINE and d.citations == ()


def test_core_imports_nothing_heavy() -> None:
    code = (
        "import sys, workbench.loop, workbench.config, workbench.events, workbench.prompt, workbench.protocols, "
        "workbench.filters; "
        "print(sorted(m for m in ('chromadb', 'torch', 'langchain', 'langchain_core', 'mlflow', 'pandas', "
        "'sentence_transformers', 'numpy', 'boto3', 'ragas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    # The delivery core stands on Powertools (which brings boto3), never on the ML stack.
    serve = code.replace("workbench.filters;", "workbench.filters, workbench.serve.file_runner, workbench.serve.worker;").replace(
        "'boto3', ", ""
    )
    assert subprocess.run([sys.executable, "-c", serve], capture_output=True, text=True, check=True).stdout.strip() == "[]"
