"""The local decision log: one JSON line per decision, appended under a lock, never rewritten."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Iterator

from workbench.registry import BuildContext


class JsonlDecisionLog:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False, default=str)
        with self._lock, self.path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")


def read_log(path: Path) -> Iterator[dict[str, Any]]:
    with Path(path).open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path} line {n}: not a decision record ({exc.msg})") from None


def build(ctx: BuildContext) -> JsonlDecisionLog:
    return JsonlDecisionLog(ctx.workspace.decisions)
