"""The Lambda's decision log: one item per decision in a DynamoDB table whose stream carries it downstream."""

from __future__ import annotations

import json
import os
from typing import Any

from workbench.registry import BuildContext


class DynamoDBDecisionLog:
    def __init__(self, table: Any) -> None:
        self.table = table

    def append(self, record: dict[str, Any]) -> None:
        # Written once per event id: a redelivery cannot rewrite history.
        self.table.put_item(Item={"event_id": record["event_id"], "record": json.dumps(record, ensure_ascii=False, default=str)},
                            ConditionExpression="attribute_not_exists(event_id)")


def build(ctx: BuildContext) -> DynamoDBDecisionLog:
    import boto3

    return DynamoDBDecisionLog(boto3.resource("dynamodb").Table(os.environ["DECISION_TABLE"]))
