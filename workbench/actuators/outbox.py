"""The default actuator: append each decision to a local JSONL outbox, for people and tests to read.

It is an idempotent receiver: one line per (tenant, event id), however often it is asked, across threads and
processes (an exclusive file lock, and the lines other processes appended since the last look). That closes the
delivery core's one at-least-once window, a crash between acting and marking the decision acted.
"""

from __future__ import annotations

import fcntl
import json
import threading
from pathlib import Path
from typing import Any

from workbench.registry import BuildContext

KEYS = ("event_id", "correlation_id", "config_id", "tenant", "user_id", "answer", "citations")


class OutboxActuator:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._seen: set[tuple[str, str]] = set()
        self._offset = 0

    def act(self, decision: dict[str, Any]) -> None:
        key = (decision["tenant"], decision["event_id"])
        with self._lock, self.path.open("a+", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)  # released when the file closes
            fh.seek(self._offset)
            self._seen.update((r["tenant"], r["event_id"]) for r in (json.loads(x) for x in fh.read().splitlines() if x.strip()))
            if key not in self._seen:
                fh.write(json.dumps({k: decision[k] for k in KEYS}, ensure_ascii=False) + "\n")
                fh.flush()
                self._seen.add(key)
            self._offset = fh.tell()


def build(ctx: BuildContext) -> OutboxActuator:
    return OutboxActuator(ctx.workspace.outbox)
