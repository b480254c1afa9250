"""The Lambda runtime in process, on a moto server, around the hashing agent: FIFO batches keep each user's order
when a record fails, every failed record is logged under its own correlation id, and a Step Functions step builds
only the backends it uses."""

import io
import json
import os
import uuid
from types import SimpleNamespace

import pytest
from conftest import event, make_table, sqs_record

from workbench.config import AgentConfig
from workbench.events import Event, fifo_ids

CTX = SimpleNamespace(
    function_name="f",
    memory_limit_in_mb=1024,
    invoked_function_arn="arn:aws:lambda:us-east-1:1:function:f",
    aws_request_id="req-1",
    get_remaining_time_in_millis=lambda: 20000,
)


@pytest.fixture
def runtime(aws, tmp_path, monkeypatch):
    """lambda_handler with the hashing agent, DynamoDB state, idempotency and ledger on moto; the outbox in tmp_path."""
    import boto3

    from workbench.loop import Agent
    from workbench.serve import lambda_handler
    from workbench.state.dynamodb import DynamoDBStateStore
    from workbench.workspace import Workspace

    monkeypatch.setenv("IDEMPOTENCY_TABLE", make_table(f"idem-{uuid.uuid4().hex[:8]}", "id", "expiration").name)
    monkeypatch.setenv("DECISION_TABLE", make_table(f"dec-{uuid.uuid4().hex[:8]}", "pk", "unused").name)
    state = DynamoDBStateStore(
        boto3.resource("dynamodb").Table(make_table(f"st-{uuid.uuid4().hex[:8]}", "pk", "expires_at").name), 1
    )
    agent = Agent.from_config(AgentConfig(embedder={"kind": "hashing"}), Workspace(tmp_path / "ws"), state=state)
    monkeypatch.setattr(lambda_handler, "agent", lambda: agent)
    lambda_handler.delivery.cache_clear()
    yield lambda_handler, tmp_path / "ws" / "outbox.jsonl"
    lambda_handler.delivery.cache_clear()


def _acted(outbox) -> list[str]:
    return [json.loads(line)["event_id"] for line in outbox.read_text().splitlines()] if outbox.exists() else []


def test_a_failed_fifo_record_holds_back_the_rest_of_its_group_only(runtime) -> None:
    lambda_handler, outbox = runtime

    def ok(eid: str, user: str) -> str:
        return json.dumps(event(f"question {eid}", user=user, event_id=eid))

    batch = {
        "Records": [
            sqs_record("a1", ok("a1", "alice"), "acme#alice"),
            sqs_record("b1", ok("b1", "bob"), "acme#bob"),
            sqs_record("a2", "{broken", "acme#alice"),
            sqs_record("a3", ok("a3", "alice"), "acme#alice"),
            sqs_record("b2", ok("b2", "bob"), "acme#bob"),
        ]
    }
    result = lambda_handler.handler(batch, CTX)
    assert result == {"batchItemFailures": [{"itemIdentifier": "a2"}, {"itemIdentifier": "a3"}]}  # a3 must not overtake a2
    assert _acted(outbox) == ["a1", "b1", "b2"]
    # The same records from a standard queue: no order to keep, only the broken one fails.
    plain = {"Records": [sqs_record(r["messageId"] + "-std", r["body"]) for r in batch["Records"]]}
    assert lambda_handler.handler(plain, CTX) == {"batchItemFailures": [{"itemIdentifier": "a2-std"}]}


def test_the_ledger_and_the_idempotency_records_share_one_plain_client(runtime) -> None:
    """One botocore client, so one pool of kept-alive connections: each new TLS connection would load the CAs again."""
    lambda_handler, _ = runtime
    built = lambda_handler.delivery()
    ledger_table = built.ledger._inner.table
    assert ledger_table.client is built.persistence.client and not hasattr(ledger_table, "meta")  # no resource
    assert ledger_table.name == os.environ["DECISION_TABLE"]


def test_every_failed_record_is_logged_under_its_own_correlation_id(runtime, capsys, monkeypatch) -> None:
    lambda_handler, _ = runtime
    logged = io.StringIO()  # the Logger's handler holds the stream it was made with, not pytest's capture
    monkeypatch.setattr(lambda_handler.logger.registered_handler, "stream", logged)
    good = json.dumps(event("first question", user="u1", event_id="good-1", correlation_id="corr-good"))
    invalid = json.dumps({"event_id": "no-text-7", "tenant": "acme", "user_id": "u2"})  # readable, but no text
    mixed = json.dumps([event("fine", user="u3", event_id="mixed-ok"), {"event_id": "mixed-bad", "tenant": "acme"}])
    batch = {
        "Records": [
            sqs_record("m-good", good),
            sqs_record("m-poison", "{nope"),
            sqs_record("m-invalid", invalid),
            sqs_record("m-mixed", mixed),
            sqs_record("m-dup", good),
        ]
    }
    capsys.readouterr()
    result = lambda_handler.handler(batch, CTX)
    assert result == {"batchItemFailures": [{"itemIdentifier": m} for m in ("m-poison", "m-invalid", "m-mixed")]}
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    logs = [json.loads(line) for line in logged.getvalue().splitlines()]
    failed = [(e["correlation_id"], e["message_id"], e["status"]) for e in logs if e["message"] == "record failed"]
    assert failed == [
        ("m-poison", "m-poison", "rejected"),
        ("no-text-7", "m-invalid", "rejected"),
        ("mixed-bad", "m-mixed", "rejected"),
    ]
    assert [e["correlation_id"] for e in logs if e["message"].startswith("duplicate")] == ["corr-good"]
    assert all(e["function_request_id"] == "req-1" for e in logs)  # inject_lambda_context
    counts = {k: sum(len(m.get(k, [])) for m in emf) for k in ("records_handled", "records_rejected", "records_duplicate")}
    assert counts == {"records_handled": 2, "records_rejected": 3, "records_duplicate": 1}

    # A rejected record's own id is the sender's text, never validated: logged redacted, and a lone surrogate escaped
    logged.seek(0)
    logged.truncate()
    raw = '{"event_id": "e\\ud800", "tenant": "acme", "user_id": "u", "correlation_id": "4111 1111 1111 1111 bob@example.com"}'
    ok = sqs_record("m-ok", json.dumps(event("fine", user="u4", event_id="ok-2")))  # Powertools raises when every record fails
    lambda_handler.handler(
        {"Records": [ok, sqs_record("m-pii", raw), sqs_record("m-sur", '{"event_id": "e\\ud800", "tenant": "acme"}')]}, CTX
    )
    failed = [e["correlation_id"] for e in map(json.loads, logged.getvalue().splitlines()) if e["message"] == "record failed"]
    assert failed == ["[CARD] [EMAIL]", "e\\ud800"]


def test_a_handler_exception_quoting_pii_is_logged_redacted(runtime, monkeypatch, caplog) -> None:
    """The Lambda logged the failed record's reason, a handler's exception text, unredacted; so did the delivery core."""
    lambda_runtime, _ = runtime
    logged = io.StringIO()
    monkeypatch.setattr(lambda_runtime.logger.registered_handler, "stream", logged)
    card, email = "4111 1111 1111 1111", "jörg@bücher.de"

    def refuse(decision):
        raise ValueError(f"receiver refused 'card {card}, mail {email}'")

    act = lambda_runtime.agent().act
    monkeypatch.setattr(lambda_runtime.agent(), "act", lambda d: refuse(d) if d.event_id == "pii-1" else act(d))
    batch = [sqs_record("m-1", json.dumps(event("a question", event_id="pii-1"))), sqs_record("m-2", json.dumps(event("fine")))]
    assert lambda_runtime.handler({"Records": batch}, CTX) == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    [failed] = [json.loads(line) for line in logged.getvalue().splitlines() if '"record failed"' in line]
    assert failed["reason"] == "ValueError: receiver refused 'card [CARD], mail [EMAIL]'"
    everything = logged.getvalue() + caplog.text
    assert "receiver refused" in caplog.text and card not in everything and email not in everything


def test_fifo_ids_group_by_user_and_dedup_by_event() -> None:
    a, b = Event(**event("q", user="alice", event_id="e1")), Event(**event("other q", user="alice", event_id="e2"))
    assert fifo_ids(a)["MessageGroupId"] == fifo_ids(b)["MessageGroupId"] == "acme#alice"
    assert fifo_ids(a)["MessageDeduplicationId"] != fifo_ids(b)["MessageDeduplicationId"]
    assert fifo_ids(a) == fifo_ids(Event(**event("a republish, other text", user="alice", event_id="e1")))
    for user in ("ü ser with spaces", "x" * 200):  # SNS takes 128 printable ASCII characters at most
        group = fifo_ids(Event(**event("q", user=user)))["MessageGroupId"]
        assert group.startswith("acme#") and len(group) <= 128 and all(33 <= ord(c) <= 126 for c in group)
    assert fifo_ids(Event(**event("q", user="ü"))) != fifo_ids(Event(**event("q", user="ö")))


def test_each_step_function_builds_only_what_its_step_uses_and_the_workflow_still_decides(
    aws, tmp_path, monkeypatch, capfd
) -> None:
    from pinecone_double import PineconeDouble

    from workbench.embedders.hashing import HashingEmbedder
    from workbench.indexes.pinecone import PineconeIndex, connect
    from workbench.serve import lambda_handler

    (tmp_path / "config.json").write_text(
        json.dumps({"config": AgentConfig(embedder={"kind": "hashing"}).model_dump(mode="json")})
    )
    for name, key, ttl in (
        ("STATE_TABLE", "pk", "expires_at"),
        ("IDEMPOTENCY_TABLE", "id", "expiration"),
        ("DECISION_TABLE", "pk", "unused"),
    ):
        monkeypatch.setenv(name, make_table(f"{key}-{uuid.uuid4().hex[:8]}", key, ttl).name)
    double = PineconeDouble(384)
    texts = ["Who won Super Bowl 50? The Denver Broncos won Super Bowl 50.", "Oxygen is a chemical element."]
    PineconeIndex(connect(double.host, double.api_key)).upsert(
        ["sb-0", "ox-0"], HashingEmbedder(384).embed(texts), texts, [{"tenant": "acme"}, {"tenant": "acme"}]
    )
    monkeypatch.setenv("WORKBENCH_CONFIG", str(tmp_path / "config.json"))
    monkeypatch.setenv("PINECONE_HOST", double.host)
    monkeypatch.setenv("PINECONE_API_KEY", double.api_key)
    state = {"event": json.loads(Event(**event("Who won Super Bowl 50?", user="sfn", event_id="sfn-1")).model_dump_json())}
    absent = {"embed": "index", "retrieve": "embedder", "reason": "index", "act": "state"}
    try:
        for step in ("embed", "retrieve", "reason", "act"):
            monkeypatch.setenv("WORKBENCH_STEP", step)  # as the template sets it, one function per step
            for cached in (lambda_handler.config, lambda_handler.agent, lambda_handler.delivery):
                cached.cache_clear()
            lambda_handler.init()
            with pytest.raises(AttributeError, match=f"the {step} step builds no {absent[step]}"):
                getattr(lambda_handler.agent(), absent[step]).anything  # noqa: B018 - the attribute access is what raises
            state = getattr(lambda_handler, f"{step}_step")(state, CTX)
    finally:
        double.close()
        for cached in (lambda_handler.config, lambda_handler.agent, lambda_handler.delivery):
            cached.cache_clear()
    assert state["event_id"] == "sfn-1" and state["answer"] in texts[0]  # reasoned on the retrieved passage, not declined
    assert '"event_id": "sfn-1"' in capfd.readouterr().out  # the Act step's outbox line


def test_a_long_conversation_in_emoji_is_stored_and_not_retried_forever(runtime) -> None:
    """Powertools stored the idempotency response as ASCII JSON (an emoji as the 12 bytes `\\ud83d\\ude00`, 4 in
    UTF-8): a user's fourth 8,000-emoji question made a decision over DynamoDB's item limit there, within the bound the
    export checks (limits.py, 4 bytes a character). The action was taken, then the record failed at every retry."""
    lambda_handler, outbox = runtime
    text = "\U0001f600" * 7990 + " why?"
    for i in range(4):
        batch = {"Records": [sqs_record(f"m{i}", json.dumps(event(text, event_id=f"big{i}")))]}
        assert lambda_handler.handler(batch, CTX) == {"batchItemFailures": []}
    assert lambda_handler.handler(batch, CTX) == {"batchItemFailures": []}  # the redelivery answered from the record
    assert _acted(outbox) == ["big0", "big1", "big2", "big3"]


def test_bad_input_goes_to_the_dlq_at_once_redacted_with_its_reason_and_source(runtime, monkeypatch) -> None:
    """It failed and was retried up to maxReceiveCount (raising the error rate each time), then SQS moved the body
    as sent, with the reason left in a log line."""
    import boto3

    lambda_handler, outbox = runtime
    sqs = boto3.client("sqs")
    dlq = sqs.create_queue(QueueName=f"dlq-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", dlq)
    card = "4111 1111 1111 1111"
    batch = {
        "Records": [
            sqs_record("m-bad", json.dumps({**event(f"card {card}", event_id="pii"), "colour": "red"})),
            sqs_record("m-good", json.dumps(event("fine?", event_id="ok"))),
            sqs_record("m-mixed", json.dumps([event("retry me?", event_id="flaky"), {"event_id": "x"}])),
        ]
    }
    real_act = lambda_handler.agent().actuator.act

    def act(decision, key):
        if decision.event_id == "flaky":
            raise ConnectionError("actuator unreachable")
        real_act(decision, key)

    monkeypatch.setattr(lambda_handler.agent().actuator, "act", act)
    # The mixed message is retried whole (its event may yet succeed); the bad one is done with.
    assert lambda_handler.handler(batch, CTX) == {"batchItemFailures": [{"itemIdentifier": "m-mixed"}]}
    assert _acted(outbox) == ["ok"]
    [letter] = sqs.receive_message(QueueUrl=dlq, MessageAttributeNames=["All"], MaxNumberOfMessages=10)["Messages"]
    attrs = {k: v["StringValue"] for k, v in letter["MessageAttributes"].items()}
    assert attrs == {
        "error": "sqs message m-bad: colour: unknown field (put extra data under metadata)",
        "source": "sqs message m-bad",
    }
    body = json.loads(letter["Body"])
    assert body["event_id"] == "pii" and card not in letter["Body"] and "[CARD]" in body["text"]  # keys kept, PII not
