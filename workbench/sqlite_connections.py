"""One SQLite connection per thread (WAL, autocommit), for the stores that several worker threads share.

Commits are durable across a crash of the process (WAL with `synchronous=NORMAL`: a committed transaction is in the
log before the call returns), not across a power loss, which may roll back the last ones. That is the outbox's and
the decision log's guarantee too (they append without fsync), and it spares each commit an fsync, of which the
delivery core makes several per event (measured in docs/benchmarks.md, issue 17). The exported Lambda's stores are
DynamoDB's."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from workbench.errors import StoreCorrupt, StoreNotWritable

UNWRITABLE = ("readonly database", "unable to open database file")
CORRUPT = ("file is not a database", "database disk image is malformed")


class _Connection(sqlite3.Connection):
    """Turns "attempt to write a readonly database" and "file is not a database", which name nothing, into errors
    that name the file."""

    path = ""

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        try:
            return super().execute(sql, parameters)
        except sqlite3.DatabaseError as exc:  # OperationalError too
            raise _named(exc, self.path) from None


def connect(path: Path | str, **kwargs: Any) -> sqlite3.Connection:
    """A WAL connection whose unwritable-store errors name `path`."""
    try:
        db = sqlite3.connect(str(path), timeout=60, factory=_Connection, **kwargs)
    except sqlite3.DatabaseError as exc:
        raise _named(exc, str(path)) from None
    db.path = str(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    return db


class ThreadLocalSQLite:
    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._local = threading.local()

    def conn(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = connect(self.path, isolation_level=None)
        return db

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception: a read-then-write that no other process
        can interleave with."""
        db = self.conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")


def _named(exc: sqlite3.DatabaseError, path: str) -> Exception:
    if any(text in str(exc) for text in UNWRITABLE):
        return StoreNotWritable(
            f"{path}: cannot write ({exc}); make the file and its folder writable, or point --home at a writable workspace"
        )
    if any(text in str(exc) for text in CORRUPT):
        return StoreCorrupt(
            f"{path}: not a readable SQLite store ({exc}); move it aside (e.g. mv {path} {path}.bad) "
            "and it is created afresh on the next run, empty, or point --home at another workspace"
        )
    return exc
