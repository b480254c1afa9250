"""A local event bus with SQS semantics, in SQLite: publish, receive with a visibility timeout, extend it while a
message is handled (ChangeMessageVisibility), delete, redelivery after the timeout, and a dead-letter queue after
the maximum receive count (with the reason), which keeps bodies redacted.

Several worker processes can share it: every state change is one IMMEDIATE transaction.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

from workbench.errors import ConfigError
from workbench.redaction import storable
from workbench.serve.deadletter import redacted_body
from workbench.serve.periodic import every
from workbench.sqlite_connections import ThreadLocalSQLite

log = logging.getLogger("workbench.bus")
MIN_VISIBILITY_S = 1.0  # below this, a heartbeat cannot keep up with the clock and every handling would lapse


@dataclass(frozen=True)
class Message:
    id: str
    body: bytes
    receipt: str
    receive_count: int


class Received(list):
    """What one receive returns: its messages, and how many it moved to the DLQ (past their receive count)."""

    dead_lettered: int = 0


class LocalBus:
    def __init__(self, path: Path, max_receives: int = 5, clock: Callable[[], float] = time.time) -> None:
        if not 1 <= max_receives <= 1000:
            raise ConfigError(f"max_receives {max_receives}: must be 1 to 1000 (SQS's maxReceiveCount range)")
        self.max_receives, self.clock = max_receives, clock
        self._sqlite = ThreadLocalSQLite(path)
        db = self._sqlite.conn()
        db.execute(
            "CREATE TABLE IF NOT EXISTS messages (id TEXT PRIMARY KEY, body BLOB NOT NULL, published_at REAL NOT NULL, "
            "visible_at REAL NOT NULL, receive_count INTEGER NOT NULL DEFAULT 0, receipt TEXT, last_error TEXT)"
        )
        db.execute("CREATE INDEX IF NOT EXISTS messages_visible ON messages (visible_at)")
        db.execute(
            "CREATE TABLE IF NOT EXISTS dead_letters (id TEXT PRIMARY KEY, body BLOB NOT NULL, reason TEXT NOT NULL, "
            "receive_count INTEGER NOT NULL, failed_at REAL NOT NULL)"
        )

    def publish(self, body: bytes | str, message_id: str | None = None) -> str:
        mid = message_id or uuid.uuid4().hex
        data = body.encode() if isinstance(body, str) else body
        now = self.clock()
        self._sqlite.conn().execute(
            "INSERT INTO messages (id, body, published_at, visible_at) VALUES (?, ?, ?, ?)", (mid, data, now, now)
        )
        return mid

    def receive(self, max_messages: int = 10, visibility_timeout: float = 30) -> Received:
        now = self.clock()
        with self._sqlite.transaction() as db:
            rows = db.execute(
                "SELECT id, body, receive_count, last_error FROM messages WHERE visible_at <= ? ORDER BY published_at LIMIT ?",
                (now, max_messages),
            ).fetchall()
            out = Received()
            for mid, body, count, last_error in rows:
                if count >= self.max_receives:
                    self._move_to_dlq(
                        db, mid, body, f"received {count} times without success; last error: {last_error or 'none'}", count
                    )
                    out.dead_lettered += 1
                    continue
                receipt = uuid.uuid4().hex
                db.execute(
                    "UPDATE messages SET receive_count = receive_count + 1, visible_at = ?, receipt = ? WHERE id = ?",
                    (now + visibility_timeout, receipt, mid),
                )
                out.append(Message(mid, bytes(body), receipt, count + 1))
        return out

    def extend_visibility(self, receipts: Sequence[str], timeout: float) -> set[str]:
        """SQS's ChangeMessageVisibility: these received messages stay invisible until `timeout` seconds from now
        (never less than they already were). A receipt holds until its message is deleted, failed, dead-lettered or
        received again; stale ones are skipped. Returns the receipts that were extended."""
        if not receipts:
            return set()
        marks = ",".join("?" * len(receipts))
        rows = (
            self._sqlite.conn()
            .execute(
                f"UPDATE messages SET visible_at = MAX(visible_at, ?) WHERE receipt IN ({marks}) RETURNING receipt",
                (self.clock() + timeout, *receipts),
            )
            .fetchall()
        )
        return {row[0] for row in rows}

    @contextmanager
    def heartbeat(self, messages: Sequence[Message], timeout: float, since: float) -> Iterator["Heartbeat"]:
        """Keep received messages invisible while a worker holds them: a message handled for longer than the
        visibility timeout, or waiting behind others of its batch, is neither redelivered nor skipped."""
        beat = Heartbeat(self, [m.receipt for m in messages], timeout, since)
        with every(timeout / 3, beat.extend, "bus-heartbeat"):
            yield beat

    def delete(self, receipt: str) -> bool:
        return self._sqlite.conn().execute("DELETE FROM messages WHERE receipt = ?", (receipt,)).rowcount == 1

    def fail(self, receipt: str, reason: str, retry_after: float = 0.0) -> None:
        """A transient failure: keep the reason and make the message visible again after `retry_after` seconds. The
        receipt is spent, so a heartbeat can no longer hide the message."""
        self._sqlite.conn().execute(
            "UPDATE messages SET last_error = ?, visible_at = ?, receipt = NULL WHERE receipt = ?",
            (_reason(reason), self.clock() + retry_after, receipt),
        )

    def dead_letter(self, message: Message, reason: str) -> None:
        """A permanent failure (bad input): straight to the DLQ with the reason; retrying cannot help."""
        with self._sqlite.transaction() as db:
            if db.execute("SELECT 1 FROM messages WHERE receipt = ?", (message.receipt,)).fetchone():
                self._move_to_dlq(db, message.id, message.body, reason, message.receive_count)

    def _move_to_dlq(self, db: sqlite3.Connection, mid: str, body: bytes, reason: str, count: int) -> None:
        # Kept redacted, like every other dead letter: a redrive replays the event with its keys, its PII masked.
        # Redaction runs on whatever a message holds; if it fails, a placeholder is kept instead of the body, so the
        # message still leaves the queue (a raise here would stop every receive, and the worker with it).
        try:
            kept = redacted_body(bytes(body))
        except Exception as exc:  # noqa: BLE001 - one message must not stop the bus
            log.exception("message %s: body could not be redacted for the DLQ; a placeholder is kept", mid)
            kept = json.dumps(
                {"message_id": mid, "body_not_kept": f"redaction failed ({type(exc).__name__}); {len(body)} bytes dropped"}
            ).encode("utf-8")
            reason = f"{reason}; body not kept: redaction failed ({type(exc).__name__})"
        db.execute(
            "INSERT OR REPLACE INTO dead_letters VALUES (?, ?, ?, ?, ?)", (mid, kept, _reason(reason), count, self.clock())
        )
        db.execute("DELETE FROM messages WHERE id = ?", (mid,))

    def dead_letters(self) -> list[dict]:
        rows = (
            self._sqlite.conn()
            .execute("SELECT id, body, reason, receive_count, failed_at FROM dead_letters ORDER BY failed_at")
            .fetchall()
        )
        return [
            {"id": r[0], "body": bytes(r[1]).decode("utf-8", "replace"), "reason": r[2], "receive_count": r[3], "failed_at": r[4]}
            for r in rows
        ]

    def redrive(self, ids: list[str] | None = None) -> int:
        """Put dead letters back on the queue (all, or these ids) with a fresh receive count."""
        now = self.clock()
        where, args = ("WHERE id IN (%s)" % ",".join("?" * len(ids)), ids) if ids else ("", [])
        with self._sqlite.transaction() as db:
            rows = db.execute(f"SELECT id, body FROM dead_letters {where}", args).fetchall()
            for mid, body in rows:
                db.execute(
                    "INSERT OR REPLACE INTO messages (id, body, published_at, visible_at) VALUES (?, ?, ?, ?)",
                    (mid, body, now, now),
                )
                db.execute("DELETE FROM dead_letters WHERE id = ?", (mid,))
        return len(rows)

    def counts(self) -> dict[str, int]:
        db, now = self._sqlite.conn(), self.clock()
        visible = db.execute("SELECT COUNT(*) FROM messages WHERE visible_at <= ?", (now,)).fetchone()[0]
        total = db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
        dead = db.execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0]
        return {"visible": visible, "in_flight": total - visible, "dead": dead}


class Heartbeat:
    """Extends the visibility of a worker's received messages, every third of the timeout (their receipts go stale
    as each is settled). `time_left` is how long a message is certainly still this worker's."""

    def __init__(self, bus: LocalBus, receipts: list[str], timeout: float, since: float) -> None:
        self.bus, self.receipts, self.timeout = bus, receipts, timeout
        self.live = set(receipts)  # the receipts the last extension reached (set before `since`, read after it)
        self.since = since  # a time taken before the bus's clock at the last extension: never later than the bus's

    def extend(self) -> None:
        """One beat (a failed one is retried at the next; `time_left` renews a message itself meanwhile)."""
        started = time.time()
        self.live = self.bus.extend_visibility(self.receipts, self.timeout)
        self.since = started

    def time_left(self, message: Message) -> float:
        """Seconds before `message` can become visible again; 0 if another receive already holds it (this
        worker stalled past the timeout, e.g. suspended). Renews the message itself when under half is left, or
        when the last beat did not reach it."""
        left = self.since + self.timeout - time.time()
        if left >= self.timeout / 2 and message.receipt in self.live:
            return left
        started = time.time()
        if not self.bus.extend_visibility([message.receipt], self.timeout):
            return 0.0
        return started + self.timeout - time.time()


def _reason(text: str) -> str:
    """Redacted and storable (`redaction.storable`). A reason that cannot be redacted is not kept (it may hold the
    text), but the failure is, so a fail or DLQ never raises."""
    try:
        return storable(text)
    except Exception as exc:  # noqa: BLE001 - one message must not stop the bus
        return f"reason not kept: redaction failed ({type(exc).__name__})"
