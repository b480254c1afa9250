"""Conversation state in DynamoDB: the item layout and conditional write of the SQLite store, for real.

Item: pk = "<tenant>#user#<id>", history (list of maps), updated_at, expires_at (the table's TTL attribute), version.
A write succeeds only if the item is absent (expected version 0) or still at the version read.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any, Callable, Sequence

from workbench.errors import StaleWriteError
from workbench.registry import BuildContext
from workbench.state import pk
from workbench.types import ConversationState, Message


class DynamoDBStateStore:
    """`table`: boto3's `Table` resource, or a `ClientTable` (what `build` gives the Lambda: a cheaper cold start)."""

    def __init__(self, table: Any, ttl_days: float, clock: Callable[[], float] = time.time) -> None:
        self.table, self.ttl_s, self.clock = table, ttl_days * 86400, clock

    def load(self, tenant: str, key: str) -> ConversationState:
        item = self.table.get_item(Key={"pk": pk(tenant, key)}, ConsistentRead=True).get("Item")
        if item is None:
            return ConversationState(key)
        version, updated_at = int(item["version"]), float(item["updated_at"])
        if float(item["expires_at"]) <= self.clock():  # TTL deletion lags; readers must not see expired items
            return ConversationState(key, (), version, updated_at)
        history = tuple(
            Message(m["role"], m["content"], m.get("event_id", ""), float(m.get("at", 0)), bool(m.get("declined", False)))
            for m in item["history"]
        )
        return ConversationState(key, history, version, updated_at)

    def save(self, tenant: str, key: str, history: Sequence[Message], expected_version: int) -> ConversationState:
        from botocore.exceptions import ClientError

        now = self.clock()
        item = state_item(pk(tenant, key), history, expected_version + 1, now, self.ttl_s)
        condition = "attribute_not_exists(pk)" if expected_version == 0 else "version = :v"
        extra = {} if expected_version == 0 else {"ExpressionAttributeValues": {":v": expected_version}}
        try:
            self.table.put_item(Item=item, ConditionExpression=condition, **extra)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise StaleWriteError(f"{pk(tenant, key)}: version {expected_version} is stale") from None
            raise
        return ConversationState(key, tuple(history), expected_version + 1, now)


def state_item(key: str, history: Sequence[Message], version: int, now: float, ttl_s: float) -> dict[str, Any]:
    """The item as written (the cost model sizes it too)."""
    return {
        "pk": key,
        "version": version,
        "updated_at": Decimal(str(now)),
        "expires_at": int(now + ttl_s),
        "history": [
            {"role": m.role, "content": m.content, "event_id": m.event_id, "at": Decimal(str(m.at)), "declined": m.declined}
            for m in history
        ],
    }


def build(ctx: BuildContext) -> DynamoDBStateStore:
    import os

    import boto3

    from workbench.serve.dynamodb_table import ClientTable

    table = os.environ.get("STATE_TABLE", ctx.own("state").table)
    return DynamoDBStateStore(ClientTable(boto3.client("dynamodb"), table), ctx.own("state").ttl_days)
