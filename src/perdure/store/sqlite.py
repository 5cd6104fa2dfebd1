"""The embedded default: one SQLite file in WAL mode, shared by the server and its
worker processes. Writers are serialised by SQLite itself (BEGIN IMMEDIATE)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from perdure.store.base import SchemaError, Transaction
from perdure.store.common import Dialect, SqlTransaction, migrate

__all__ = ["SQLiteStore", "SchemaError"]

AUTOCHECKPOINT_PAGES = 20000  # about 80 MB of WAL
DIALECT = Dialect(rewrite=lambda query: query, without_rowid=" WITHOUT ROWID")


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
        conn = self._connect()
        conn.execute("BEGIN IMMEDIATE")  # one process migrates; the others wait, then find it done
        try:
            migrate(conn.cursor(), DIALECT, str(self.path))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        conn = self._connect()
        cur = conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            yield SqlTransaction(cur, DIALECT)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")
        finally:
            cur.close()

    def notify(self, kind: str, arn: str) -> None:
        """SQLite cannot wake other processes; the runtime pokes its own workers."""

    def listen(self, callback: Callable[[str, str], None]) -> bool:
        """Not supported: other processes on the same file are found by polling."""
        return False

    def maintain(self) -> None:
        """Copy the WAL into the database file without blocking writers."""
        self._connect().execute("PRAGMA wal_checkpoint(PASSIVE)")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
