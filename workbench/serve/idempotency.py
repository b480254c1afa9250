"""Handle each (tenant, event id) once, with Powertools' idempotency utility, locally and in the Lambda.

The local worker and `run-events` run the very `idempotent_function` the Lambda runs; only the persistence layer
differs (SQLite here, DynamoDB there), so both write the same keys: `workbench.handle#md5(json([tenant, event_id]))`,
Powertools' hash of the JMESPath `[tenant, event_id]` over the event. A record is INPROGRESS while one worker
handles the event, with an in-progress expiry taken from the remaining time of the attempt (a Lambda's remaining
time, a worker's visibility timeout), so a killed attempt frees the event exactly when its message comes back.
Locally, a live process renews the in-progress expiry of the records it holds (`renewing`): a slow event stays
its handler's, however long it takes, and a redelivered copy waits instead of acting a second time.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from aws_lambda_powertools.utilities.idempotency import (
    BasePersistenceLayer,
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

from workbench.serve.periodic import every
from workbench.sqlite_connections import ThreadLocalSQLite

KEY_PREFIX = "workbench.handle"
EVENT_KEY = "[tenant, event_id]"
AlreadyInProgress = IdempotencyAlreadyInProgressError


def idempotency_key(tenant: str, event_id: str) -> str:
    """The record key Powertools derives for an event (checked against Powertools itself in the tests)."""
    return f"{KEY_PREFIX}#{hashlib.md5(json.dumps([tenant, event_id], sort_keys=True).encode()).hexdigest()}"  # noqa: S324


class Deadline:
    """A Lambda-context stand-in for worker threads: the time left before this thread's message becomes visible
    again. Powertools reads it through `get_remaining_time_in_millis` to set the in-progress expiry."""

    def __init__(self) -> None:
        self._local = threading.local()

    def set(self, seconds: float) -> None:
        self._local.at = time.time() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((getattr(self._local, "at", time.time()) - time.time()) * 1000))


def idempotent(
    fn: Callable[..., dict[str, Any]], persistence: BasePersistenceLayer, ttl_s: int, context: Any = None
) -> tuple[Callable[..., dict[str, Any]], IdempotencyConfig]:
    """`fn(event)` made idempotent on the event's (tenant, event_id). A repeat returns the stored result with
    `"duplicate": True`; an attempt in progress raises `AlreadyInProgress`. Other keyword arguments reach `fn`
    as they are, outside the key."""
    config = IdempotencyConfig(
        event_key_jmespath=EVENT_KEY,
        expires_after_seconds=ttl_s,
        raise_on_no_idempotency_key=True,
        response_hook=lambda response, _record: {**response, "duplicate": True},
    )
    if context is not None:
        config.register_lambda_context(context)

    @idempotent_function(data_keyword_argument="event", config=config, persistence_store=persistence, key_prefix=KEY_PREFIX)
    def handle(event: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return fn(event, **extra)

    return handle, config


class UTF8DynamoDBPersistenceLayer(DynamoDBPersistenceLayer):
    """Powertools' DynamoDB layer, with the response stored as UTF-8 JSON. Powertools writes it ASCII-escaped (an
    emoji as the 12 bytes `\\ud83d\\ude00`), so a decision within the item limit that export checks at UTF-8's
    4 bytes a character (`deploy/limits.py`) could not be stored: the event was acted on, then failed every retry."""

    def _update_record(self, data_record: DataRecord) -> None:
        if data_record.response_data:
            utf8 = json.dumps(json.loads(data_record.response_data), ensure_ascii=False, sort_keys=True)
            try:
                utf8.encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate: keep Powertools' escaped form, which can carry it
                pass
            else:
                data_record.response_data = utf8
        super()._update_record(data_record)


class SQLitePersistenceLayer(BasePersistenceLayer):
    """Powertools' persistence contract over SQLite, with the DynamoDB layer's conditions, for local runs."""

    def __init__(self, path: Path | str) -> None:
        super().__init__()
        self._sqlite = ThreadLocalSQLite(path)
        self._held: set[str] = set()  # keys this process put in progress and has not completed or deleted
        self._held_lock = threading.Lock()
        self._sqlite.conn().execute(
            "CREATE TABLE IF NOT EXISTS idempotency (id TEXT PRIMARY KEY, status TEXT NOT NULL, "
            "expiration INTEGER NOT NULL, in_progress_expiration INTEGER, data TEXT)"
        )

    def _get_record(self, idempotency_key: str) -> DataRecord:
        row = (
            self._sqlite.conn()
            .execute("SELECT status, expiration, in_progress_expiration, data FROM idempotency WHERE id = ?", (idempotency_key,))
            .fetchone()
        )
        if row is None:
            raise IdempotencyItemNotFoundError
        return _record(idempotency_key, row)

    def _put_record(self, data_record: DataRecord) -> None:
        now = time.time()
        with self._sqlite.transaction() as db:
            row = db.execute(
                "SELECT status, expiration, in_progress_expiration, data FROM idempotency WHERE id = ?",
                (data_record.idempotency_key,),
            ).fetchone()
            # The DynamoDB layer's condition: absent, expired, or in progress past its in-progress expiry.
            if row and not (row[1] < now or (row[0] == "INPROGRESS" and row[2] is not None and row[2] < now * 1000)):
                raise IdempotencyItemAlreadyExistsError(old_data_record=_record(data_record.idempotency_key, row))
            db.execute(
                "INSERT OR REPLACE INTO idempotency VALUES (?, ?, ?, ?, NULL)",
                (
                    data_record.idempotency_key,
                    data_record.status,
                    data_record.expiry_timestamp,
                    data_record.in_progress_expiry_timestamp,
                ),
            )
        with self._held_lock:
            self._held.add(data_record.idempotency_key)

    def _update_record(self, data_record: DataRecord) -> None:
        self._sqlite.conn().execute(
            "UPDATE idempotency SET status = ?, expiration = ?, data = ? WHERE id = ?",
            (data_record.status, data_record.expiry_timestamp, data_record.response_data, data_record.idempotency_key),
        )
        self._release(data_record.idempotency_key)

    def _delete_record(self, data_record: DataRecord) -> None:
        self._sqlite.conn().execute("DELETE FROM idempotency WHERE id = ?", (data_record.idempotency_key,))
        self._release(data_record.idempotency_key)

    def _release(self, key: str) -> None:
        with self._held_lock:
            self._held.discard(key)

    def renew(self, seconds: float) -> int:
        """Push the in-progress expiry of every record this process holds to `seconds` from now; returns how many."""
        with self._held_lock:
            held = sorted(self._held)
        if not held:
            return 0
        until = int((time.time() + seconds) * 1000)
        with self._sqlite.transaction() as db:
            return db.execute(
                f"UPDATE idempotency SET in_progress_expiration = MAX(COALESCE(in_progress_expiration, 0), ?) "
                f"WHERE status = 'INPROGRESS' AND id IN ({','.join('?' * len(held))})",
                [until, *held],
            ).rowcount


@contextmanager
def renewing(persistence: Any, seconds: float) -> Iterator[None]:
    """While the block runs, renew `persistence`'s in-progress records every third of `seconds` (a lease: only a
    live process renews, so a killed one frees its events when their expiry passes). A no-op for layers that
    cannot renew (DynamoDB in the Lambda, whose in-progress expiry is the invocation's own deadline)."""
    renew = getattr(persistence, "renew", None)
    if renew is None:
        yield
        return
    with every(seconds / 3, lambda: renew(seconds), "idempotency-lease"):
        yield


def _record(key: str, row: tuple[Any, ...]) -> DataRecord:
    status, expiration, in_progress_expiration, data = row
    return DataRecord(key, status, expiration, in_progress_expiration, data or "")
