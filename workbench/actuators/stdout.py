"""The Lambda's stand-in for the local outbox: each decision as one JSON line on stdout (CloudWatch keeps it).

stdout rather than `logging`: the Lambda runtime's root logger drops INFO, and an outbox must not be dropped.
A log cannot drop a repeat, so each line carries the action's idempotency key (`<tenant>#<event_id>`): the one
repeat the delivery core allows (a crash between acting and marking it acted) prints the same key again, for the
consumer of the log to drop.
"""

from __future__ import annotations

import json

from workbench.actuators import action_record
from workbench.registry import BuildContext
from workbench.types import Decision


class StdoutActuator:
    def act(self, decision: Decision, key: str) -> None:
        record = action_record(decision, key) | {"hits": [hit for hit, _ in decision.hits]}
        print(json.dumps({"outbox": record}, ensure_ascii=False), flush=True)


def build(ctx: BuildContext) -> StdoutActuator:
    return StdoutActuator()
