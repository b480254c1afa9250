"""The default actuator: append each decision to a local JSONL outbox, for people and tests to read."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from workbench.registry import BuildContext


class OutboxActuator:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def act(self, decision: dict[str, Any]) -> None:
        line = json.dumps({k: decision[k] for k in ("event_id", "correlation_id", "config_id", "tenant", "user_id", "answer", "citations")},
                          ensure_ascii=False)
        with self._lock, self.path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")


def build(ctx: BuildContext) -> OutboxActuator:
    return OutboxActuator(ctx.workspace.outbox)
