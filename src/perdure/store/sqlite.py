"""The embedded default: one SQLite file in WAL mode, shared by the server and its
worker processes. Writers are serialised by SQLite itself (BEGIN IMMEDIATE), queued
first on a lock of their process and then on a lock file next to the database
(``NAME.wlock``); readers take no lock. Connections are shared by all threads of a
process."""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from perdure.store.base import SchemaError, Transaction
from perdure.store.common import Dialect, SqlTransaction, migrate

__all__ = ["SQLiteStore", "SchemaError"]

log = logging.getLogger("perdure.store.sqlite")

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
        self._idle_readers: list[sqlite3.Connection] = []
        self._idle_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._queue_file: int | None = None
        self._queue_pid = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._migrate()

    def _open(self, *, reader: bool = False) -> sqlite3.Connection:
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
        if reader:  # a write by mistake in a read transaction fails loudly
            conn.execute("PRAGMA query_only=ON")
        return conn

    @contextmanager
    def _connection(self, *, reader: bool = False) -> Iterator[sqlite3.Connection]:
        """An idle connection (or a new one), returned to the idle list afterwards
        unless it failed outside a transaction's own error handling."""
        idle = self._idle_readers if reader else self._idle
        with self._idle_lock:
            conn = idle.pop() if idle else None
        if conn is None:
            conn = self._open(reader=reader)
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:  # could not even roll back: do not reuse it
                conn.close()
                raise
            self._release(conn, idle)
            raise
        else:
            self._release(conn, idle)

    def _release(self, conn: sqlite3.Connection, idle: list[sqlite3.Connection]) -> None:
        with self._idle_lock:
            if len(idle) < MAX_IDLE_CONNECTIONS:
                idle.append(conn)
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
        # 2, 5, 10...) before they try again, while a transaction holds the lock for
        # a fraction of a millisecond: the lock would sit idle while every waiter
        # sleeps. Writers queue instead, first on a lock of this process (threads),
        # then on a lock file shared with the other processes on the database
        # (flock, which hands over the moment it is released). SQLite's own lock
        # still decides; the queue only removes the sleeping. The wait is bounded as
        # SQLite's (busy_timeout) is, with the same error.
        if not self._write_lock.acquire(timeout=BUSY_TIMEOUT_S):
            raise sqlite3.OperationalError(
                f"database is locked: another transaction of this process held it for {BUSY_TIMEOUT_S:.0f} s"
            )
        try:
            with self._writers_queue(), self._connection() as conn:
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

    @contextmanager
    def _writers_queue(self) -> Iterator[None]:
        """The lock file shared by the processes writing this database, held (by the
        thread holding ``_write_lock``) around one write transaction. A process opens
        its own descriptor: a forked child must not share its parent's lock."""
        if self._queue_pid != os.getpid():
            self._queue_file, self._queue_pid = _open_queue_file(self.path), os.getpid()
        fd = self._queue_file
        if fd is None:  # no lock file possible here (a read-only directory): SQLite's sleeps
            yield
            return
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    @contextmanager
    def read(self) -> Iterator[Transaction]:
        # WAL: a reader sees the last commit before its first read and never waits
        # for the writer, so no write lock (in this process or SQLite's) is taken.
        with self._connection(reader=True) as conn:
            cur = conn.cursor()
            cur.execute("BEGIN")
            try:
                yield SqlTransaction(cur, DIALECT)
            finally:
                conn.execute("ROLLBACK")  # nothing to commit
                cur.close()

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
        if self._write_lock.acquire(timeout=BUSY_TIMEOUT_S):
            try:
                if self._queue_file is not None and self._queue_pid == os.getpid():
                    os.close(self._queue_file)
                self._queue_file, self._queue_pid = None, 0
            finally:
                self._write_lock.release()
        with self._idle_lock:
            idle, self._idle, self._idle_readers = self._idle + self._idle_readers, [], []
        for conn in idle:
            conn.close()


def _open_queue_file(path: Path) -> int | None:
    """A descriptor of the writers' lock file next to the database (``NAME.wlock``)."""
    try:
        return os.open(f"{path}.wlock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        log.warning("no writers' lock file next to %s (%s): writers wait as SQLite makes them", path, exc)
        return None
