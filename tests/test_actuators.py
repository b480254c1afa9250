"""Remote actuators against a real HTTP server on loopback, and the LangChain reasoner with LangChain's fake chat model."""

from urllib.error import HTTPError

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from workbench.actuators.http import build_http, build_slack
from workbench.config import AgentConfig
from workbench.reasoners.langchain_chat import LangChainReasoner
from workbench.records import Hit
from workbench.registry import BuildContext

DECISION = {"event_id": "e1", "correlation_id": "c1", "config_id": "abc", "answer": "8", "prompt": "long", "contexts": ["x"]}


def ctx(**actuator) -> BuildContext:
    return BuildContext(AgentConfig(actuator=actuator), workspace=None)


def test_http_posts_the_decision_without_prompt_or_context(http_sink) -> None:
    url, received = http_sink
    build_http(ctx(kind="http", url=f"{url}/hook")).act(DECISION)
    [(path, headers, body)] = received
    assert path == "/hook" and headers["X-Correlation-Id"] == "c1"
    assert body == {"event_id": "e1", "correlation_id": "c1", "config_id": "abc", "answer": "8"}


def test_slack_reads_its_webhook_from_the_environment(http_sink, monkeypatch) -> None:
    url, received = http_sink
    monkeypatch.setenv("TEST_SLACK_URL", f"{url}/slack")
    build_slack(ctx(kind="slack", url_env="TEST_SLACK_URL")).act(DECISION)
    assert received[0][2] == {"text": "8"}
    monkeypatch.delenv("TEST_SLACK_URL")
    with pytest.raises(ValueError, match="TEST_SLACK_URL is not set"):
        build_slack(ctx(kind="slack", url_env="TEST_SLACK_URL"))


def test_failures_and_timeouts_raise_so_the_event_is_not_lost(http_sink) -> None:
    url, _ = http_sink
    with pytest.raises(HTTPError):
        build_http(ctx(kind="http", url=f"{url}/fail")).act(DECISION)
    with pytest.raises(TimeoutError):
        build_http(ctx(kind="http", url=f"{url}/slow", timeout_s=0.2)).act(DECISION)


def test_langchain_reasoner_keeps_only_real_citations() -> None:
    model = FakeListChatModel(responses=["Oxygen has atomic number 8 [ox#c0] [made-up]."])
    answer = LangChainReasoner(model).reason("q", "prompt", [Hit("ox#c0", 0.9, "text")])
    assert answer.text == "Oxygen has atomic number 8 [ox#c0] [made-up]."
    assert answer.citations == ("ox#c0",)


def test_langchain_reasoner_explains_a_missing_provider() -> None:
    from workbench.reasoners.langchain_chat import build

    cfg = AgentConfig(reasoner={"kind": "langchain", "provider": "no-such-provider", "model": "m"})
    with pytest.raises(ValueError, match="cannot create no-such-provider:m"):
        build(BuildContext(cfg, workspace=None))
