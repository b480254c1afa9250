"""Escalation: after N declined answers in a row a user is handed to a human, once per streak; eval cases cover it."""


import pytest
from conftest import event, ingested_agent
from test_loop import CORPUS

from workbench.evaluation.dataset import DatasetSpec, EvalCase, EvalSet, Turn
from workbench.evaluation.runner import evaluate
from workbench.events import Event


def test_a_streak_of_declines_opens_one_ticket(hashing_config, workspace, tmp_path, http_sink) -> None:
    url, received = http_sink
    cfg = hashing_config.with_overrides({"escalation": {"after": 2, "actuator": {"kind": "http", "url": f"{url}/tickets"}}})
    agent = ingested_agent(cfg, workspace, tmp_path, CORPUS)

    asked = ["zxqv wvut", "qqq zzz", "xkcd plop", "What is the atomic number of oxygen?", "blorp", "snarf"]
    flags = [agent.handle(Event(**event(q, event_id=f"t{i}"))).escalated for i, q in enumerate(asked)]
    assert flags == [False, True, False, False, False, True]  # at the 2nd decline of each streak, not after
    assert [(path, body["user_id"]) for path, _, body in received] == [("/tickets", "u1"), ("/tickets", "u1")]
    assert received[0][2]["answer"].startswith("Escalated to a human after 2 unanswered messages")


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
