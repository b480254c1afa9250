"""The ledger on DynamoDB (moto), through boto3's Table resource and through the Lambda's `ClientTable`: a decision
larger than an item's 400 KB as JSON is stored compressed and read back whole; one written before compression still
reads; escalation is a step of its own."""

import json
import uuid

import pytest
from conftest import make_table

from workbench.serve.ledger import DynamoDBLedger, decision_of


@pytest.fixture(params=["resource", "client"])
def on(request):
    """How the ledger reaches its table (the test itself reads it through the resource)."""
    import boto3

    from workbench.serve.dynamodb_table import ClientTable

    return (
        (lambda table: table)
        if request.param == "resource"
        else (lambda table: ClientTable(boto3.client("dynamodb"), table.name))
    )


def _big_decision() -> dict:
    """The reviewer's case: top_k 100 chunks of 3,000 characters, in the contexts and again in the prompt."""
    contexts = [f"Chunk {i}: " + " ".join(f"word{(i * 31 + j) % 997}" for j in range(330))[:2990] for i in range(100)]
    return {"event_id": "big", "tenant": "acme", "contexts": contexts, "prompt": "\n---\n".join(contexts), "answer": "a"}


def test_a_decision_over_the_item_limit_as_json_is_stored_and_read_back(aws, on) -> None:
    table = make_table(f"decisions-{uuid.uuid4().hex[:8]}", "pk", "unused")
    ledger = DynamoDBLedger(on(table))
    decision = _big_decision()
    assert len(json.dumps(decision).encode()) > 400 * 1024  # what once raised "Item size has exceeded the maximum"
    assert ledger.claim("acme#big", decision) == (decision, True)
    assert ledger.claim("acme#big", {"other": 1}) == (decision, False)
    ledger.mark_acted("acme#big", decision)
    ledger.mark_escalated("acme#big")
    entry = ledger.get("acme#big")
    assert entry.decision == decision and entry.acted and entry.escalated
    [item] = table.scan()["Items"]
    assert decision_of(item) == decision and "decision" not in item


def test_an_item_written_as_json_text_before_compression_still_reads(aws, on) -> None:
    table = make_table(f"decisions-{uuid.uuid4().hex[:8]}", "pk", "unused")
    table.put_item(Item={"pk": "acme#old", "decision": json.dumps({"answer": "8"}), "acted": False})
    ledger = DynamoDBLedger(on(table))
    assert ledger.get("acme#old").decision == {"answer": "8"} and not ledger.get("acme#old").escalated
    ledger.mark_acted("acme#old", {"answer": "8"})
    [item] = table.scan()["Items"]
    assert decision_of(item) == {"answer": "8"} and "decision" not in item  # rewritten compressed
