"""One contract, two stores: SQLite locally and DynamoDB (on a moto server) after export, through boto3's Table
resource and through the Lambda's `ClientTable`.

One item per user, history kept to its last turns (within one DynamoDB item), TTL, conditional writes, no lost turn under concurrency.
"""

import threading
import time
import uuid

import pytest
from botocore.exceptions import ClientError
from conftest import event, make_table

from workbench.errors import StaleWriteError
from workbench.events import Event
from workbench.loop import Agent
from workbench.state.sqlite import SQLiteStateStore
from workbench.turns import MAX_HISTORY_BYTES, append_turn
from workbench.types import Message


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", "dynamodb", "dynamodb-client"])
def make_store(request, tmp_path):
    """A factory of empty stores of each kind, with an injectable clock."""
    if request.param == "sqlite":
        return lambda clock=time.time: SQLiteStateStore(tmp_path / f"s-{uuid.uuid4().hex}.db", ttl_days=1, clock=clock)
    request.getfixturevalue("aws")
    import boto3

    from workbench.serve.dynamodb_table import ClientTable
    from workbench.state.dynamodb import DynamoDBStateStore

    def table():
        resource = make_table(f"state-{uuid.uuid4().hex}", "pk", "expires_at")
        return resource if request.param == "dynamodb" else ClientTable(boto3.client("dynamodb"), resource.name)

    return lambda clock=time.time: DynamoDBStateStore(table(), 1, clock)


def test_conditional_write_rejects_a_stale_version(make_store) -> None:
    store = make_store()
    assert store.load("acme", "user#u").version == 0
    first = store.save("acme", "user#u", [Message("user", "hi")], expected_version=0)
    assert first.version == 1
    with pytest.raises(StaleWriteError, match="user#u"):
        store.save("acme", "user#u", [Message("user", "lost?")], expected_version=0)
    with pytest.raises(StaleWriteError):
        store.save("acme", "user#u", [Message("user", "lost?")], expected_version=5)
    assert [m.content for m in store.load("acme", "user#u").history] == ["hi"]


def test_the_same_user_id_in_two_tenants_are_two_items(make_store) -> None:
    store = make_store()
    store.save("tenant-a", "user#alice", [Message("user", "a's secret")], 0)
    assert store.load("tenant-b", "user#alice").history == ()
    store.save("tenant-b", "user#alice", [Message("user", "b's question")], 0)  # version 0: B's item is new
    assert [m.content for m in store.load("tenant-a", "user#alice").history] == ["a's secret"]
    assert [m.content for m in store.load("tenant-b", "user#alice").history] == ["b's question"]


def test_ttl_expiry_reads_as_empty_and_the_next_write_still_wins(make_store) -> None:
    clock = Clock()
    store = make_store(clock)
    store.save("acme", "user#u", [Message("user", "old")], 0)
    clock.now += 86400 - 1
    assert len(store.load("acme", "user#u").history) == 1
    clock.now += 2
    expired = store.load("acme", "user#u")
    assert expired.history == () and expired.version == 1
    store.save("acme", "user#u", [Message("user", "new")], expired.version)
    assert [m.content for m in store.load("acme", "user#u").history] == ["new"]


def _agent(hashing_config, workspace, **overrides):
    cfg = hashing_config.with_overrides(overrides) if overrides else hashing_config
    return Agent.from_config(cfg, workspace)


def test_history_keeps_the_last_max_turns_turns(hashing_config, workspace) -> None:
    agent = _agent(hashing_config, workspace, **{"state.max_turns": 2})
    for i in range(5):
        agent.handle(Event(**event(f"question {i}", event_id=f"q{i}")))
    history = agent.state.load("acme", "user#u1").history
    assert len(history) == 4
    assert [m.content for m in history if m.role == "user"] == ["question 3", "question 4"]


def test_a_redelivered_event_is_recorded_once(hashing_config, workspace) -> None:
    agent = _agent(hashing_config, workspace)
    e = Event(**event("same event"))
    agent.handle(e)
    agent.handle(e)
    assert len(agent.state.load("acme", "user#u1").history) == 2


def test_concurrent_writers_on_one_user_lose_no_turn(hashing_config, workspace, make_store) -> None:
    agent = _agent(hashing_config, workspace, **{"state.max_turns": 500})
    agent.state = make_store()
    per_worker, workers = 15, 4
    errors: list[BaseException] = []

    def work(w: int) -> None:
        try:
            for i in range(per_worker):
                agent.handle(Event(**event(f"w{w} turn {i}", event_id=f"w{w}-{i}")))
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    state = agent.state.load("acme", "user#u1")
    user_turns = [m.event_id for m in state.history if m.role == "user"]
    assert sorted(user_turns) == sorted(f"w{w}-{i}" for w in range(workers) for i in range(per_worker))
    assert state.version == per_worker * workers


def test_the_longest_turns_keep_a_conversation_inside_one_dynamodb_item(make_store) -> None:
    """Ten turns of the longest questions (8,000 four-byte characters) with as long answers are 640 KB, over
    DynamoDB's 400 KB item: each such user's every later event failed. The oldest turns now go first, in both stores."""
    store = make_store()
    long_text = "\U0001f600" * 8000
    if not isinstance(store, SQLiteStateStore):  # DynamoDB refuses the whole history: what keeping fewer turns avoids
        with pytest.raises(ClientError, match="Item size has exceeded"):
            store.save("acme", "user#big", [Message("user", long_text, f"e{i}") for i in range(20)], 0)
    state = store.load("acme", "user#big")
    for i in range(10):
        turn = (Message("user", long_text, f"e{i}"), Message("assistant", long_text, f"e{i}"))
        append_turn(store, "acme", "big", turn, state, max_turns=10, max_attempts=3)
        state = store.load("acme", "user#big")
    ids = [m.event_id for m in state.history]
    assert ids[-2:] == ["e9", "e9"] and 2 <= len(ids) < 20 and len(ids) % 2 == 0
    assert sum(len(m.content.encode()) for m in state.history) <= MAX_HISTORY_BYTES
