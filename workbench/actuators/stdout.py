"""The Lambda's stand-in for the local outbox: each decision as one JSON line on stdout (CloudWatch keeps it).

stdout rather than `logging`: the Lambda runtime's root logger drops INFO, and an outbox must not be dropped.
A log cannot drop a repeat, so each line carries the action's idempotency key (`<tenant>#<event_id>`): the one
repeat the delivery core allows (a crash between acting and marking it acted) prints the same key again, for the
consumer of the log to drop.
"""

from __future__ import annotations

import json
from typing import Any

from workbench.registry import BuildContext

KEYS = ("idempotency_key", "event_id", "correlation_id", "config_id", "tenant", "user_id", "answer", "citations")


class StdoutActuator:
    def act(self, decision: dict[str, Any]) -> None:
        record = {k: decision[k] for k in KEYS} | {"hits": [hit for hit, _ in decision["hits"]]}
        print(json.dumps({"outbox": record}, ensure_ascii=False), flush=True)


def build(ctx: BuildContext) -> StdoutActuator:
    return StdoutActuator()
