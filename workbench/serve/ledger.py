"""The commit record of each (tenant, event id): its decision, written once, and whether it was acted on.

Idempotency records expire (24 h by default) and an in-progress one can be taken over after a crash, so they
cannot by themselves stop a late redelivery from acting again. The ledger never expires: a redelivery finds the
committed decision, acts only if the first attempt did not finish acting, and never decides again (which would
append a second turn to history, or fail forever on a conditional write). Locally it is SQLite; in the Lambda, the
decision table (whose stream carries every decision downstream).
"""

from __future__ import annotations

import json
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from workbench.sqlite_connections import ThreadLocalSQLite


@dataclass(frozen=True)
class Entry:
    """`acted`: the main action was taken; `escalated`: the escalation too (a step of its own, so that a failing
    escalation is retried alone and never repeats the main action)."""

    decision: dict[str, Any]
    acted: bool
    escalated: bool = False


def ledger_key(tenant: str, event_id: str) -> str:
    """Tenants hold no '#', so one tenant's key can never equal another's."""
    return f"{tenant}#{event_id}"


class Ledger(Protocol):
    def get(self, key: str) -> Entry | None: ...

    def claim(self, key: str, decision: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Commit `decision` unless one is already committed: (the committed decision, True if it is this one)."""

    def mark_acted(self, key: str, decision: dict[str, Any]) -> None: ...

    def mark_escalated(self, key: str) -> None: ...


class SQLiteLedger:
    def __init__(self, path: Path | str) -> None:
        self._sqlite = ThreadLocalSQLite(path)
        db = self._sqlite.conn()
        db.execute(
            "CREATE TABLE IF NOT EXISTS ledger (pk TEXT PRIMARY KEY, decision TEXT NOT NULL, "
            "acted INTEGER NOT NULL, at REAL NOT NULL, escalated INTEGER NOT NULL DEFAULT 0)"
        )
        if "escalated" not in {row[1] for row in db.execute("PRAGMA table_info(ledger)")}:  # a ledger from before
            db.execute("ALTER TABLE ledger ADD COLUMN escalated INTEGER NOT NULL DEFAULT 0")

    def get(self, key: str) -> Entry | None:
        row = self._sqlite.conn().execute("SELECT decision, acted, escalated FROM ledger WHERE pk = ?", (key,)).fetchone()
        return Entry(json.loads(row[0]), bool(row[1]), bool(row[2])) if row else None

    def claim(self, key: str, decision: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        with self._sqlite.transaction() as db:
            row = db.execute("SELECT decision FROM ledger WHERE pk = ?", (key,)).fetchone()
            if row:
                return json.loads(row[0]), False
            db.execute("INSERT INTO ledger (pk, decision, acted, at) VALUES (?, ?, 0, ?)", (key, _dumps(decision), time.time()))
        return decision, True

    def mark_acted(self, key: str, decision: dict[str, Any]) -> None:
        self._sqlite.conn().execute("UPDATE ledger SET acted = 1, decision = ? WHERE pk = ?", (_dumps(decision), key))

    def mark_escalated(self, key: str) -> None:
        self._sqlite.conn().execute("UPDATE ledger SET escalated = 1 WHERE pk = ?", (key,))


class DynamoDBLedger:
    """Items `{pk, decision_z, acted, escalated}`; the claim is a put conditional on `attribute_not_exists(pk)`.

    `decision_z` is the decision's JSON, zlib-compressed (a DynamoDB binary): a decision holds its contexts and its
    prompt (which holds them again, and the history), and an item must stay under DynamoDB's 400 KB. Export refuses
    a config whose largest decision could not fit even uncompressed (`workbench/deploy/limits.py`). Items written
    before hold `decision` as JSON text; `decision_of` reads either."""

    def __init__(self, table: Any) -> None:
        """`table`: boto3's `Table` resource, or a `ClientTable` (the Lambda's: see serve/dynamodb_table.py)."""
        self.table = table

    def get(self, key: str) -> Entry | None:
        item = self.table.get_item(Key={"pk": key}, ConsistentRead=True).get("Item")
        return Entry(decision_of(item), bool(item["acted"]), bool(item.get("escalated"))) if item else None

    def claim(self, key: str, decision: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        from botocore.exceptions import ClientError

        try:
            self.table.put_item(Item=ledger_item(key, decision, acted=False), ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return decision_of(self.table.get_item(Key={"pk": key}, ConsistentRead=True)["Item"]), False
        return decision, True

    def mark_acted(self, key: str, decision: dict[str, Any]) -> None:
        self.table.update_item(
            Key={"pk": key},
            UpdateExpression="SET acted = :t, decision_z = :d REMOVE decision",
            ExpressionAttributeValues={":t": True, ":d": _packed(decision)},
        )

    def mark_escalated(self, key: str) -> None:
        self.table.update_item(Key={"pk": key}, UpdateExpression="SET escalated = :t", ExpressionAttributeValues={":t": True})


def decision_of(item: dict[str, Any]) -> dict[str, Any]:
    """The decision a decision-table item holds (also for stream and audit consumers)."""
    if "decision_z" in item:
        return json.loads(zlib.decompress(bytes(item["decision_z"])))
    return json.loads(item["decision"])


def _packed(decision: dict[str, Any]) -> bytes:
    return zlib.compress(_dumps(decision).encode("utf-8"), 6)


def ledger_item(key: str, decision: dict[str, Any], acted: bool) -> dict[str, Any]:
    """The item as written, and as `mark_acted` leaves it (the cost model sizes it too)."""
    return {"pk": key, "decision_z": _packed(decision), "acted": acted}


def _dumps(decision: dict[str, Any]) -> str:
    return json.dumps(decision, ensure_ascii=False, default=str)
