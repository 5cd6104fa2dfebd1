"""The embedded default: one SQLite file in WAL mode, shared by the server and its
worker processes. Writers are serialised by SQLite itself (BEGIN IMMEDIATE)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from perdure.store import sql
from perdure.store.base import Transaction
from perdure.store.common import SqlTransaction


AUTOCHECKPOINT_PAGES = 20000  # about 80 MB of WAL


class SchemaError(RuntimeError):
    pass


class SQLiteStore:
    def __init__(self, path: str | Path, *, synchronous: str = "NORMAL") -> None:
        self.path = Path(path).expanduser()
        self.url = f"sqlite:///{self.path}"
        self._synchronous = synchronous
        self._local = threading.local()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._migrate()

    def _connect(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(str(self.path), isolation_level=None, timeout=30.0, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives a killed process; only an OS crash or power loss
            # can lose the last transactions. FULL is available for those who need it.
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute("PRAGMA busy_timeout=30000")
            # Checkpointing the WAL costs an fsync; the runtime does it in the background
            # (``maintain``), so commits on the hot path only append to the WAL. The high
            # threshold is a safety net for processes that never call ``maintain``.
            conn.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
            self._local.conn = conn
        return conn

    def _migrate(self) -> None:
        with self.transaction() as tx:
            cur = tx._cur  # type: ignore[attr-defined]
            for statement in sql.SCHEMA:
                cur.execute(statement.replace("{without_rowid}", " WITHOUT ROWID"))
            row = cur.execute(sql.GET_SCHEMA_VERSION).fetchone()
            version = int(row[0]) if row else 0
            if version > sql.SCHEMA_VERSION:
                raise SchemaError(
                    f"{self.path} has schema version {version}, newer than this perdure "
                    f"({sql.SCHEMA_VERSION}): upgrade perdure"
                )
            cur.execute(sql.SET_SCHEMA_VERSION, (str(sql.SCHEMA_VERSION),))

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        conn = self._connect()
        cur = conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            yield SqlTransaction(cur, _same, lock="", row_lock="")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")
        finally:
            cur.close()

    def notify(self) -> None:
        """SQLite cannot wake other processes; the runtime pokes its own workers."""

    def maintain(self) -> None:
        """Copy the WAL into the database file without blocking writers."""
        self._connect().execute("PRAGMA wal_checkpoint(PASSIVE)")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _same(query: str) -> str:
    return query
