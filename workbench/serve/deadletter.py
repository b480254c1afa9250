"""Rejected events are kept, never dropped: one JSON line each, with the reason and where it came from.

`put` never raises on what it is given (lone surrogates, undecodable bytes, integers too long to print, structures
nested past the JSON encoder's recursion limit, cycles, arbitrary objects): a dead letter that cannot be written
would lose the event. Only the disk itself can make it fail. What is kept is redacted like everything else the
agent persists, and bounded, so one huge payload cannot fill the disk: enough to diagnose and to replay, not a copy.
The keys (`tenant`, `event_id`, `user_id`) are kept as written: a replay under a redacted event id would be another
event, acted on again, and a redacted user id would merge users.
"""

from __future__ import annotations

import itertools
import json
import math
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any, Iterable, Iterator

from workbench.redaction import KINDS, redact

MAX_DEPTH = 32  # deeper levels are summarised; also stops cycles
MAX_NODES = 10_000  # values kept from one payload
MAX_CHARS = 20_000  # characters kept from one string
MAX_INT_BITS = 1_000  # longer integers are described, not printed (str() of a long int raises past 4300 digits)
KEY_FIELDS = ("tenant", "event_id", "user_id")


class DeadLetterFile:
    def __init__(self, path: Path, redact_kinds: Iterable[str] = KINDS) -> None:
        self.path = Path(path)
        self.kinds = tuple(redact_kinds)
        self._lock = threading.Lock()

    def put(self, raw: Any, reason: Any, source: Any, stage: str) -> None:
        """Append one dead letter. `source` says where the payload came from: a file and line number, an SQS
        messageId or an SNS MessageId, so it can be found and replayed."""
        # Each field on its own: a payload that cannot be kept must not take its source and reason with it.
        record = {
            "at": time.time(),
            "stage": self._field(stage, 100),
            "source": self._field(source, 500),
            "reason": self._field(reason, 4000),
        }
        try:
            line = json.dumps({**record, "raw": _Sanitiser(self._text).value(raw)}, ensure_ascii=False, allow_nan=False)
        except Exception as exc:  # noqa: BLE001 - the contract is to never raise on input; keep what can be kept
            line = json.dumps(
                {**record, "raw": {"not_kept": f"the payload could not be recorded ({type(exc).__name__})"}}, ensure_ascii=False
            )
        for breaker in ("\x85", "\u2028", "\u2029"):  # line breaks to str.splitlines: escape them, one letter per line
            line = line.replace(breaker, f"\\u{ord(breaker):04x}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # A lone surrogate becomes the six characters \udXXX, which inside a JSON string reads back as itself.
        with self._lock, self.path.open("ab") as fh:
            fh.write((line + "\n").encode("utf-8", "backslashreplace"))

    def _text(self, value: Any, limit: int = MAX_CHARS) -> str:
        return _scrubbed(value, limit, self.kinds)

    def _field(self, value: Any, limit: int) -> str:
        """A stage, source or reason, redacted; if that fails, the failure (the text may hold PII)."""
        try:
            return self._text(value, limit)
        except Exception as exc:  # noqa: BLE001 - never raise on input
            return f"<not kept: redaction failed ({type(exc).__name__})>"

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if self.path.exists():
            with self.path.open(encoding="utf-8") as fh:
                yield from (json.loads(line) for line in fh if line.strip())


def redacted(value: Any, kinds: Iterable[str] = KINDS) -> Any:
    """A JSON-safe, redacted, bounded copy of `value`, its keys kept: what a dead-letter queue may hold and replay."""
    return _Sanitiser(partial(_scrubbed, kinds=tuple(kinds))).value(value)


class _Sanitiser:
    """A JSON-safe, redacted, bounded copy of any value; structure kept, so an event can be read and retried."""

    def __init__(self, scrub: Any) -> None:
        self.scrub, self.nodes = scrub, 0

    def value(self, value: Any, depth: int = 0) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            return "...[more values not kept]"
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int):
            return value if value.bit_length() <= MAX_INT_BITS else f"<integer of {value.bit_length()} bits>"
        if isinstance(value, float):
            return value if math.isfinite(value) else str(value)
        if isinstance(value, str):
            nested = _json_container(value) if depth < MAX_DEPTH else None
            return self.scrub(value) if nested is None else json.dumps(self.value(nested, depth + 1), ensure_ascii=False)
        if isinstance(value, (bytes, bytearray, memoryview)):  # undecodable bytes show as \xNN where they sit
            return {"bytes": self.scrub(bytes(value).decode("utf-8", "backslashreplace"))}
        if depth >= MAX_DEPTH and isinstance(value, (dict, list, tuple, set, frozenset)):
            return f"<{type(value).__name__} nested deeper than {MAX_DEPTH} levels>"
        if isinstance(value, dict):
            return {
                self.scrub(k if isinstance(k, str) else _repr(k), 200): v[:MAX_CHARS]
                if k in KEY_FIELDS and isinstance(v, str)
                else self.value(v, depth + 1)
                for k, v in itertools.islice(value.items(), MAX_NODES)
            }
        if isinstance(value, (list, tuple, set, frozenset)):
            return [self.value(v, depth + 1) for v in itertools.islice(value, MAX_NODES)]
        return self.scrub(_repr(value))


def _json_container(text: str) -> Any:
    """The object or list a string holds as JSON (an SNS Message, an SQS body), else None."""
    if not text.lstrip().startswith(("{", "[")):
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, (dict, list)) else None


def _scrubbed(value: Any, limit: int = MAX_CHARS, kinds: tuple[str, ...] = KINDS) -> str:
    text = value if isinstance(value, str) else _repr(value)
    cut = text[:limit]
    kept = redact(cut, kinds) if kinds else cut
    return kept + (f"...[{len(text) - limit} more characters]" if len(text) > limit else "")


def _repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__, a long int, a deep structure: say what it was
        return f"<{type(value).__name__}>"


def redacted_body(body: bytes) -> bytes:
    """JSON redacted value by value (ids kept, envelopes opened: `redacted`); anything else (not JSON, or
    nested past the parser) as text, redacted and capped as the dead-letter file caps it: a 200 KB body is not kept whole."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return redacted(body.decode("utf-8", "backslashreplace")).encode("utf-8", "backslashreplace")
    return json.dumps(redacted(data), ensure_ascii=False).encode("utf-8", "backslashreplace")
