"""The bundle README's cost is what an event really spends: the evaluated turns, published to SNS, delivered to SQS and
drained through the exported handler on moto, every AWS call counted and every DynamoDB read and write sized from the
item as stored before and after it (tests/bundle_driver.py, METERED)."""

import json
import re
import uuid

import boto3
import pytest
from bundle_driver import aws_tables, run_metered
from conftest import event
from pinecone_double import PineconeDouble

from workbench.deploy.pinecone_loader import load_into_pinecone
from workbench.deploy.readme import USAGE_ROWS
from workbench.indexes.pinecone import connect
from workbench.lab.aws_usage import Usage
from workbench.lab.cost import cost_per_million_events

pytestmark = pytest.mark.xdist_group("bundle")


def readme_rows(text: str) -> dict[str, float]:
    """Every `| label | number |` row of the README's tables, dollars and thousands separators dropped."""
    return {m[1]: float(m[2].replace(",", "")) for m in re.finditer(r"^\| ([^|]+?) \| \$?([\d,.]+) \|$", text, re.M)}


def test_the_readme_cost_is_what_the_handler_spends_on_moto(exported, aws) -> None:
    from workbench.indexes.chroma import ChromaIndex

    result, _, report = exported
    cfg = result.config
    events = [
        event(turn.question, user=case.user_id, tenant=case.tenant, event_id=f"{case.case_id}:{t}")
        for case in result.evalset.cases
        for t, turn in enumerate(case.turns)
    ]  # the evaluated turns, in order
    assert len(events) % cfg.deploy.sqs_batch_size == 0  # full batches, as the estimate assumes
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = sns.create_topic(Name=f"events-{uuid.uuid4().hex[:8]}")["TopicArn"]
    queue = sqs.create_queue(QueueName=f"events-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    for e in events:
        sns.publish(TopicArn=topic, Message=json.dumps(e))
    double = PineconeDouble(cfg.embedder.dimension)
    try:
        load_into_pinecone(ChromaIndex(result.index_path, cfg.index), cfg, connect(double.host, "pc-test-key"), progress=False)
        metered = run_metered(report.out, aws, aws_tables(), double.host, queue, arn, len(events), cfg.deploy.sqs_batch_size)
    finally:
        double.close()

    n = len(events)
    assert metered["results"] == [{"batchItemFailures": []}] * metered["invocations"]
    calls = metered["calls"]
    measured = Usage(
        dynamodb_write_units=metered["units"]["write"] / n,
        dynamodb_read_units=metered["units"]["read"] / n,
        # SNS's delivery into the queue is one SendMessage per message; then the receives and batch deletes
        sqs_requests=(metered["received"] + calls["sqs.ReceiveMessage"] + calls["sqs.DeleteMessageBatch"]) / n,
        sns_requests=1.0,
        lambda_requests=metered["invocations"] / n,
        vector_queries=double.requests.count("/query") / n,
    )
    readme = readme_rows((report.out / "README.md").read_text())
    for key, label in USAGE_ROWS.items():
        assert getattr(measured, key) == pytest.approx(readme[label], rel=0.10, abs=0.01), label
    cost = cost_per_million_events(cfg, measured, 0, 0, 0, 0, 0)
    for part in ("dynamodb", "sqs", "sns"):
        assert cost[f"cost_{part}"] == pytest.approx(readme[part], rel=0.10), part
    # The decision is written three times (ledger claim, acted mark, idempotency response): far from one unit per event.
    assert measured.dynamodb_write_units > 10
