"""Dead letters: written whatever the input, with their source, and without the PII they carried."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.events import parse_payload
from workbench.serve.bus import LocalBus
from workbench.serve.deadletter import MAX_CHARS, DeadLetterFile

CARD, EMAIL = "4111.1111.1111.1111", "jörg@bücher.de"


class Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


def cyclic() -> dict:
    d: dict = {"text": f"mail {EMAIL}"}
    d["self"] = d
    return d


ODD = st.sampled_from(
    [
        nested(5000),
        {"a": nested(5000)},
        cyclic(),
        10**5000,
        -(10**4400),
        float("nan"),
        float("inf"),
        Unprintable(),
        {(1, 2): "tuple key", None: Unprintable()},
        object(),
        {1, 2, 3},
        bytearray(b"\xff\xfe"),
    ]
)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.binary(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
ANY = st.one_of(st.text(), st.binary(), JSONISH, ODD)  # st.text() includes lone surrogates such as "\ud800"


@settings(max_examples=300, deadline=None)
@given(raw=ANY, reason=st.one_of(st.text(), ODD), source=st.one_of(st.text(), st.integers(), ODD))
def test_put_never_raises_and_every_line_reads_back(tmp_path_factory, raw, reason, source) -> None:
    path = tmp_path_factory.mktemp("dlq") / "deadletter.jsonl"
    dlq = DeadLetterFile(path)
    dlq.put(raw, reason, source, "parse")
    text = path.read_bytes().decode("utf-8")  # valid UTF-8, whatever came in
    [line] = text.splitlines()
    letter = json.loads(line)
    assert letter["stage"] == "parse" and isinstance(letter["source"], str) and isinstance(letter["reason"], str)
    assert list(dlq) == [letter]


def test_the_source_and_enough_to_diagnose_are_kept(tmp_path) -> None:
    dlq = DeadLetterFile(tmp_path / "d.jsonl")
    dlq.put(
        {"event_id": "e1", "text": f"card {CARD}, mail {EMAIL}"}, f"handle failed on 'card {CARD}'", "events.jsonl:12", "handle"
    )
    dlq.put(f"not json, from {EMAIL}".encode() + b"\xc3\x28", "not valid UTF-8 at byte 27", "msg-7f3a", "parse")
    dlq.put("x" * (MAX_CHARS + 5), "too long", "events.jsonl:13", "parse")
    dlq.put("\ud800 lone surrogate", "bad text", "events.jsonl:14", "parse")
    first, second, third, fourth = list(dlq)
    assert [x["source"] for x in (first, second, third, fourth)] == [
        "events.jsonl:12",
        "msg-7f3a",
        "events.jsonl:13",
        "events.jsonl:14",
    ]
    assert (
        first["raw"] == {"event_id": "e1", "text": "card [CARD], mail [EMAIL]"}
        and first["reason"] == "handle failed on 'card [CARD]'"
    )
    assert second["raw"] == {"bytes": "not json, from [EMAIL]\\xc3("}  # the bad byte is shown where it sits
    assert third["raw"] == "x" * MAX_CHARS + "...[5 more characters]"
    assert fourth["raw"] == "\ud800 lone surrogate"
    stored = (tmp_path / "d.jsonl").read_text()
    assert CARD not in stored and EMAIL not in stored


def test_redaction_follows_the_config(tmp_path) -> None:
    dlq = DeadLetterFile(tmp_path / "d.jsonl", redact_kinds=[])
    dlq.put({"text": EMAIL}, "r", "s", "parse")
    assert list(dlq)[0]["raw"] == {"text": EMAIL}


def test_parse_errors_never_echo_pii() -> None:
    payload = {"event_id": "e1", "tenant": "acme", "user_id": "u1", "text": f"card {CARD} " * 1000, "metadata": {"who": [EMAIL]}}
    [parsed] = parse_payload(payload, max_text_chars=100, source="events.jsonl:3")
    assert parsed.source == "events.jsonl:3"
    assert "text is 25000 characters" in parsed.error and "metadata.who" in parsed.error
    assert CARD not in parsed.error and EMAIL not in parsed.error and "[CARD]" in parsed.error
    [records] = parse_payload({"Records": f"mail {EMAIL}"})
    assert EMAIL not in records.error and "[EMAIL]" in records.error
    [sqs] = parse_payload({"Records": [{"messageId": "m-1", "body": "{oops"}]}, source="events.jsonl:4")
    assert sqs.source == "events.jsonl:4/sqs:m-1"
    [named] = parse_payload({"Records": [{"messageId": f"id {EMAIL}", "body": "{oops"}]}, source="events.jsonl:5")
    assert named.source == "events.jsonl:5/sqs:id [EMAIL]"  # a message id is the sender's text too


def test_bus_reasons_are_redacted_and_storable(tmp_path) -> None:
    bus = LocalBus(tmp_path / "bus.sqlite", max_receives=1)
    bus.publish(json.dumps({"text": f"card {CARD}"}))
    [message] = bus.receive()
    bus.fail(message.receipt, f"ValueError: cannot handle 'card {CARD}' \ud800")
    assert bus.receive(visibility_timeout=0) == []  # past its receive count: dead-lettered with the last error
    [letter] = bus.dead_letters()
    assert CARD not in letter["reason"] and "[CARD]" in letter["reason"] and "\\ud800" in letter["reason"]
    assert json.loads(letter["body"]) == {"text": "card [CARD]"}  # stored redacted, still JSON to redrive


def test_a_payload_that_cannot_be_kept_keeps_its_source_and_reason(tmp_path, monkeypatch) -> None:
    """The fallback used to replace the whole record: source "<class 'str'>", a generic reason, raw null."""
    import workbench.serve.deadletter

    def broken(self, value, depth=0):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(workbench.serve.deadletter._Sanitiser, "value", broken)
    dlq = DeadLetterFile(tmp_path / "d.jsonl")
    dlq.put({"text": f"card {CARD}"}, f"text is too long: 'card {CARD}'", "events.jsonl:7", "parse")
    [letter] = list(dlq)
    assert letter["source"] == "events.jsonl:7" and letter["reason"] == "text is too long: 'card [CARD]'"
    assert letter["stage"] == "parse" and letter["raw"] == {"not_kept": "the payload could not be recorded (RecursionError)"}
