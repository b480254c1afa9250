"""Conversation state in SQLite with DynamoDB's semantics, so local runs behave like the exported Lambda.

One item per `pk = <tenant>#user#<id>`: history (capped by the loop), `updated_at`, `expires_at` (the TTL
attribute) and `version`. Writes are conditional on the version read, like a DynamoDB
`ConditionExpression`; an expired item reads as empty, as DynamoDB readers must treat it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable, Sequence

from workbench.errors import StaleWriteError
from workbench.registry import BuildContext
from workbench.sqlite_connections import ThreadLocalSQLite
from workbench.state import pk
from workbench.types import ConversationState, Message


class SQLiteStateStore:
    def __init__(self, path: Path, ttl_days: float, clock: Callable[[], float] = time.time) -> None:
        self.ttl_s, self.clock = ttl_days * 86400, clock
        self._sqlite = ThreadLocalSQLite(path)  # one connection per thread: real concurrent writers
        with self._sqlite.conn() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS state (pk TEXT PRIMARY KEY, history TEXT NOT NULL, "
                "updated_at REAL NOT NULL, expires_at REAL NOT NULL, version INTEGER NOT NULL)"
            )

    def load(self, tenant: str, item: str) -> ConversationState:
        row = (
            self._sqlite.conn()
            .execute("SELECT history, updated_at, expires_at, version FROM state WHERE pk = ?", (pk(tenant, item),))
            .fetchone()
        )
        if row is None:
            return ConversationState(item)
        history, updated_at, expires_at, version = row
        if expires_at <= self.clock():
            return ConversationState(item, (), version, updated_at)  # expired: empty, but keep the version
        return ConversationState(item, tuple(Message(**m) for m in json.loads(history)), version, updated_at)

    def save(self, tenant: str, item: str, history: Sequence[Message], expected_version: int) -> ConversationState:
        now, key = self.clock(), pk(tenant, item)
        body = json.dumps([m.__dict__ for m in history], ensure_ascii=False)
        db = self._sqlite.conn()
        if expected_version == 0:
            cur = db.execute("INSERT OR IGNORE INTO state VALUES (?, ?, ?, ?, 1)", (key, body, now, now + self.ttl_s))
        else:
            cur = db.execute(
                "UPDATE state SET history = ?, updated_at = ?, expires_at = ?, version = version + 1 "
                "WHERE pk = ? AND version = ?",
                (body, now, now + self.ttl_s, key, expected_version),
            )
        if cur.rowcount != 1:
            raise StaleWriteError(f"{key}: version {expected_version} is stale")
        return ConversationState(item, tuple(history), expected_version + 1, now)


def build(ctx: BuildContext) -> SQLiteStateStore:
    return SQLiteStateStore(ctx.workspace.state_db, ctx.own("state").ttl_days)
