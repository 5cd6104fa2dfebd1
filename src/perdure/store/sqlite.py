"""The embedded default: one SQLite file in WAL mode, shared by the server and its
worker processes. Writers are serialised by SQLite itself (BEGIN IMMEDIATE) and, within a
process, by a lock taken first; connections are shared by all threads of a process."""

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
MAX_IDLE_CONNECTIONS = 64
BUSY_TIMEOUT_S = 30.0
DIALECT = Dialect(rewrite=lambda query: query, without_rowid=" WITHOUT ROWID")


class SQLiteStore:
    def __init__(self, path: str | Path, *, synchronous: str = "NORMAL") -> None:
        self.path = Path(path).expanduser()
        self.url = f"sqlite:///{self.path}"
        self._synchronous = synchronous
        # Idle connections, shared by all threads: the SDK runs each invocation's
        # checkpoints on a thread of its own, so a connection per thread would mean
        # opening (and parsing the schema on) a new one for every invocation.
        self._idle: list[sqlite3.Connection] = []
        self._idle_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._migrate()

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(str(self.path), isolation_level=None, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a killed process; only an OS crash or power loss
        # can lose the last transactions. FULL is available for those who need it.
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        # Checkpointing the WAL costs an fsync; the runtime does it in the background
        # (``maintain``), so commits on the hot path only append to the WAL. The high
        # threshold is a safety net for processes that never call ``maintain``.
        conn.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
        return conn

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """An idle connection (or a new one), returned to the idle list afterwards
        unless it failed outside a transaction's own error handling."""
        with self._idle_lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self._open()
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:  # could not even roll back: do not reuse it
                conn.close()
                raise
            self._release(conn)
            raise
        else:
            self._release(conn)

    def _release(self, conn: sqlite3.Connection) -> None:
        with self._idle_lock:
            if len(self._idle) < MAX_IDLE_CONNECTIONS:
                self._idle.append(conn)
                return
        conn.close()

    def _migrate(self) -> None:
        with self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")  # one process migrates; the others wait, then find it done
            try:
                migrate(conn.cursor(), DIALECT, str(self.path))
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        # SQLite lets one writer in at a time and makes the others sleep (1 ms, then
        # longer) before they try again; this process's threads queue here instead, so
        # the write lock passes between them at once. The wait is bounded as SQLite's
        # own (busy_timeout) is, with the same error.
        if not self._write_lock.acquire(timeout=BUSY_TIMEOUT_S):
            raise sqlite3.OperationalError(
                f"database is locked: another transaction of this process held it for {BUSY_TIMEOUT_S:.0f} s"
            )
        try:
            with self._connection() as conn:
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
        finally:
            self._write_lock.release()

    def notify(self, kind: str, arn: str) -> None:
        """SQLite cannot wake other processes; the runtime pokes its own workers."""

    def listen(self, callback: Callable[[str, str], None]) -> bool:
        """Not supported: other processes on the same file are found by polling."""
        return False

    def maintain(self) -> None:
        """Copy the WAL into the database file without blocking writers."""
        with self._connection() as conn:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def close(self) -> None:
        """Close the idle connections (the store stays usable: it opens new ones)."""
        with self._idle_lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
