"""The delivery core: each (tenant, event id) acts once across reruns, crashes, expiry and tenants; bad input never
stops a run, and every record is answered or dead-lettered with its source."""

import json
import time

from conftest import bad_payloads, event, make_delivery
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.loop import Agent
from workbench.serve.deadletter import DeadLetterFile
from workbench.serve.delivery import Delivery
from workbench.serve.file_runner import run_payloads
from workbench.serve.idempotency import SQLitePersistenceLayer
from workbench.serve.ledger import SQLiteLedger


def outbox(workspace) -> list[dict]:
    return [json.loads(line) for line in workspace.outbox.read_text().splitlines()] if workspace.outbox.exists() else []


def run(delivery, workspace, payloads, budget_s=5):
    return run_payloads(
        delivery,
        [(f"events.jsonl:{n}", p) for n, p in enumerate(payloads, 1)],
        DeadLetterFile(workspace.deadletter),
        budget_s=budget_s,
    )


def test_a_rerun_acts_on_nothing_twice_even_past_the_kept_history(hashing_config, workspace, tmp_path) -> None:
    agent = Agent.from_config(hashing_config.with_overrides({"state.max_turns": 1}), workspace)
    lines = [json.dumps(event(q, event_id=f"e{i}")) for i, q in enumerate(["one?", "two?", "three?"])]
    first = run(make_delivery(agent, tmp_path), workspace, [*lines, lines[0]])  # e0 again after it left the history
    assert (first.processed, first.duplicates) == (3, 1)
    again = run(make_delivery(agent, tmp_path), workspace, lines)
    assert (again.processed, again.duplicates) == (0, 3)
    assert [o["event_id"] for o in outbox(workspace)] == ["e0", "e1", "e2"]
    assert [m.event_id for m in agent.state.load("acme", "user#u1").history] == ["e2", "e2"]


def test_the_same_event_id_in_two_tenants_is_two_events(hashing_config, workspace, tmp_path) -> None:
    agent = Agent.from_config(hashing_config, workspace)
    summary = run(
        make_delivery(agent, tmp_path),
        workspace,
        [
            json.dumps(event("Alice's secret plan?", tenant="tenant-a", user="alice", event_id="e1")),
            json.dumps(event("Anything new?", tenant="tenant-b", user="alice", event_id="e1")),
        ],
    )
    assert (summary.processed, summary.duplicates) == (2, 0)
    assert sorted((o["tenant"], o["event_id"]) for o in outbox(workspace)) == [("tenant-a", "e1"), ("tenant-b", "e1")]
    b_prompt = summary.decisions[1].prompt
    assert "secret plan" not in b_prompt  # B's conversation holds none of A's
    assert [m.content for m in agent.state.load("tenant-b", "user#alice").history][0] == "Anything new?"


def test_a_redelivery_after_the_idempotency_record_expired_neither_acts_nor_sticks(hashing_config, workspace, tmp_path) -> None:
    agent = Agent.from_config(hashing_config, workspace)
    delivery = Delivery(agent, SQLitePersistenceLayer(tmp_path / "idem.db"), SQLiteLedger(tmp_path / "ledger.db"), ttl_s=1)
    payload = json.dumps(event("Who won?", event_id="late"))
    assert [o.status for o in delivery.deliver(payload, "first")] == ["handled"]
    time.sleep(2.1)  # the record's expiry (whole seconds) has passed; SQS may still redeliver
    [late] = delivery.deliver(payload, "redelivered")
    assert late.status == "duplicate" and late.decision["event_id"] == "late"
    assert [o["event_id"] for o in outbox(workspace)] == ["late"]


class FailsOnce:
    """An actuator whose first call dies after the decision was committed (a crash between commit and act)."""

    def __init__(self, inner) -> None:
        self.inner, self.calls = inner, 0

    def act(self, decision, key):
        self.calls += 1
        if self.calls == 1:
            raise ConnectionError("actuator unreachable")
        self.inner.act(decision, key)


class CountingReasoner:
    def __init__(self, inner) -> None:
        self.inner, self.calls = inner, 0

    def reason(self, *args):
        self.calls += 1
        return self.inner.reason(*args)


def test_a_committed_decision_is_acted_on_by_the_retry_without_deciding_again(hashing_config, workspace, tmp_path) -> None:
    base = Agent.from_config(hashing_config, workspace)
    reasoner = CountingReasoner(base.reasoner)
    agent = Agent.from_config(hashing_config, workspace, actuator=FailsOnce(base.actuator), reasoner=reasoner)
    delivery = make_delivery(agent, tmp_path)
    payload = json.dumps(event("Who won?", event_id="commit-then-crash"))
    [failed] = delivery.deliver(payload, "attempt 1")
    assert failed.status == "failed" and "actuator unreachable" in failed.reason
    [retried] = delivery.deliver(payload, "attempt 2")
    assert retried.status == "handled" and reasoner.calls == 1
    assert [o["event_id"] for o in outbox(workspace)] == ["commit-then-crash"]


class DiesBeforeRecording:
    """A decision log whose first append is never reached: the process died between the commit and the record."""

    def __init__(self, inner) -> None:
        self.inner, self.calls = inner, 0

    def append(self, record):
        self.calls += 1
        if self.calls == 1:
            raise KeyboardInterrupt  # stands in for SIGKILL: nothing after the commit ran
        self.inner.append(record)

    def contains(self, tenant, event_id):
        return self.inner.contains(tenant, event_id)


def test_a_decision_committed_before_a_crash_is_recorded_once_by_the_retry(hashing_config, workspace, tmp_path) -> None:
    from workbench.decisionlog.jsonl import read_log

    base = Agent.from_config(hashing_config, workspace)
    agent = Agent.from_config(hashing_config, workspace, decision_log=DiesBeforeRecording(base.decision_log))
    payload = json.dumps(event("Who won?", event_id="commit-then-die"))
    delivery = make_delivery(agent, tmp_path)
    delivery.context.set(0.5)
    try:
        delivery.deliver(payload, "attempt 1")
    except KeyboardInterrupt:
        pass
    assert not workspace.decisions.exists() and not outbox(workspace)
    time.sleep(0.6)  # the dead attempt's in-progress record expires with its time
    statuses = [delivery.deliver(payload, f"attempt {n}")[0].status for n in (2, 3)]
    assert statuses == ["handled", "duplicate"]  # the retry records and acts; a redelivery does neither again
    assert [d["event_id"] for d in read_log(workspace.decisions)] == ["commit-then-die"]
    assert [o["event_id"] for o in outbox(workspace)] == ["commit-then-die"]


def test_an_attempt_that_died_in_progress_frees_its_event_when_its_time_is_up(hashing_config, workspace, tmp_path) -> None:
    agent = Agent.from_config(hashing_config, workspace)
    delivery = make_delivery(agent, tmp_path)
    data = event("Who won?", event_id="orphan")
    delivery.context.set(0.5)
    # What a killed attempt leaves behind: an INPROGRESS record, expiring with the attempt's time.
    persistence = SQLitePersistenceLayer(tmp_path / "idem.db")
    persistence.configure(delivery.idempotency_config, key_prefix="workbench.handle")
    persistence.save_inprogress(data, delivery.context.get_remaining_time_in_millis())
    delivery.context.set(5)
    assert [o.status for o in delivery.deliver(json.dumps(data), "retry too soon")] == ["in_progress"]
    time.sleep(0.6)
    assert [o.status for o in delivery.deliver(json.dumps(data), "retry")] == ["handled"]


BAD_LINES = [
    b"[" * 100_000,  # nesting beyond the parser's depth
    json.dumps({**event("q"), "metadata": {"n": 0}}).replace("0", "1" * 5000).encode(),  # 5,000-digit integer
    b'{"event_id": "s1", "tenant": "acme", "user_id": "u", "text": "lone \\ud800 surrogate"}',
    b"\xff\xfe not utf-8",
    json.dumps({"Records": [{"messageId": "sqs-7", "body": "{oops"}]}).encode(),
    json.dumps({"Records": [{"Sns": {"MessageId": "sns-9", "Message": json.dumps({"tenant": "acme"})}}]}).encode(),
    json.dumps(
        {
            "Type": "Notification",
            "Message": json.dumps(
                {
                    "Type": "Notification",
                    "Message": json.dumps(
                        {
                            "Type": "Notification",
                            "Message": json.dumps(
                                {
                                    "Type": "Notification",
                                    "Message": json.dumps({"Type": "Notification", "Message": json.dumps(event("deep"))}),
                                }
                            ),
                        }
                    ),
                }
            ),
        }
    ).encode(),
]


def test_lines_beyond_the_parser_limits_are_dead_lettered_with_their_source(hashing_config, workspace, tmp_path) -> None:
    agent = Agent.from_config(hashing_config, workspace)
    good = [json.dumps(event(f"good {i}?", event_id=f"g{i}")).encode() for i in range(2)]
    summary = run(make_delivery(agent, tmp_path), workspace, [good[0], *BAD_LINES, good[1]])
    assert summary.processed == 2 and summary.rejected == len(BAD_LINES)
    letters = list(DeadLetterFile(workspace.deadletter))
    sources = [x["source"] for x in letters]
    assert sources[:4] == ["events.jsonl:2", "events.jsonl:3", "events.jsonl:4", "events.jsonl:5"]
    assert "events.jsonl:6/sqs:sqs-7" in sources and "events.jsonl:7/sns:sns-9" in sources  # the line and the message id
    reasons = " | ".join(x["reason"] for x in letters)
    assert "nested too deeply" in reasons and "limits" in reasons and "UTF-8" in reasons and "nested over" in reasons


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bad=st.lists(bad_payloads(), min_size=1, max_size=6))
def test_no_line_stops_a_run(bad, hashing_config, tmp_path_factory) -> None:
    from workbench.workspace import Workspace

    tmp = tmp_path_factory.mktemp("bad")
    ws = Workspace(tmp / "ws")
    agent = Agent.from_config(hashing_config, ws)
    summary = run(make_delivery(agent, tmp), ws, [*bad, json.dumps(event("still answered?", event_id="after")).encode()])
    assert (summary.processed, summary.rejected) == (1, len(bad))  # published = processed + dead-lettered
    assert [d.event_id for d in summary.decisions] == ["after"]
    assert len(list(DeadLetterFile(ws.deadletter))) == summary.rejected


def test_a_correlation_id_and_a_channel_never_carry_pii_into_the_stores(hashing_config, workspace, tmp_path) -> None:
    import sqlite3

    agent = Agent.from_config(hashing_config, workspace)
    raw = event(
        "Who won?",
        event_id="pii-ids",
        correlation_id="AKIAIOSFODNN7EXAMPLE for bob@example.com",
        channel="card 4111 1111 1111 1111",
    )
    summary = run(make_delivery(agent, tmp_path), workspace, [json.dumps(raw)])
    assert summary.decisions[0].correlation_id == "[AWS_KEY] for [EMAIL]"
    stores = [
        workspace.outbox.read_text(),
        workspace.decisions.read_text(),
        *(
            str(row)
            for db in ("idem.db", "ledger.db")
            for row in sqlite3.connect(tmp_path / db).execute("SELECT * FROM " + ("idempotency" if db == "idem.db" else "ledger"))
        ),
    ]
    assert all("AKIA" not in text and "bob@" not in text and "4111" not in text for text in stores)
    assert json.loads(workspace.decisions.read_text())["channel"] == "card [CARD]"
