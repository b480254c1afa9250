"""Event semantics end to end: idempotency, 8 workers x 500 events on SQLite and DynamoDB, faults, bad input."""

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest
from conftest import bad_payloads, event, make_delivery, make_table
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.loop import Agent
from workbench.serve.bus import LocalBus
from workbench.serve.idempotency import idempotency_key
from workbench.serve.worker import Worker

USERS = [f"user{i}" for i in range(10)]


def setup(hashing_config, workspace, tmp_path, **overrides):
    cfg = hashing_config.with_overrides({"state.max_turns": 500, **overrides})
    agent = Agent.from_config(cfg, workspace)
    bus = LocalBus(tmp_path / "bus.db", max_receives=5)
    return agent, bus, make_delivery(agent, tmp_path)


def user_turns(agent, users=USERS) -> list[str]:
    return [m.event_id for u in users for m in agent.state.load("acme", f"user#{u}").history if m.role == "user"]


def test_idempotency_keys_match_powertools() -> None:
    from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer

    class Probe(BasePersistenceLayer):  # Powertools' own key derivation, with the bundle's prefix
        def _get_record(self, idempotency_key): ...
        def _put_record(self, data_record): ...
        def _update_record(self, data_record): ...
        def _delete_record(self, data_record): ...

    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

    probe = Probe()
    probe.configure(IdempotencyConfig(event_key_jmespath="[tenant, event_id]"), key_prefix="workbench.handle")
    assert probe._get_hashed_idempotency_key({"event_id": "evt-42", "tenant": "acme", "text": "x"}) == idempotency_key(
        "acme", "evt-42"
    )
    assert idempotency_key("acme", "evt-42") != idempotency_key("globex", "evt-42")


def test_the_local_records_carry_the_powertools_keys(hashing_config, workspace, tmp_path) -> None:
    import sqlite3

    agent, bus, delivery = setup(hashing_config, workspace, tmp_path)
    [outcome] = delivery.deliver(json.dumps(event("hello", event_id="evt-42")), "test")
    assert outcome.status == "handled"
    ids = [r[0] for r in sqlite3.connect(tmp_path / "idem.db").execute("SELECT id FROM idempotency WHERE status = 'COMPLETED'")]
    assert ids == [idempotency_key("acme", "evt-42")]


@pytest.mark.parametrize("state", ["sqlite", "dynamodb"])
def test_eight_workers_five_hundred_events_each_exactly_once(state, hashing_config, workspace, tmp_path, request) -> None:
    agent, bus, delivery = setup(hashing_config, workspace, tmp_path)
    if state == "dynamodb":
        request.getfixturevalue("aws")
        from workbench.state.dynamodb import DynamoDBStateStore

        agent.state = DynamoDBStateStore(make_table(f"state-{uuid.uuid4().hex[:8]}", "pk", "expires_at"), 30)
    accepted = [event(f"question {i} from {USERS[i % 10]}", user=USERS[i % 10], event_id=f"e{i}") for i in range(500)]
    for e in accepted:
        bus.publish(json.dumps(e))
    for e in accepted[:25]:  # duplicate publishes
        bus.publish(json.dumps(e))
    for bad in ('{"tenant": "acme"}', "[]", "{nope"):
        bus.publish(bad)

    stats = Worker(delivery, bus, retry_after=0.01).run(concurrency=8)
    assert stats.processed == 500 and stats.dead_lettered == 3
    # every duplicate publish answered from its record, not re-run (more, when a slow machine lets a visibility lapse)
    assert stats.duplicates >= 25
    turns = user_turns(agent)
    assert sorted(turns) == sorted(e["event_id"] for e in accepted)  # each accepted event exactly once
    assert bus.counts() == {"visible": 0, "in_flight": 0, "dead": 3}


class Flaky:
    """Fault injection: fails a share of calls with a transient error."""

    def __init__(self, inner, rate: float, seed: int) -> None:
        self.inner, self.rate, self.rng = inner, rate, random.Random(seed)

    def __getattr__(self, name):
        target = getattr(self.inner, name)
        if not callable(target):
            return target

        def call(*args, **kwargs):
            if self.rng.random() < self.rate:
                raise ConnectionError(f"injected fault in {name}")
            return target(*args, **kwargs)

        return call


def test_random_backend_faults_lose_nothing(hashing_config, workspace, tmp_path) -> None:
    agent, bus, delivery = setup(hashing_config, workspace, tmp_path, **{"resilience.max_attempts": 1})
    agent.reasoner, agent.actuator = Flaky(agent.reasoner, 0.2, 1), Flaky(agent.actuator, 0.1, 2)
    published = [event(f"faulty {i}", user=USERS[i % 10], event_id=f"f{i}") for i in range(120)]
    for e in published:
        bus.publish(json.dumps(e))
    stats = Worker(delivery, bus, retry_after=0.0).run(concurrency=4)
    dead = bus.dead_letters()
    assert stats.retried > 0  # faults happened
    assert stats.processed + len(dead) == len(published)  # published = processed + dead-lettered
    turns = user_turns(agent)
    assert len(turns) == len(set(turns))  # no duplicates in history, however often an event was retried
    assert set(turns) <= {e["event_id"] for e in published} and len(turns) >= stats.processed
    # An event whose act kept failing after its turn was persisted is dead-lettered with its turn kept:
    # a redrive acts once more without appending again (the loop skips turns it already holds).
    assert len(turns) <= stats.processed + len(dead)
    assert all("injected fault" in d["reason"] for d in dead)


class Slow:
    """An actuator that takes `seconds` per action and counts the actions by idempotency key."""

    def __init__(self, inner, seconds: float) -> None:
        self.inner, self.seconds, self.keys = inner, seconds, []

    def act(self, decision, key):
        time.sleep(self.seconds)
        self.keys.append(key)
        self.inner.act(decision, key)


def test_handling_longer_than_the_visibility_timeout_acts_once_and_skips_nothing(hashing_config, workspace, tmp_path) -> None:
    """Each event takes 0.7 s against a 1 s visibility timeout, the later ones of a batch waiting behind the first:
    the heartbeat keeps them all invisible, so none is redelivered, acted on twice or dead-lettered untried."""
    agent, bus, delivery = setup(hashing_config, workspace, tmp_path)
    agent.actuator = slow = Slow(agent.actuator, 0.7)
    for i in range(4):
        bus.publish(json.dumps(event(f"slow {i}", event_id=f"s{i}")))
    stats = Worker(delivery, LocalBus(tmp_path / "bus.db", max_receives=2), visibility_timeout=1).run(concurrency=2)
    assert sorted(slow.keys) == [f"acme#s{i}" for i in range(4)]
    assert (stats.processed, stats.duplicates, stats.dead_lettered) == (4, 0, 0)
    assert bus.counts() == {"visible": 0, "in_flight": 0, "dead": 0}


def test_a_copy_delivered_while_a_slow_event_is_handled_waits_instead_of_acting_again(
    hashing_config, workspace, tmp_path
) -> None:
    """SQS may deliver an event twice. The first copy's action takes 3 s against a 1 s visibility timeout; the second
    copy arrives after the in-progress expiry first set would have passed. The live worker's lease keeps the record
    in progress, so the copy is answered from it once the first is done: one action."""
    agent, bus, delivery = setup(hashing_config, workspace, tmp_path)
    agent.actuator = slow = Slow(agent.actuator, 3.0)
    body = json.dumps(event("slow", event_id="dup1"))
    bus.publish(body)
    worker = Worker(delivery, LocalBus(tmp_path / "bus.db", max_receives=10), visibility_timeout=1)

    def publish_later():
        time.sleep(1.8)
        bus.publish(body)

    threading.Thread(target=publish_later).start()
    stats = worker.run(concurrency=2)
    assert slow.keys == ["acme#dup1"]
    assert (stats.processed, stats.duplicates, stats.dead_lettered) == (1, 1, 0)
    assert bus.counts() == {"visible": 0, "in_flight": 0, "dead": 0}


def test_a_visibility_timeout_too_short_to_extend_is_refused(hashing_config, workspace, tmp_path) -> None:
    agent, bus, delivery = setup(hashing_config, workspace, tmp_path)
    with pytest.raises(ValueError, match="visibility_timeout 0.001: must be 1 to 43200 s"):
        Worker(delivery, bus, visibility_timeout=0.001)


def test_messages_moved_to_the_dlq_at_receive_are_in_the_tally(hashing_config, workspace, tmp_path) -> None:
    agent, _, delivery = setup(hashing_config, workspace, tmp_path)
    bus = LocalBus(tmp_path / "bus.db", max_receives=1)
    bus.publish(json.dumps(event("orphaned", event_id="o1")))
    bus.receive(1, visibility_timeout=0)  # a consumer that died holding it: its one receive is used up
    stats = Worker(delivery, bus).run(concurrency=1)
    assert stats.dead_lettered == 1 and bus.counts()["dead"] == 1


DRIVER = """
import sys, time
from workbench.serve.bus import LocalBus
from workbench.config import AgentConfig
from workbench.serve.delivery import Delivery
from workbench.serve.idempotency import SQLitePersistenceLayer
from workbench.serve.ledger import SQLiteLedger
from workbench.loop import Agent
from workbench.serve.worker import Worker
from workbench.workspace import Workspace

root = sys.argv[1]
agent = Agent.from_config(AgentConfig(embedder={"kind": "hashing"}, state={"max_turns": 500}), Workspace(__import__("pathlib").Path(root)))
slow = agent.reasoner.reason
agent.reasoner.reason = lambda *a: (time.sleep(0.02), slow(*a))[1]  # long enough to be killed mid-batch
delivery = Delivery(agent, SQLitePersistenceLayer(root + "/idem.db"), SQLiteLedger(root + "/ledger.db"))
Worker(delivery, LocalBus(root + "/bus.db"), visibility_timeout=1).run(2)
"""


def test_a_killed_worker_loses_nothing(tmp_path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    bus = LocalBus(root / "bus.db")
    published = [event(f"kill test {i}", user=USERS[i % 10], event_id=f"k{i}") for i in range(150)]
    for e in published:
        bus.publish(json.dumps(e))
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    victim = subprocess.Popen([sys.executable, "-c", DRIVER, str(root)], env=env)
    deadline = time.time() + 60
    while bus.counts()["in_flight"] == 0 or bus.counts()["visible"] > 120:  # wait until it is mid-stream
        assert time.time() < deadline and victim.poll() is None
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert bus.counts()["visible"] + bus.counts()["in_flight"] > 0
    subprocess.run([sys.executable, "-c", DRIVER, str(root)], env=env, check=True, timeout=300)

    from workbench.config import AgentConfig
    from workbench.workspace import Workspace

    survivor = Agent.from_config(AgentConfig(embedder={"kind": "hashing"}), Workspace(root))
    turns = user_turns(survivor)
    assert sorted(turns) == sorted(e["event_id"] for e in published)  # nothing lost, nothing twice
    assert bus.counts() == {"visible": 0, "in_flight": 0, "dead": 0}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payloads=st.lists(bad_payloads(), min_size=1, max_size=5))
def test_garbage_is_dead_lettered_and_the_worker_keeps_going(payloads, hashing_config, tmp_path_factory) -> None:
    from workbench.workspace import Workspace

    tmp = tmp_path_factory.mktemp("garbage")
    agent, bus, delivery = setup(hashing_config, Workspace(tmp / "ws"), tmp)
    for p in payloads:
        bus.publish(p)
    bus.publish(json.dumps(event("still answered?", event_id="after-garbage")))
    stats = Worker(delivery, bus).run(concurrency=1)
    letters = bus.dead_letters()
    assert stats.processed + len(letters) == len(payloads) + 1
    assert all(letter["reason"] for letter in letters)
    assert "after-garbage" in user_turns(agent, ["u1"])


def test_a_worker_thread_that_dies_stops_the_worker_and_exits_non_zero(hashing_config, workspace, tmp_path, monkeypatch) -> None:
    """A thread killed by the bus was silent: the worker went on (or exited 0) with its messages never handled.
    The first death stops the other threads."""
    import sqlite3

    from typer.testing import CliRunner

    from workbench.cli import app

    def broken(self, *args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    _, bus, delivery = setup(hashing_config, workspace, tmp_path)
    bus.publish(json.dumps(event("never received")))
    monkeypatch.setattr(LocalBus, "receive", broken)
    stats = Worker(delivery, bus).run(concurrency=2)
    assert stats.crashed >= 1 and stats.processed == 0
    (tmp_path / "h.yaml").write_text("embedder: {kind: hashing}\n")
    result = CliRunner().invoke(app, ["worker", "--home", str(tmp_path / "home"), "--config", str(tmp_path / "h.yaml")])
    assert result.exit_code == 1 and "worker thread(s) died" in result.output
