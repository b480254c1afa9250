"""The local decision log: one JSON line per decision, appended under a lock, never rewritten."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Iterator

from workbench.errors import DataError
from workbench.registry import BuildContext
from workbench.types import Decision


class JsonlDecisionLog:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def append(self, decision: Decision) -> None:
        line = (json.dumps(decision.to_dict(), ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:  # one O_APPEND write per line, so lines from several processes never interleave
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)

    def contains(self, tenant: str, event_id: str) -> bool:
        if not self.path.exists():
            return False
        with self._lock, self.path.open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if record.get("tenant") == tenant and record.get("event_id") == event_id:
                    return True
        return False


def read_log(path: Path) -> Iterator[dict[str, Any]]:
    with Path(path).open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(f"{path} line {n}: not a decision record ({exc.msg})") from None


def build(ctx: BuildContext) -> JsonlDecisionLog:
    return JsonlDecisionLog(ctx.workspace.decisions)
