"""Envelope parsing: raw, SNS, SQS and SNS-in-SQS; bad input is named, never raised."""

import json

import pytest
from conftest import event
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.events import parse_payload


def _nested(flt: dict, levels: int) -> dict:
    for _ in range(levels):
        flt = {"$and": [flt]}
    return flt


def sns(message: str, mid: str = "sns-1") -> dict:
    return {"Records": [{"EventSource": "aws:sns", "Sns": {"MessageId": mid, "Message": message}}]}


def sqs(*bodies: str) -> dict:
    return {"Records": [{"messageId": f"m{i}", "body": b} for i, b in enumerate(bodies)]}


def test_raw_json_string_and_bytes() -> None:
    payload = json.dumps(event("hello", metadata={"lang": "en"}))
    for form in (payload, payload.encode(), json.loads(payload)):
        [parsed] = parse_payload(form)
        assert parsed.error is None
        assert parsed.event.text == "hello" and parsed.event.metadata == {"lang": "en"}
        assert parsed.event.correlation == parsed.event.event_id


def test_sns_sqs_and_sns_inside_sqs_unwrap_to_the_same_event() -> None:
    inner = json.dumps(event("hi", event_id="x1"))
    notification = json.dumps({"Type": "Notification", "MessageId": "n1", "Message": inner})
    for envelope, source in (
        (sns(inner), "events.jsonl:7/sns:sns-1"),
        (sqs(inner), "events.jsonl:7/sqs:m0"),
        (sqs(notification), "events.jsonl:7/sqs:m0/sns:n1"),
        (json.loads(notification), "events.jsonl:7/sns:n1"),
        ({"Records": [{"body": inner}]}, "events.jsonl:7.Records[0]"),
    ):
        [parsed] = parse_payload(envelope, source="events.jsonl:7")
        assert parsed.event is not None and parsed.event.event_id == "x1"
        assert parsed.source == source


def test_one_bad_record_does_not_sink_the_batch() -> None:
    good = json.dumps(event("fine", event_id="ok"))
    results = parse_payload(sqs(good, "{not json", json.dumps(event("", event_id="empty")), good))
    assert [r.event.event_id if r.event else None for r in results] == ["ok", None, None, "ok"]
    assert results[1].source == "payload/sqs:m1" and "invalid JSON" in results[1].error
    assert results[2].error == "payload/sqs:m2: text: text is empty (got '')"


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"\xff\xfe{}", "not valid UTF-8 at byte 0"),
        ("[1", "invalid JSON"),
        ("42", "expected a JSON object, got int"),
        ({"tenant": "acme", "user_id": "u", "text": "x"}, "event_id: missing"),
        ({**event("x"), "user_id": 7}, "user_id: Input should be a valid string (got 7)"),
        ({**event("x"), "tenant": "a b"}, "tenant: String should match pattern"),
        ({**event("x"), "colour": "red"}, "colour: unknown field (put extra data under metadata)"),
        ({**event("x"), "metadata": {"k": [1]}}, "metadata.k"),
        ({**event("x"), "timestamp": "yesterday"}, "timestamp"),
        (event("y" * 8001), "text is 8001 characters, over the limit of 8000"),
        (event("   "), "text is empty"),
        ({"Records": "nope"}, "Records: expected a non-empty list"),
        ({"Records": []}, "Records: expected a non-empty list"),
        ([], "empty list, no events"),
        ({"Records": [{"foo": 1}]}, "neither an SNS record"),
        ('{"event_id": "e", "tenant": "acme", "tenant": "globex", "user_id": "u", "text": "x"}', "duplicate key 'tenant'"),
        ('{"event_id": "e", "tenant": "acme", "user_id": "u", "text": "x", "metadata": {"n": NaN}}', "NaN is not a JSON number"),
        ('{"event_id": "e", "tenant": "acme", "user_id": "u", "text": "x", "metadata": {"n": -Infinity}}', "-Infinity is not"),
        ({**event("x"), "metadata": {"n": float("inf")}}, "metadata.n.float: Input should be a finite number"),
        ({**event("x"), "correlation_id": "c" * 257}, "correlation_id: String should have at most 256 characters"),
        ({**event("x"), "filter": _nested({"article": "Oxygen"}, 17)}, "$and nested over 16 levels deep"),
    ],
)
def test_bad_input_is_named(payload, message) -> None:
    [parsed] = parse_payload(payload)
    assert parsed.event is None
    assert message in parsed.error


def test_a_reason_is_redacted_whole_not_only_the_value_it_quotes() -> None:
    """The filter validator's own message quoted the value: "expected a number, got '4111 1111 1111 1111 ...'"."""
    card, email = "4111 1111 1111 1111", "jörg@bücher.de"
    [value] = parse_payload({**event("q"), "filter": {"article": {"$gt": f"{card} {email}"}}}, source="s")
    [key] = parse_payload({**event("q"), "extra " + email: 1}, source="s")
    for parsed in (value, key):
        assert parsed.error and card not in parsed.error and email not in parsed.error
    assert "expected a number, got '[CARD] [EMAIL]'" in value.error and "extra [EMAIL]: unknown field" in key.error


def test_a_bom_is_tolerated_and_a_correlation_id_is_redacted() -> None:
    [parsed] = parse_payload(
        b"\xef\xbb\xbf" + json.dumps(event("hello", correlation_id="mail a@b.example, card 4111 1111 1111 1111")).encode()
    )
    assert parsed.error is None and parsed.event.correlation == "mail [EMAIL], card [CARD]"
    [deep] = parse_payload(event("hello", filter=_nested({"article": "Oxygen"}, 16)))
    assert deep.error is None  # 16 levels is the limit, not past it


def test_the_text_limit_is_configurable() -> None:
    [parsed] = parse_payload(event("z" * 50), max_text_chars=10)
    assert "over the limit of 10" in parsed.error


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
field_values = st.one_of(json_values, st.text(max_size=30))
event_like = st.fixed_dictionaries(
    {},
    optional={
        "event_id": field_values,
        "tenant": field_values,
        "user_id": field_values,
        "text": field_values,
        "channel": field_values,
        "metadata": field_values,
        "timestamp": field_values,
        "junk": json_values,
    },
)


def envelopes(inner):
    as_text = inner.map(json.dumps)
    return st.one_of(
        inner,
        as_text,
        as_text.map(str.encode),
        st.binary(max_size=40),
        as_text.map(lambda m: {"Records": [{"Sns": {"Message": m}}]}),
        st.lists(as_text, max_size=3).map(
            lambda bodies: {"Records": [{"messageId": str(i), "body": b} for i, b in enumerate(bodies)]}
        ),
        json_values,
    )


@settings(max_examples=400, deadline=None)
@given(payload=envelopes(event_like))
def test_malformed_input_never_raises_and_every_record_is_accounted_for(payload) -> None:
    results = parse_payload(payload)
    assert results
    for r in results:
        assert (r.event is None) != (r.error is None)
        if r.error:
            assert r.error.startswith(r.source) or r.source in r.error
        else:
            assert r.event.text.strip() and len(r.event.text) <= 8000


def test_a_timestamp_without_an_offset_is_utc_whatever_the_machine() -> None:
    """A naive timestamp was read as local time: `timestamp()` of year 1 then raised in the loop, so a bad-input
    event failed and was retried until its receive count ran out, instead of being handled."""
    [parsed] = parse_payload({**event("x"), "timestamp": "0001-01-01T00:00:00"})
    assert parsed.event.timestamp.utcoffset().total_seconds() == 0
    assert parsed.event.timestamp.timestamp() == -62135596800.0


def test_a_filter_holding_a_lone_surrogate_is_rejected_naming_it() -> None:
    """Pinecone's JSON cannot carry it: the event would fail at every retry instead of being dead-lettered once."""
    for flt in ('{"\\ud800": "a"}', '{"topic": {"$in": ["ok", "\\udfff"]}}'):
        [parsed] = parse_payload(json.dumps(event("x"))[:-1] + f', "filter": {flt}}}')
        assert parsed.event is None and "filter: text that cannot be encoded as UTF-8" in parsed.error


def test_a_payload_holds_at_most_one_sqs_receive_of_records() -> None:
    """A 256 KB body could hold thousands of events: its Lambda record ran past the function's timeout, every retry
    embedding them all again, and took the batch's other messages to the DLQ with it. Refused whole, at once."""
    many = json.dumps([event(f"q{i}?") for i in range(11)])
    nested = sqs(json.dumps(sqs(*[json.dumps(event(f"q{i}?")) for i in range(11)])))  # an envelope inside a body
    for payload in (many, nested, [[event("a?")] * 6] * 2):
        [parsed] = parse_payload(payload, source="m1")
        assert parsed.event is None and "at most 10 records" in parsed.error and parsed.error.startswith("m1")
    [_, refused] = parse_payload(sqs(json.dumps(event("a?")), many))  # in an invocation, each body on its own
    assert "at most 10 records" in refused.error
    assert len(parse_payload([event(f"q{i}?") for i in range(10)])) == 10
    # An invocation's own records are bounded by AWS (a batch of up to 10,000), not by what a body may hold.
    batch = parse_payload(sqs(*[json.dumps(event(f"q{i}?")) for i in range(25)]))
    assert len(batch) == 25 and all(p.event for p in batch)
