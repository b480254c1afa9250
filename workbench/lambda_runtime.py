"""The exported Lambda: SQS batches (raw or SNS-wrapped events) through the same loop that was evaluated.

Powertools does what it already does well: `BatchProcessor` reports partial batch failures, the
idempotency utility (DynamoDB, keyed on tenant and event_id, with the in-progress expiry of the invocation's
remaining time) makes a redelivery a no-op, `Logger` carries the correlation id and `Metrics` emits the per-stage
latencies in embedded metric format. Records go through the same delivery core as the local worker
(`workbench.delivery`): the decision table is its ledger, so a redelivery after the idempotency record expired
neither acts again nor gets stuck.

The config is the evaluated one, unchanged (same config_id); only the backends behind the protocols
are swapped for their cloud twins with the same contracts (see `CLOUD_BACKENDS`).
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, Iterator

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

from workbench.config import AgentConfig
from workbench.delivery import Delivery, Pending
from workbench.events import parse_payload
from workbench.ledger import DynamoDBLedger
from workbench.loop import Agent
from workbench.registry import register

# (family, evaluated kind) -> the cloud backend with the same contract.
CLOUD_BACKENDS = {
    ("index", "chroma"): "workbench.indexes.pinecone:build",
    ("state", "sqlite"): "workbench.state.dynamodb:build",
    ("embedder", "minilm"): "workbench.embedders.onnx_minilm:build",
    ("actuator", "outbox"): "workbench.actuators.log:build",
    ("log", "jsonl"): "workbench.decisionlog:build_none",  # the decision table, the delivery core's ledger, keeps them
}
STAGE_METRICS = {"embed": "embedding_latency_ms", "retrieve": "vector_search_latency_ms", "reason": "reasoning_latency_ms",
                 "total": "decision_latency_ms"}

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "agent-workbench"))
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "AgentWorkbench"))
processor = BatchProcessor(event_type=EventType.SQS)


def bundle_config() -> dict[str, Any]:
    path = Path(os.environ.get("WORKBENCH_CONFIG", Path(__file__).resolve().parent.parent / "config.json"))
    return json.loads(path.read_text())


@lru_cache(maxsize=1)
def agent() -> Agent:
    for (family, kind), target in CLOUD_BACKENDS.items():
        register(family, kind, target)
    config = AgentConfig.from_dict(bundle_config()["config"], source="config.json")
    return Agent.from_config(config, workspace=None, cache_embeddings=False)


@lru_cache(maxsize=1)
def delivery() -> Delivery:
    """The delivery core over DynamoDB: idempotency records keyed as locally, the decision table as ledger."""
    import boto3

    persistence = DynamoDBPersistenceLayer(table_name=os.environ["IDEMPOTENCY_TABLE"])
    ledger = DynamoDBLedger(boto3.resource("dynamodb").Table(os.environ["DECISION_TABLE"]))
    return Delivery(agent(), persistence, ledger, ttl_s=int(os.environ.get("IDEMPOTENCY_TTL_S", "86400")))


@contextmanager
def _batched(event: dict[str, Any]) -> Iterator[dict[tuple[str, str], Pending]]:
    """The batch's records parsed, with one embedding call and one query per tenant for all their events, keyed by
    (messageId, body) for `record_handler`; the processor still settles them record by record."""
    records = [(r["messageId"], r["body"]) for r in event.get("Records") or []
               if isinstance(r, dict) and isinstance(r.get("messageId"), str) and isinstance(r.get("body"), str)]
    with delivery().batch([(body, f"sqs message {mid}") for mid, body in records]) as pending:
        yield dict(zip(records, pending))


def record_handler(record: SQSRecord, batch: dict[tuple[str, str], Pending] | None = None) -> list[dict[str, Any]]:
    """One record's events, with what its batch embedded and retrieved for them when it is in `batch`."""
    pending = (batch or {}).get((record.message_id, record.body))
    source = f"sqs message {record.message_id}"
    outcomes = delivery().deliver_parsed(pending) if pending is not None else delivery().deliver(record.body, source)
    decisions = []
    for outcome in outcomes:
        correlation = outcome.event.correlation if outcome.event else record.message_id
        if outcome.status in ("handled", "duplicate"):
            logger.set_correlation_id(correlation)
            decisions.append(outcome.decision)
            if outcome.status == "handled":
                _emit(outcome.decision or {})
            continue
        # Raising marks this message failed: SQS retries it and, after maxReceiveCount, moves it to the DLQ.
        logger.error("record failed", extra={"status": outcome.status, "reason": outcome.reason, "source": outcome.source,
                                             "correlation_id": correlation})
        raise RuntimeError(outcome.reason)
    return decisions


def _emit(decision: dict[str, Any]) -> None:
    for stage, name in STAGE_METRICS.items():
        metrics.add_metric(name=name, unit=MetricUnit.Milliseconds, value=decision["latency_ms"].get(stage, 0.0))
    metrics.add_metric(name="llm_token_usage", unit=MetricUnit.Count, value=sum(decision["tokens"].values()))


@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    logger.append_keys(config_id=agent().config_id)
    # In-progress records expire with this invocation: a timed-out or crashed attempt frees its events for the retry.
    delivery().idempotency_config.register_lambda_context(context)
    with _batched(event) as batch:
        return process_partial_response(event=event, record_handler=partial(record_handler, batch=batch),
                                        processor=processor, context=context)


# Step Functions mode (deploy.orchestration: step_functions): the SQS consumer starts one execution per event,
# named after the tenant and event id, so a redelivery finds the execution already there (and starts a new attempt
# only if that one closed without success); each step is its own function.

@lru_cache(maxsize=1)
def _stepfunctions() -> Any:
    import boto3

    return boto3.client("stepfunctions")


def _start(record: SQSRecord) -> None:
    from workbench import stages

    for parsed in parse_payload(record.body, source=f"sqs message {record.message_id}"):
        if parsed.error or parsed.event is None:
            logger.error("rejected event", extra={"reason": parsed.error, "source": parsed.source, "correlation_id": record.message_id})
            raise ValueError(parsed.error)
        name = stages.start(_stepfunctions(), os.environ["STATE_MACHINE_ARN"], parsed.event)
        logger.info("execution", extra={"execution": name, "correlation_id": parsed.event.correlation})


def start_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=_start, processor=processor, context=context)


def embed_step(state: dict[str, Any], context: Any) -> dict[str, Any]:
    from workbench import stages

    return stages.run_step(stages.embed, agent(), state, agent().config)


def retrieve_step(state: dict[str, Any], context: Any) -> dict[str, Any]:
    from workbench import stages

    return stages.run_step(stages.retrieve, agent(), state, agent().config)


def reason_step(state: dict[str, Any], context: Any) -> dict[str, Any]:
    from workbench import stages

    return stages.run_step(stages.reason, delivery(), state, agent().config)


def act_step(state: dict[str, Any], context: Any) -> dict[str, Any]:
    from workbench import stages

    return stages.run_step(stages.act, delivery(), state, agent().config)
