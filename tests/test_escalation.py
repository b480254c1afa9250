"""Escalation: after N declined answers in a row a user is handed to a human, once per streak; eval cases cover it."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import event
from test_loop import CORPUS

from workbench.evaluation.dataset import DatasetSpec, EvalCase, EvalSet, Turn
from workbench.evaluation.runner import evaluate
from workbench.events import Event
from workbench.ingest.pipeline import ingest
from workbench.loop import Agent


@pytest.fixture
def tickets():
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(201)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/tickets", received
    server.shutdown()


def test_a_streak_of_declines_opens_one_ticket(hashing_config, workspace, tmp_path, tickets) -> None:
    url, received = tickets
    cfg = hashing_config.with_overrides({"escalation": {"after": 2, "actuator": {"kind": "http", "url": url}}})
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("\n".join(json.dumps(d) for d in CORPUS))
    agent = Agent.from_config(cfg, workspace)
    ingest(corpus, cfg, workspace, embedder=agent.embedder, index=agent.index, progress=False)

    asked = ["zxqv wvut", "qqq zzz", "xkcd plop", "What is the atomic number of oxygen?", "blorp", "snarf"]
    flags = [agent.handle(Event(**event(q, event_id=f"t{i}"))).escalated for i, q in enumerate(asked)]
    assert flags == [False, True, False, False, False, True]  # at the 2nd decline of each streak, not after
    assert [t["user_id"] for t in received] == ["u1", "u1"]
    assert received[0]["answer"].startswith("Escalated to a human after 2 unanswered messages")


def test_multi_turn_eval_cases_score_escalation(hashing_config, workspace, squad_subset, tmp_path) -> None:
    cfg = hashing_config.with_overrides({"escalation.after": 2})
    case = EvalCase(case_id="lost-user", tenant="acme", user_id="lost", turns=[
        Turn(question="zxqv wvut"), Turn(question="qqq zzz"),
        Turn(question="Which NFL team represented the AFC at Super Bowl 50?", relevant={"Super_Bowl_50#0": 1})])
    path = EvalSet(name="escalation", cases=[case]).save(tmp_path / "escalation.jsonl")
    result = evaluate(cfg, DatasetSpec(corpus=squad_subset, evalset=path), workspace, progress=False, metrics=["exact_match"])
    assert list(result.table["escalated"]) == [False, True, False]
    assert result.metrics["escalation_rate"] == pytest.approx(1 / 3)
    assert not (workspace.root / "outbox.jsonl").exists()  # evaluation never reaches real actuators
