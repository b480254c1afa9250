"""Rejected events are kept, never dropped: one JSON line each, with the reason and where it came from."""

from __future__ import annotations

import base64
import json
import threading
import time
from pathlib import Path
from typing import Any, Iterator


class DeadLetterFile:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def put(self, raw: Any, reason: str, source: str, stage: str) -> None:
        if isinstance(raw, bytes):  # undecodable input is kept byte for byte
            raw = {"base64": base64.b64encode(raw).decode()}
        line = json.dumps({"at": time.time(), "stage": stage, "source": source, "reason": reason, "raw": raw},
                          default=str)  # ASCII-escaped: lone surrogates survive
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, self.path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if self.path.exists():
            with self.path.open(encoding="utf-8") as fh:
                yield from (json.loads(line) for line in fh if line.strip())
