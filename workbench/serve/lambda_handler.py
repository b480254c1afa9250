"""The exported Lambda: SQS batches (raw or SNS-wrapped events) through the same loop that was evaluated.

Powertools does what it already does well: `BatchProcessor` reports partial batch failures (on a FIFO queue,
`SqsFifoPartialProcessor` also fails the rest of a failed message's group, so no event overtakes an earlier one of
its user), the idempotency utility (DynamoDB, keyed on tenant and event_id, with the in-progress expiry of the
invocation's remaining time) makes a redelivery a no-op, `Logger` carries the Lambda context and each record's own
correlation id, `Metrics` emits the per-stage latencies and a count per record outcome in embedded metric format,
and `Tracer` sends X-Ray subsegments for every DynamoDB and Secrets Manager call (botocore patched) and for each
backend call (`pinecone.query`, `dynamodb.state.load`, ...). Records go through the same delivery core as the local
worker (`workbench.serve.delivery`): the decision table is its ledger, so a redelivery after the idempotency record expired
neither acts again nor gets stuck. A batch's events are embedded in one model call and retrieved in one query per
tenant (`Delivery.batch`), then settled record by record.

The bundle's `handler.py` calls `init()` at import: the agent (model, clients, the Pinecone key) is built in the
init phase, which provisioned concurrency runs ahead of traffic, not in the first event.

The config is the evaluated one, unchanged (same config_id); only the backends behind the protocols
are their cloud twins with the same contracts (the catalogue's `aws` profile), chosen without changing any global.
"""

from __future__ import annotations

import functools
import json
import os
from contextlib import contextmanager
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, Callable, Iterator

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from workbench.config import AgentConfig
from workbench.errors import EventFailed
from workbench.events import parse_payload
from workbench.loop import Agent
from workbench.redaction import storable
from workbench.serve import sqs_deadletter
from workbench.serve.delivery import Delivery, Outcome, Pending
from workbench.serve.dynamodb_table import ClientTable
from workbench.serve.idempotency import UTF8DynamoDBPersistenceLayer
from workbench.serve.ledger import DynamoDBLedger

STAGE_METRICS = {
    "embed": "embedding_latency_ms",
    "retrieve": "vector_search_latency_ms",
    "reason": "reasoning_latency_ms",
    "total": "decision_latency_ms",
}
# Step Functions mode: each step is its own function (WORKBENCH_STEP) and builds only the backends it calls, so its
# role grants only their permissions: Embed none, Retrieve the Pinecone secret, Reason the state table, Act the ledger.
# Reason keeps the embedder: the extractive reasoner ranks sentences with it.
STEP_BACKENDS = {
    "embed": {"embedder"},
    "retrieve": {"index"},
    "reason": {"state", "reasoner", "embedder"},
    "act": {"actuator", "escalator", "decision_log"},
}
FAMILIES = ("embedder", "index", "state", "reasoner", "actuator", "decision_log", "escalator")
TRACED = {"index": "pinecone", "state": "dynamodb.state", "embedder": "onnx"}

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "agent-workbench")
logger = Logger(service=SERVICE)
metrics = Metrics(
    namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "AgentWorkbench"), service=SERVICE
)  # the dashboard's dimension
tracer = Tracer(service=SERVICE, patch_modules=["botocore"])  # off outside Lambda (no LAMBDA_TASK_ROOT)
# A FIFO batch: a failed message fails the rest of its group (tenant#user), other groups go on.
PROCESSORS = {False: BatchProcessor(event_type=EventType.SQS), True: SqsFifoPartialProcessor(skip_group_on_error=True)}


def bundle_config() -> dict[str, Any]:
    path = Path(os.environ.get("WORKBENCH_CONFIG", Path(__file__).resolve().parents[2] / "config.json"))
    return json.loads(path.read_text())


@lru_cache(maxsize=1)
def config() -> AgentConfig:
    return AgentConfig.from_dict(bundle_config()["config"], source="config.json")


@lru_cache(maxsize=1)
def agent() -> Agent:
    step = os.environ.get("WORKBENCH_STEP")
    absent = {f: _Absent(f, step) for f in FAMILIES if f not in STEP_BACKENDS[step]} if step else {}
    built = Agent.from_config(config(), workspace=None, cache_embeddings=False, profile="aws", **absent)
    for family, name in TRACED.items():
        if family not in absent:
            setattr(built, family, _Traced(getattr(built, family), name))
    return built


@lru_cache(maxsize=1)
def delivery() -> Delivery:
    """The delivery core over DynamoDB: idempotency records keyed as locally, the decision table as ledger."""
    import boto3

    # One client of boto3's default session (which loads each botocore model once; see pinecone.api_key) for both
    # tables, and so one pool of kept-alive connections (see ClientTable).
    dynamodb = boto3.client("dynamodb")
    persistence = UTF8DynamoDBPersistenceLayer(table_name=os.environ["IDEMPOTENCY_TABLE"], boto3_client=dynamodb)
    ledger = _Traced(DynamoDBLedger(ClientTable(dynamodb, os.environ["DECISION_TABLE"])), "dynamodb.ledger")
    return Delivery(agent(), persistence, ledger, ttl_s=int(os.environ.get("IDEMPOTENCY_TTL_S", "86400")))


def init() -> None:
    """Build now what the function's events need (called by the bundle's handler.py at import, in the init phase)."""
    step = os.environ.get("WORKBENCH_STEP")
    if step == "start":
        _stepfunctions()
    elif step in (None, "reason", "act"):  # Reason commits its decision to the ledger
        delivery()
    else:
        agent()


class _Traced:
    """A backend whose public calls are X-Ray subsegments `<name>.<method>` (no-ops when tracing is off)."""

    def __init__(self, inner: Any, name: str) -> None:
        self._inner, self._name = inner, name

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self._inner, attr)
        if attr.startswith("_") or not callable(value):
            return value

        @functools.wraps(value)
        def traced(*args: Any, **kwargs: Any) -> Any:
            with tracer.provider.in_subsegment(f"{self._name}.{attr}"):
                return value(*args, **kwargs)

        return traced


class _Absent:
    """A backend this Step Functions step does not build; using it is a bug, named as one."""

    serves_sparse_dense = True  # never wrapped for hybrid retrieval: there is nothing to wrap

    def __init__(self, family: str, step: str) -> None:
        self._family, self._step = family, step

    def __getattr__(self, attr: str) -> Any:
        raise AttributeError(
            f"the {self._step} step builds no {self._family} (each step builds only what it uses; see STEP_BACKENDS)"
        )


def _entry(fn: Callable[..., Any]) -> Callable[..., Any]:
    """An entry point: the Lambda context in every log line, the invocation traced, keys cleared between invocations."""
    return logger.inject_lambda_context(clear_state=True)(tracer.capture_lambda_handler(capture_response=False)(fn))


@contextmanager
def _batched(event: dict[str, Any]) -> Iterator[dict[tuple[str, str], Pending]]:
    """The batch's records parsed, with one embedding call and one query per tenant for all their events, keyed by
    (messageId, body) for `record_handler`; the processor still settles them record by record."""
    records = [
        (r["messageId"], r["body"])
        for r in event.get("Records") or []
        if isinstance(r, dict) and isinstance(r.get("messageId"), str) and isinstance(r.get("body"), str)
    ]
    with delivery().batch([(body, _source(mid)) for mid, body in records]) as pending:
        yield dict(zip(records, pending))


def record_handler(record: SQSRecord, batch: dict[tuple[str, str], Pending] | None = None) -> list[dict[str, Any]]:
    """One record's events, with what its batch embedded and retrieved for them when it is in `batch`."""
    logger.set_correlation_id(record.message_id)  # until an event of the message names its own
    pending = (batch or {}).get((record.message_id, record.body))
    outcomes = (
        delivery().deliver_parsed(pending) if pending is not None else delivery().deliver(record.body, _source(record.message_id))
    )
    decisions, failures, rejected = [], [], []
    dead_letters = bool(sqs_deadletter.queue_url())  # else bad input fails too, and SQS moves it
    for outcome in outcomes:
        logger.set_correlation_id(_correlation(outcome, record.message_id))
        metrics.add_metric(name=f"records_{outcome.status}", unit=MetricUnit.Count, value=1)
        if outcome.status == "handled":
            _emit(outcome.decision or {})
        elif outcome.status == "duplicate":
            logger.info("duplicate delivery: already handled", extra={"source": outcome.source})
        else:
            logger.error(
                "record failed",
                extra={
                    "status": outcome.status,
                    "reason": outcome.reason,
                    "source": outcome.source,
                    "message_id": record.message_id,
                },
            )
            (rejected if outcome.status == "rejected" and dead_letters else failures).append(outcome)
            continue
        decisions.append(outcome.decision)
    if failures:  # raising marks the message failed: SQS retries it and, after maxReceiveCount, moves it to the DLQ
        raise EventFailed("; ".join(o.reason for o in failures + rejected))
    if rejected:  # bad input only: straight to the DLQ with why and where; retrying cannot fix it
        sqs_deadletter.dead_letter(record.raw_event, [(o.reason, o.source) for o in rejected])
    return decisions


def _source(message_id: str) -> str:
    """How a record's events name where they came from, in dead letters and reasons."""
    return f"sqs message {message_id}"


def _correlation(outcome: Outcome, message_id: str) -> str:
    """The record's own correlation id: its event's, else what its payload names, else its message id."""
    if outcome.event is not None:
        return outcome.event.correlation
    raw = outcome.raw if isinstance(outcome.raw, dict) else {}
    named = raw.get("correlation_id") or raw.get("event_id")
    if not (isinstance(named, str) and named):
        return message_id
    # A rejected record was never validated, so its id is the sender's text as sent: redacted, capped, and with any
    # lone surrogate escaped, or the JSON log line would carry the PII, or be lost to an encoding error.
    return storable(named[:200])


def _processor(event: dict[str, Any]) -> BatchProcessor:
    """FIFO queues' names end in .fifo, and so do the ARNs their records carry."""
    records = event.get("Records") or [{}]
    return PROCESSORS[str(records[0].get("eventSourceARN", "")).endswith(".fifo")]


def _emit(decision: dict[str, Any]) -> None:
    for stage, name in STAGE_METRICS.items():
        metrics.add_metric(name=name, unit=MetricUnit.Milliseconds, value=decision["latency_ms"].get(stage, 0.0))
    metrics.add_metric(name="llm_token_usage", unit=MetricUnit.Count, value=sum(decision["tokens"].values()))


@_entry
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    built = agent()
    logger.append_keys(config_id=built.config_id)
    # In-progress records expire with this invocation: a timed-out or crashed attempt frees its events for the retry.
    delivery().idempotency_config.register_lambda_context(context)
    with _batched(event) as batch:
        return process_partial_response(
            event=event, record_handler=partial(record_handler, batch=batch), processor=_processor(event), context=context
        )


# Step Functions mode (deploy.orchestration: step_functions): the SQS consumer starts one execution per event, named
# after the tenant and event id, so a redelivery finds it there (and starts a new attempt only if that one closed
# without success); bad input goes to the DLQ as in the agent's consumer. Each step is its own function.


@lru_cache(maxsize=1)
def _stepfunctions() -> Any:
    import boto3

    return boto3.client("stepfunctions")


def _start(record: SQSRecord) -> None:
    from workbench.serve import step_functions

    logger.set_correlation_id(record.message_id)
    rejected = []
    for parsed in parse_payload(record.body, source=_source(record.message_id)):
        if parsed.error or parsed.event is None:
            metrics.add_metric(name="records_rejected", unit=MetricUnit.Count, value=1)
            logger.error("rejected event", extra={"reason": parsed.error, "source": parsed.source})
            rejected.append(parsed)
        else:
            logger.set_correlation_id(parsed.event.correlation)
            name = step_functions.start(_stepfunctions(), os.environ["STATE_MACHINE_ARN"], parsed.event)
            logger.info("execution", extra={"execution": name})
    if rejected:  # as the agent's consumer does: straight to the DLQ with why and where
        sqs_deadletter.dead_letter(record.raw_event, [(str(p.error), p.source) for p in rejected])


@_entry
@metrics.log_metrics
def start_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=_start, processor=_processor(event), context=context)


def _step_handler(name: str) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The entry point of one Step Functions step: Embed and Retrieve use the agent, Reason and Act the delivery core
    (the ledger). `agent` and `delivery` are looked up at each call, as the tests replace them."""

    def handler(state: dict[str, Any], context: Any) -> dict[str, Any]:
        from workbench.serve import step_functions

        target = agent() if name in ("embed", "retrieve") else delivery()
        return step_functions.run_step(getattr(step_functions, name), target, state, config())

    handler.__name__ = handler.__qualname__ = f"{name}_step"
    return _entry(handler)


embed_step, retrieve_step, reason_step, act_step = (_step_handler(step) for step in ("embed", "retrieve", "reason", "act"))
