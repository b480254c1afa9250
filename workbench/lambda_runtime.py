"""The exported Lambda: SQS batches (raw or SNS-wrapped events) through the same loop that was evaluated.

Powertools does what it already does well: `BatchProcessor` reports partial batch failures, the
idempotency utility (DynamoDB, keyed on event_id) makes a redelivery a no-op, `Logger` carries the
correlation id and `Metrics` emits the per-stage latencies in embedded metric format.

The config is the evaluated one, unchanged (same config_id); only the backends behind the protocols
are swapped for their cloud twins with the same contracts (see `CLOUD_BACKENDS`).
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig, idempotent_function

from workbench.config import AgentConfig
from workbench.events import Event, parse_payload
from workbench.idempotency import KEY_PREFIX
from workbench.loop import Agent
from workbench.registry import register

# (family, evaluated kind) -> the cloud backend with the same contract.
CLOUD_BACKENDS = {
    ("index", "chroma"): "workbench.indexes.pinecone:build",
    ("state", "sqlite"): "workbench.state.dynamodb:build",
    ("embedder", "minilm"): "workbench.embedders.onnx_minilm:build",
    ("actuator", "outbox"): "workbench.actuators.log:build",
    ("log", "jsonl"): "workbench.decisionlog.dynamodb:build",
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
def handle_once() -> Any:
    """`agent().handle`, made idempotent on event_id with Powertools (records in the idempotency table)."""
    persistence = DynamoDBPersistenceLayer(table_name=os.environ["IDEMPOTENCY_TABLE"])
    config = IdempotencyConfig(event_key_jmespath="event_id", expires_after_seconds=int(os.environ.get("IDEMPOTENCY_TTL_S", "86400")))

    # The same keys as the local worker's records (workbench.idempotency): `workbench.handle#md5(event_id)`.
    @idempotent_function(data_keyword_argument="event", config=config, persistence_store=persistence, key_prefix=KEY_PREFIX)
    def handle(event: dict[str, Any]) -> dict[str, Any]:
        decision = agent().handle(Event.model_validate(event)).to_dict()
        for stage, name in STAGE_METRICS.items():
            metrics.add_metric(name=name, unit=MetricUnit.Milliseconds, value=decision["latency_ms"].get(stage, 0.0))
        tokens = sum(decision["tokens"].values())
        metrics.add_metric(name="llm_token_usage", unit=MetricUnit.Count, value=tokens)
        return decision

    return handle


def record_handler(record: SQSRecord) -> list[dict[str, Any]]:
    decisions = []
    for parsed in parse_payload(record.body):
        if parsed.error:
            # Raising marks this message failed: SQS retries it and, after maxReceiveCount, moves it to the DLQ.
            logger.error("rejected event", extra={"reason": parsed.error, "message_id": record.message_id})
            raise ValueError(parsed.error)
        logger.set_correlation_id(parsed.event.correlation)
        decisions.append(handle_once()(event=parsed.event.model_dump(mode="json")))
    return decisions


@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    logger.append_keys(config_id=agent().config_id)
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)


# Step Functions mode (deploy.orchestration: step_functions): the SQS consumer starts one execution per event,
# named after the event id, so a redelivery finds the execution already there; each step is its own function.

@lru_cache(maxsize=1)
def _stepfunctions() -> Any:
    import boto3

    return boto3.client("stepfunctions")


def _start(record: SQSRecord) -> None:
    client = _stepfunctions()
    for parsed in parse_payload(record.body):
        if parsed.error:
            logger.error("rejected event", extra={"reason": parsed.error, "message_id": record.message_id})
            raise ValueError(parsed.error)
        name = "".join(c if c.isalnum() or c in "-_" else "-" for c in parsed.event.event_id)[:80]
        try:
            client.start_execution(stateMachineArn=os.environ["STATE_MACHINE_ARN"], name=name,
                                   input=json.dumps({"event": parsed.event.model_dump(mode="json")}))
        except client.exceptions.ExecutionAlreadyExists:
            logger.info("duplicate delivery: execution exists", extra={"event_id": parsed.event.event_id})


def start_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=_start, processor=processor, context=context)


def embed_step(state: dict[str, Any], context: Any) -> dict[str, Any]:
    from workbench import stages

    return stages.embed(agent(), state)


def retrieve_step(state: dict[str, Any], context: Any) -> dict[str, Any]:
    from workbench import stages

    return stages.retrieve(agent(), state)


def reason_step(state: dict[str, Any], context: Any) -> dict[str, Any]:
    from workbench import stages

    return stages.reason(agent(), state)


def act_step(state: dict[str, Any], context: Any) -> dict[str, Any]:
    from workbench import stages

    return stages.act(agent(), state)
