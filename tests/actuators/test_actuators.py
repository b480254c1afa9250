"""Remote actuators against a real HTTP server on loopback, and the LangChain reasoner with LangChain's fake chat model."""

import json
from dataclasses import replace
from urllib.error import HTTPError

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from workbench.actuators.http import build_http, build_slack
from workbench.config import AgentConfig
from workbench.reasoners.langchain_chat import LangChainReasoner
from workbench.registry import BuildContext
from workbench.types import Decision, Hit

DECISION = Decision(
    event_id="e1",
    correlation_id="c1",
    config_id="abc",
    tenant="acme",
    user_id="u",
    question="What is 2+6?",
    answer="8",
    citations=("d#c0",),
    declined=False,
    hits=(("d#c0", 0.5),),
    contexts=("x",),
    prompt="long",
    latency_ms={"total": 1.0},
    tokens={},
)
KEY = "acme#e1"


def ctx(**actuator) -> BuildContext:
    return BuildContext(AgentConfig(actuator=actuator), workspace=None)


def test_http_posts_the_decision_without_prompt_or_context(http_sink) -> None:
    url, received = http_sink
    build_http(ctx(kind="http", url=f"{url}/hook")).act(DECISION, KEY)
    [(path, headers, body)] = received
    assert path == "/hook" and headers["X-Correlation-Id"] == "c1" and headers["Idempotency-Key"] == "acme#e1"
    assert "prompt" not in body and "contexts" not in body
    assert body == {k: v for k, v in json.loads(json.dumps(DECISION.to_dict())).items() if k not in ("prompt", "contexts")} | {
        "idempotency_key": "acme#e1"
    }


def test_headers_hold_any_key_the_sender_chose_without_failing(http_sink) -> None:
    """An event id or correlation id with a line break or non-Latin-1 text once failed every retry (http.client
    refuses both); percent-encoding keeps distinct keys distinct."""
    url, received = http_sink
    odd = replace(DECISION, correlation_id="c\r\nX-Injected: 1")
    build_http(ctx(kind="http", url=f"{url}/hook")).act(odd, "acme#日本%20\n")
    headers = received[0][1]
    assert "X-Injected" not in headers and headers["X-Correlation-Id"] == "c%0D%0AX-Injected:%201"
    assert headers["Idempotency-Key"] == "acme#%E6%97%A5%E6%9C%AC%2520%0A"


def test_slack_reads_its_webhook_from_the_environment(http_sink, monkeypatch) -> None:
    url, received = http_sink
    monkeypatch.setenv("TEST_SLACK_URL", f"{url}/slack")
    build_slack(ctx(kind="slack", url_env="TEST_SLACK_URL")).act(DECISION, KEY)
    assert received[0][2] == {"text": "8"}
    monkeypatch.delenv("TEST_SLACK_URL")
    with pytest.raises(ValueError, match="TEST_SLACK_URL is not set"):
        build_slack(ctx(kind="slack", url_env="TEST_SLACK_URL"))


def test_failures_and_timeouts_raise_so_the_event_is_not_lost(http_sink) -> None:
    url, _ = http_sink
    with pytest.raises(HTTPError):
        build_http(ctx(kind="http", url=f"{url}/fail")).act(DECISION, KEY)
    with pytest.raises(TimeoutError):
        build_http(ctx(kind="http", url=f"{url}/slow", timeout_s=0.2)).act(DECISION, KEY)


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


def test_the_lambda_log_line_carries_the_idempotency_key(capsys) -> None:
    from workbench.actuators.stdout import StdoutActuator

    StdoutActuator().act(DECISION, KEY)
    line = json.loads(capsys.readouterr().out)["outbox"]
    assert line["idempotency_key"] == "acme#e1" and line["hits"] == ["d#c0"] and line["answer"] == "8"


def test_a_torn_outbox_line_blocks_no_later_action(tmp_path) -> None:
    """A process killed mid-write leaves a line without its end; later actions are still written, each once."""
    from workbench.actuators.outbox import OutboxActuator

    path = tmp_path / "outbox.jsonl"
    path.write_text(json.dumps({**DECISION.to_dict(), "idempotency_key": "acme#e0", "event_id": "e0"})[:30])
    for event_id in ("e1", "e2", "e1"):
        OutboxActuator(path).act(replace(DECISION, event_id=event_id), f"acme#{event_id}")
    lines = path.read_text().splitlines()
    assert [json.loads(line)["event_id"] for line in lines[1:]] == ["e1", "e2"]
