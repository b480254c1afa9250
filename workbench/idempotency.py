"""Process each event once: records keyed exactly as Powertools' idempotency utility keys them in the Lambda.

Key: `workbench.handle#<md5 of json.dumps(event_id)>` (Powertools with `key_prefix="workbench.handle"` and
`event_key_jmespath="event_id"`). A record is INPROGRESS while one worker handles the event (with an expiry,
so a killed worker does not block it forever), then COMPLETED with the decision, kept for a TTL.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any, Callable

from workbench.sqlite_local import ThreadLocalSQLite

KEY_PREFIX = "workbench.handle"


class AlreadyInProgress(RuntimeError):
    """Another worker is handling this event now; try again after its in-progress window."""


def idempotency_key(event_id: str) -> str:
    return f"{KEY_PREFIX}#{hashlib.md5(json.dumps(event_id, sort_keys=True).encode()).hexdigest()}"  # noqa: S324 - Powertools' scheme


class SQLiteIdempotency:
    def __init__(self, path: Path, ttl_s: float = 86400, in_progress_s: float = 60, clock: Callable[[], float] = time.time) -> None:
        self.ttl_s, self.in_progress_s, self.clock = ttl_s, in_progress_s, clock
        self._sqlite = ThreadLocalSQLite(path)
        self._sqlite.conn().execute("CREATE TABLE IF NOT EXISTS idempotency (id TEXT PRIMARY KEY, status TEXT NOT NULL, "
                             "expiration REAL NOT NULL, in_progress_expiration REAL, data TEXT)")


    def run(self, event_id: str, fn: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], bool]:
        """(result, fresh): `fn()` at most once per event id within the TTL; a repeat returns the stored result."""
        key, now, db = idempotency_key(event_id), self.clock(), self._sqlite.conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute("SELECT status, expiration, in_progress_expiration, data FROM idempotency WHERE id = ?", (key,)).fetchone()
            if row and row[0] == "COMPLETED" and row[1] > now:
                db.execute("COMMIT")
                return json.loads(row[3]), False
            if row and row[0] == "INPROGRESS" and (row[2] or 0) > now:
                db.execute("COMMIT")
                raise AlreadyInProgress(f"event {event_id} is being handled by another worker")
            db.execute("INSERT OR REPLACE INTO idempotency VALUES (?, 'INPROGRESS', ?, ?, NULL)",
                       (key, now + self.ttl_s, now + self.in_progress_s))
            db.execute("COMMIT")
        except AlreadyInProgress:
            raise
        except BaseException:
            db.execute("ROLLBACK")
            raise
        try:
            result = fn()
        except BaseException:
            db.execute("DELETE FROM idempotency WHERE id = ?", (key,))  # a failed attempt must not block the retry
            raise
        db.execute("UPDATE idempotency SET status = 'COMPLETED', expiration = ?, data = ? WHERE id = ?",
                   (self.clock() + self.ttl_s, json.dumps(result, default=str), key))
        return result, True
