"""What one event uses of the AWS services the bundle bills, predicted from an evaluated turn.

DynamoDB units come from the sizes of the very items the bundle writes: the state item (`state_item`), the
ledger's claim and its acted mark (`ledger_item`), and Powertools' idempotency record (put INPROGRESS, updated
COMPLETED with the response), sized by DynamoDB's documented rules (on demand: a write unit per KB of the larger
of the item before and after, rounded up per write; a strongly consistent read unit per 4 KB, at least one even
for a miss). The Step Functions Act step settles without an idempotency record: the execution name dedups.
Queues and functions: SNS publishes and SQS sends per 64 KB chunk of the message, a receive and a batch delete
per SQS batch (full batches of `deploy.sqs_batch_size` assumed: smaller batches cost more requests), a Lambda
invocation per batch (plus one per step in Step Functions mode) and a state transition per state entered.
tests/deploy/test_export_cost.py measures the same on moto, call by call, through the exported handler.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, fields
from typing import Any, Sequence

from workbench.config import AgentConfig
from workbench.types import Message

CHUNK = 64 * 1024  # SQS and SNS bill each 64 KB of a message as one request


@dataclass(frozen=True)
class Usage:
    """Per event."""

    dynamodb_write_units: float = 0.0
    dynamodb_read_units: float = 0.0
    sqs_requests: float = 0.0
    sns_requests: float = 0.0
    lambda_requests: float = 0.0
    transitions: float = 0.0
    vector_queries: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {f"usage_{k}": round(v, 4) for k, v in asdict(self).items()}

    @staticmethod
    def mean(usages: Sequence["Usage"]) -> "Usage":
        n = max(len(usages), 1)
        return Usage(**{f.name: sum(getattr(u, f.name) for u in usages) / n for f in fields(Usage)})


def attribute_size(value: dict[str, Any]) -> int:
    """Bytes of one attribute value in DynamoDB's wire format ({"S": ...}, {"N": ...}, {"M": ...}, ...)."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode("utf-8"))
    if kind == "N":  # about one byte per two significant digits, plus one
        digits = inner.lstrip("-").replace(".", "").strip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":  # 3 bytes of overhead, one per element
        return 3 + sum(attribute_size(v) + 1 for v in inner)
    if kind == "M":
        return 3 + sum(len(k.encode("utf-8")) + attribute_size(v) + 1 for k, v in inner.items())
    if kind in ("SS", "NS", "BS"):
        return sum(attribute_size({kind[0]: v}) for v in inner)
    raise ValueError(f"unknown DynamoDB attribute type {kind!r}")


def item_size(item: dict[str, Any]) -> int:
    """Bytes of an item in wire format: attribute names plus values."""
    return sum(len(name.encode("utf-8")) + attribute_size(value) for name, value in item.items())


def wire(item: dict[str, Any]) -> dict[str, Any]:
    """A Python item (str, int, Decimal, bool, list, dict) as boto3 sends it."""
    from boto3.dynamodb.types import TypeSerializer

    serialize = TypeSerializer().serialize
    return {k: serialize(v) for k, v in item.items()}


def write_units(*sizes: int) -> int:
    return max(1, math.ceil(max(sizes) / 1024))


def read_units(size: int) -> int:
    return max(1, math.ceil(size / 4096))


def dynamodb_units(
    cfg: AgentConfig,
    tenant: str,
    event_id: str,
    decision: dict[str, Any],
    before: Sequence[Message],
    after: Sequence[Message],
    now: float | None = None,
) -> tuple[int, int]:
    """(write units, read units) one event's delivery spends: state, ledger and (single function) idempotency."""
    from workbench.serve.idempotency import idempotency_key
    from workbench.serve.ledger import ledger_item, ledger_key
    from workbench.state import pk, user_item
    from workbench.state.dynamodb import state_item

    now = time.time() if now is None else now
    ttl = cfg.state.ttl_days * 86400
    key = pk(tenant, user_item(decision["user_id"]))
    old = item_size(wire(state_item(key, before, 1, now, ttl))) if before else 0
    new = item_size(wire(state_item(key, after, 2, now, ttl)))
    claimed = item_size(wire(ledger_item(ledger_key(tenant, event_id), decision, acted=False)))
    acted = item_size(wire(ledger_item(ledger_key(tenant, event_id), decision, acted=True)))
    writes = write_units(old, new) + write_units(claimed) + write_units(claimed, acted)
    reads = read_units(old) + 1  # the state (a miss still costs one) and the ledger's miss
    if cfg.deploy.orchestration == "function":
        record = {
            "id": {"S": idempotency_key(tenant, event_id)},
            "expiration": {"N": str(int(now) + 86400)},
            "in_progress_expiration": {"N": str(int(now * 1000))},
            "status": {"S": "INPROGRESS"},
        }
        done = {**record, "status": {"S": "COMPLETED"}, "data": {"S": json.dumps(decision, sort_keys=True, default=str)}}
        writes += write_units(item_size(record)) + write_units(item_size(record), item_size(done))
    return writes, reads


def event_usage(
    cfg: AgentConfig,
    tenant: str,
    event_id: str,
    decision: dict[str, Any],
    before: Sequence[Message],
    after: Sequence[Message],
    message_bytes: int,
) -> Usage:
    from workbench.deploy.state_machine import happy_path, state_machine

    d = cfg.deploy
    writes, reads = dynamodb_units(cfg, tenant, event_id, decision, before, after)
    chunks = max(1, math.ceil(message_bytes / CHUNK))
    steps = len(happy_path(state_machine(d.timeout_s))) if d.orchestration == "step_functions" else 0
    return Usage(
        dynamodb_write_units=writes,
        dynamodb_read_units=reads,
        sqs_requests=chunks + 2 / d.sqs_batch_size,
        sns_requests=chunks,
        lambda_requests=1 / d.sqs_batch_size + steps,
        transitions=steps,
        vector_queries=1,
    )
