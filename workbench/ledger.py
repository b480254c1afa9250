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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from workbench.sqlite_local import ThreadLocalSQLite


@dataclass(frozen=True)
class Entry:
    decision: dict[str, Any]
    acted: bool


def ledger_key(tenant: str, event_id: str) -> str:
    """Tenants hold no '#', so one tenant's key can never equal another's."""
    return f"{tenant}#{event_id}"


class Ledger(Protocol):
    def get(self, key: str) -> Entry | None: ...

    def claim(self, key: str, decision: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Commit `decision` unless one is already committed: (the committed decision, True if it is this one)."""

    def mark_acted(self, key: str, decision: dict[str, Any]) -> None: ...


class SQLiteLedger:
    def __init__(self, path: Path | str) -> None:
        self._sqlite = ThreadLocalSQLite(path)
        self._sqlite.conn().execute("CREATE TABLE IF NOT EXISTS ledger (pk TEXT PRIMARY KEY, decision TEXT NOT NULL, "
                                    "acted INTEGER NOT NULL, at REAL NOT NULL)")

    def get(self, key: str) -> Entry | None:
        row = self._sqlite.conn().execute("SELECT decision, acted FROM ledger WHERE pk = ?", (key,)).fetchone()
        return Entry(json.loads(row[0]), bool(row[1])) if row else None

    def claim(self, key: str, decision: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        with self._sqlite.transaction() as db:
            row = db.execute("SELECT decision FROM ledger WHERE pk = ?", (key,)).fetchone()
            if row:
                return json.loads(row[0]), False
            db.execute("INSERT INTO ledger VALUES (?, ?, 0, ?)", (key, _dumps(decision), time.time()))
        return decision, True

    def mark_acted(self, key: str, decision: dict[str, Any]) -> None:
        self._sqlite.conn().execute("UPDATE ledger SET acted = 1, decision = ? WHERE pk = ?", (_dumps(decision), key))


class DynamoDBLedger:
    """Items `{pk, decision (JSON), acted}`; the claim is a put conditional on `attribute_not_exists(pk)`."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def get(self, key: str) -> Entry | None:
        item = self.table.get_item(Key={"pk": key}, ConsistentRead=True).get("Item")
        return Entry(json.loads(item["decision"]), bool(item["acted"])) if item else None

    def claim(self, key: str, decision: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        from botocore.exceptions import ClientError

        try:
            self.table.put_item(Item=ledger_item(key, decision, acted=False), ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return json.loads(self.table.get_item(Key={"pk": key}, ConsistentRead=True)["Item"]["decision"]), False
        return decision, True

    def mark_acted(self, key: str, decision: dict[str, Any]) -> None:
        self.table.update_item(Key={"pk": key}, UpdateExpression="SET acted = :t, decision = :d",
                               ExpressionAttributeValues={":t": True, ":d": _dumps(decision)})


def ledger_item(key: str, decision: dict[str, Any], acted: bool) -> dict[str, Any]:
    """The item as written, and as `mark_acted` leaves it (the cost model sizes it too)."""
    return {"pk": key, "decision": _dumps(decision), "acted": acted}


def _dumps(decision: dict[str, Any]) -> str:
    return json.dumps(decision, ensure_ascii=False, default=str)
