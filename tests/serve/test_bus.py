"""The local bus keeps SQS's contract: visibility timeout, redelivery, delete, DLQ after max receives, redrive."""

from workbench.serve.bus import LocalBus


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_visibility_redelivery_and_delete(tmp_path) -> None:
    clock = Clock()
    bus = LocalBus(tmp_path / "bus.db", max_receives=3, clock=clock)
    mid = bus.publish(b"hello")
    [first] = bus.receive(10, visibility_timeout=30)
    assert (first.id, first.body, first.receive_count) == (mid, b"hello", 1)
    assert bus.receive(10, 30) == []  # invisible while in flight
    clock.now += 31  # the consumer died: the message comes back
    [again] = bus.receive(10, 30)
    assert again.receive_count == 2 and again.receipt != first.receipt
    assert not bus.delete(first.receipt)  # a stale receipt deletes nothing
    assert bus.delete(again.receipt)
    assert bus.counts() == {"visible": 0, "in_flight": 0, "dead": 0}


def test_max_receives_dead_letters_with_the_last_reason_and_redrive(tmp_path) -> None:
    clock = Clock()
    bus = LocalBus(tmp_path / "bus.db", max_receives=2, clock=clock)
    mid = bus.publish("flaky")
    for _ in range(2):
        [m] = bus.receive(1, 30)
        bus.fail(m.receipt, "ConnectionError: reasoner unreachable")
    assert bus.receive(1, 30) == []
    [letter] = bus.dead_letters()
    assert letter["id"] == mid and letter["receive_count"] == 2 and "reasoner unreachable" in letter["reason"]
    assert bus.redrive() == 1
    [m] = bus.receive(1, 30)
    assert m.receive_count == 1 and bus.counts()["dead"] == 0


def test_poison_goes_straight_to_the_dlq(tmp_path) -> None:
    bus = LocalBus(tmp_path / "bus.db")
    bus.publish(b"{oops")
    [m] = bus.receive()
    bus.dead_letter(m, "invalid JSON")
    assert bus.dead_letters()[0]["reason"] == "invalid JSON" and bus.counts()["visible"] == 0


def test_extending_visibility_keeps_a_message_and_a_spent_receipt_extends_nothing(tmp_path) -> None:
    clock = Clock()
    bus = LocalBus(tmp_path / "bus.db", clock=clock)
    bus.publish("slow")
    [m] = bus.receive(1, 10)
    clock.now += 8
    assert bus.extend_visibility([m.receipt, "stale"], 10) == {m.receipt}  # ChangeMessageVisibility: 10 s from now
    clock.now += 8
    assert bus.receive(1, 10) == []  # 16 s after the receive, still invisible
    bus.fail(m.receipt, "ConnectionError", retry_after=0)
    assert bus.extend_visibility([m.receipt], 10) == set()  # a failed message's receipt is spent: it comes back
    [again] = bus.receive(1, 10)
    assert again.receive_count == 2


def test_dead_letters_are_kept_redacted_with_their_keys_and_redrive(tmp_path) -> None:
    import json

    bus = LocalBus(tmp_path / "bus.db", max_receives=1)
    inner = {"event_id": "ev@1", "tenant": "acme", "user_id": "u", "text": "card 4111 1111 1111 1111, mail bob@example.com"}
    bus.publish(json.dumps({"Type": "Notification", "MessageId": "n1", "Message": json.dumps(inner)}))
    bus.publish(b"{broken jane@example.com")
    for m in bus.receive(10, 30):
        bus.dead_letter(m, "rejected")
    stored = [bytes(row[0]) for row in bus._sqlite.conn().execute("SELECT body FROM dead_letters")]
    assert not any(b"4111" in body or b"@example.com" in body for body in stored)  # redacted at rest, not only when shown
    envelope = json.loads(bus.dead_letters()[0]["body"])
    assert json.loads(envelope["Message"]) == {
        **inner,
        "text": "card [CARD], mail [EMAIL]",
    }  # ids as sent: a redrive is the same event
    assert bus.dead_letters()[1]["body"] == "{broken [EMAIL]"
    assert bus.redrive() == 2 and json.loads(json.loads(bus.receive(1, 30)[0].body)["Message"])["event_id"] == "ev@1"


def test_a_heartbeat_keeps_a_held_message_and_gives_up_one_received_elsewhere(tmp_path) -> None:
    import time

    from workbench.serve.bus import Heartbeat

    bus = LocalBus(tmp_path / "bus.db")
    bus.publish("held")
    since = time.time()
    [m] = bus.receive(1, 1)
    with bus.heartbeat([m], 1, since) as beat:
        time.sleep(1.5)  # past the visibility timeout
        assert bus.receive(1, 1) == [] and beat.time_left(m) > 0
    assert bus.delete(m.receipt)  # still its receipt: nobody else received it
    bus.publish("stalled")
    since = time.time()
    [stalled] = bus.receive(1, 1)
    time.sleep(1.1)  # a worker suspended past its timeout, no beat: another receive takes the message
    assert bus.receive(1, 1)
    assert Heartbeat(bus, [stalled.receipt], 1, since).time_left(stalled) == 0  # skipped, not handled twice
    with bus.heartbeat([stalled], 1, time.time()) as resumed:
        time.sleep(0.5)  # a beat ran after the worker resumed: fresh, but it did not reach the stolen receipt
        assert resumed.time_left(stalled) == 0


def test_a_body_that_cannot_be_redacted_still_leaves_the_queue_with_its_id_and_reason(tmp_path, monkeypatch) -> None:
    """A redaction failure must not raise out of dead_letter or receive: a raise at receive stopped every worker."""
    import json

    import workbench.serve.deadletter

    def broken(value):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(workbench.serve.deadletter, "redacted", broken)  # what the bus's redacted_body calls
    bus = LocalBus(tmp_path / "bus.db", max_receives=1)
    poison, stale = bus.publish(b'{"text": "4111 1111 1111 1111"}'), bus.publish(b'{"text": "x"}')
    for m in bus.receive(10, 30):
        if m.id == poison:
            bus.dead_letter(m, "rejected: no event_id")  # straight to the DLQ
        else:
            bus.fail(m.receipt, "ConnectionError: down")  # past its one receive: moved by the next receive
    assert bus.receive(10, 30) == [] and bus.counts() == {"visible": 0, "in_flight": 0, "dead": 2}
    letters = {letter["id"]: letter for letter in bus.dead_letters()}
    for mid in (poison, stale):
        assert json.loads(letters[mid]["body"])["message_id"] == mid and "4111" not in letters[mid]["body"]
        assert "body not kept: redaction failed (RecursionError)" in letters[mid]["reason"]
    assert letters[poison]["reason"].startswith("rejected: no event_id")
    assert "last error: ConnectionError: down" in letters[stale]["reason"]


def test_bodies_that_are_not_json_are_capped_like_the_dead_letter_file(tmp_path) -> None:
    """Only parsed JSON was bounded: a 200 KB line of text, or JSON nested past the parser, was kept whole."""
    from workbench.serve.deadletter import MAX_CHARS

    bus = LocalBus(tmp_path / "bus.db")
    bus.publish(b"mail jane@example.com " + b"x" * 200_000)
    bus.publish(b"[" * 100_000)
    for m in bus.receive(10, 30):
        bus.dead_letter(m, "rejected")
    text, deep = (letter["body"] for letter in bus.dead_letters())
    assert text.startswith("mail [EMAIL] x") and text.endswith("more characters]") and len(text) < MAX_CHARS + 40
    assert deep.startswith("[[[") and deep.endswith("more characters]") and len(deep) < MAX_CHARS + 40
