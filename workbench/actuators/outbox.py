"""The default actuator: append each decision to a local JSONL outbox, for people and tests to read.

It is an idempotent receiver: one line per idempotency key (`<tenant>#<event_id>`, or an escalation's), however
often it is asked, across threads and processes (an exclusive file lock, and the lines other processes appended
since the last look). That closes the delivery core's one at-least-once window, a crash between acting and
marking the decision acted. A torn line (a process killed mid-write) is skipped, and ended before the next line is
appended: its action was never marked acted, so its retry writes it whole.
"""

from __future__ import annotations

import fcntl
import json
import threading
from pathlib import Path
from typing import Any

from workbench.actuators import action_record
from workbench.registry import BuildContext
from workbench.types import Decision


class OutboxActuator:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._seen: set[str] = set()
        self._offset = 0

    def act(self, decision: Decision, key: str) -> None:
        with self._lock, self.path.open("a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)  # released when the file closes
            fh.seek(self._offset)
            tail = fh.read()
            self._seen.update(filter(None, map(_key, tail.splitlines())))
            if key not in self._seen:
                torn = fh.tell() > 0 and not (tail or self._last_byte(fh)).endswith(b"\n")
                line = json.dumps(action_record(decision, key), ensure_ascii=False) + "\n"
                fh.write(("\n" if torn else "").encode() + line.encode("utf-8"))
                fh.flush()
                self._seen.add(key)
            self._offset = fh.tell()

    @staticmethod
    def _last_byte(fh: Any) -> bytes:
        fh.seek(-1, 2)
        return fh.read(1)


def _key(line: bytes) -> str | None:
    """The idempotency key of an outbox line (lines written before keys existed: the tenant and event id); None for
    a line that is not a whole record."""
    try:
        record = json.loads(line)
        return record.get("idempotency_key") or f"{record['tenant']}#{record['event_id']}"
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def build(ctx: BuildContext) -> OutboxActuator:
    return OutboxActuator(ctx.workspace.outbox)
