"""Remote actuators against a real HTTP server on loopback, and the LangChain reasoner with LangChain's fake chat model."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.error import HTTPError

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from workbench.actuators.http import build_http, build_slack
from workbench.config import AgentConfig
from workbench.reasoners.langchain_chat import LangChainReasoner
from workbench.records import Hit
from workbench.registry import BuildContext

DECISION = {"event_id": "e1", "correlation_id": "c1", "config_id": "abc", "answer": "8", "prompt": "long", "contexts": ["x"]}


@pytest.fixture
def server():
    received: list[tuple[str, dict, dict]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append((self.path, dict(self.headers), body))
            if self.path == "/slow":
                time.sleep(1.0)
            self.send_response(500 if self.path == "/fail" else 200)
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}", received
    httpd.shutdown()


def ctx(**actuator) -> BuildContext:
    return BuildContext(AgentConfig(actuator=actuator), workspace=None)


def test_http_posts_the_decision_without_prompt_or_context(server) -> None:
    url, received = server
    build_http(ctx(kind="http", url=f"{url}/hook")).act(DECISION)
    [(path, headers, body)] = received
    assert path == "/hook" and headers["X-Correlation-Id"] == "c1"
    assert body == {"event_id": "e1", "correlation_id": "c1", "config_id": "abc", "answer": "8"}


def test_slack_reads_its_webhook_from_the_environment(server, monkeypatch) -> None:
    url, received = server
    monkeypatch.setenv("TEST_SLACK_URL", f"{url}/slack")
    build_slack(ctx(kind="slack", url_env="TEST_SLACK_URL")).act(DECISION)
    assert received[0][2] == {"text": "8"}
    monkeypatch.delenv("TEST_SLACK_URL")
    with pytest.raises(ValueError, match="TEST_SLACK_URL is not set"):
        build_slack(ctx(kind="slack", url_env="TEST_SLACK_URL"))


def test_failures_and_timeouts_raise_so_the_event_is_not_lost(server) -> None:
    url, _ = server
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
