"""Escalation: after N declined answers in a row a user is handed to a human, once per streak; eval cases cover it."""

import pytest
from conftest import CORPUS, event, ingested_agent

from workbench.events import Event
from workbench.lab.evalsets import DatasetSpec, EvalCase, EvalSet, Turn
from workbench.lab.evaluate import evaluate


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
    case = EvalCase(
        case_id="lost-user",
        tenant="acme",
        user_id="lost",
        turns=[
            Turn(question="zxqv wvut"),
            Turn(question="qqq zzz"),
            Turn(question="Which NFL team represented the AFC at Super Bowl 50?", relevant={"Super_Bowl_50#0": 1}),
        ],
    )
    path = EvalSet(name="escalation", cases=[case]).save(tmp_path / "escalation.jsonl")
    result = evaluate(cfg, DatasetSpec(corpus=squad_subset, evalset=path), workspace, progress=False, metrics=["exact_match"])
    assert list(result.table["escalated"]) == [False, True, False]
    assert result.metrics["escalation_rate"] == pytest.approx(1 / 3)
    assert not (workspace.root / "outbox.jsonl").exists()  # evaluation never reaches real actuators


def test_a_failing_escalation_is_retried_alone_and_never_repeats_the_action(
    hashing_config, workspace, tmp_path, http_sink
) -> None:
    import json

    from conftest import make_delivery

    from workbench.actuators.http import HttpActuator

    url, received = http_sink
    cfg = hashing_config.with_overrides(
        {
            "actuator": {"kind": "http", "url": f"{url}/answers"},
            "resilience.max_attempts": 1,
            "escalation": {"after": 1, "actuator": {"kind": "http", "url": f"{url}/fail"}},
        }
    )
    agent = ingested_agent(cfg, workspace, tmp_path, CORPUS)
    delivery = make_delivery(agent, tmp_path)
    payload = json.dumps(event("zxqv wvut", event_id="lost-1"))  # declined: the first of a streak of one
    assert [delivery.deliver(payload, f"attempt {n}")[0].status for n in (1, 2, 3)] == ["failed"] * 3
    agent.escalator = HttpActuator(f"{url}/tickets", 5)  # the ticket system is back
    assert [delivery.deliver(payload, f"attempt {n}")[0].status for n in (4, 5)] == ["handled", "duplicate"]
    posts = [(path, headers["Idempotency-Key"]) for path, headers, _ in received]
    assert posts == [
        ("/answers", "acme#lost-1"),
        ("/fail", "escalation:acme#lost-1"),
        ("/fail", "escalation:acme#lost-1"),
        ("/fail", "escalation:acme#lost-1"),
        ("/tickets", "escalation:acme#lost-1"),
    ]


def test_an_escalation_to_the_outbox_is_kept_beside_the_answer(hashing_config, workspace, tmp_path) -> None:
    """Both go to the outbox by default: each has its own idempotency key, so neither drops the other."""
    import json

    from conftest import make_delivery

    agent = ingested_agent(hashing_config.with_overrides({"escalation.after": 1}), workspace, tmp_path, CORPUS)
    delivery = make_delivery(agent, tmp_path)
    for _ in range(2):
        delivery.deliver(json.dumps(event("zxqv wvut", event_id="lost-2")), "events.jsonl:1")
    lines = [json.loads(line) for line in workspace.outbox.read_text().splitlines()]
    assert [line["idempotency_key"] for line in lines] == ["acme#lost-2", "escalation:acme#lost-2"]
    assert lines[1]["answer"].startswith("Escalated to a human after 1 unanswered messages")
