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
from contextlib import contextmanager, suppress
from pathlib import Path

from perdure.store.base import SchemaError, Transaction
from perdure.store.common import Dialect, SqlTransaction, migrate

__all__ = ["SQLiteStore", "SchemaError"]

log = logging.getLogger("perdure.store.sqlite")

AUTOCHECKPOINT_PAGES = 20000  # about 80 MB of WAL
MAX_GROUP = 16  # write transactions of a process committed together, at most
ORPHAN_CHECK_S = 0.05  # how often a member of an open group checks it was not abandoned
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
        self._group: _Group | None = None  # the write transaction open in this process
        self._waiting = 0  # threads waiting for the write lock
        self._count_lock = threading.Lock()
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

    def _take(self, *, reader: bool = False) -> sqlite3.Connection:
        """An idle connection of the kind (or a new one)."""
        idle = self._idle_readers if reader else self._idle
        with self._idle_lock:
            conn = idle.pop() if idle else None
        return conn if conn is not None else self._open(reader=reader)

    def _give_back(self, conn: sqlite3.Connection, *, reader: bool = False) -> None:
        if conn.in_transaction:  # could not even roll back: do not reuse it
            conn.close()
        else:
            self._release(conn, self._idle_readers if reader else self._idle)

    @contextmanager
    def _connection(self, *, reader: bool = False) -> Iterator[sqlite3.Connection]:
        conn = self._take(reader=reader)
        try:
            yield conn
        finally:
            self._give_back(conn, reader=reader)

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
        #
        # Group commit: while other threads of this process wait for the lock, the
        # holder leaves its SQLite transaction open for the next one, and the last of
        # the group commits for all (each one's changes in a savepoint of their own,
        # so a failing one is undone alone). Every caller still returns only once its
        # changes are committed; the group shares one BEGIN, one COMMIT and one
        # write of each page it changed (a worker's concurrent checkpoints touch the
        # same pages of the events and executions tables).
        with self._count_lock:
            self._waiting += 1
        try:
            acquired = self._write_lock.acquire(timeout=BUSY_TIMEOUT_S)
        finally:
            with self._count_lock:
                self._waiting -= 1
        if not acquired:
            raise sqlite3.OperationalError(
                f"database is locked: another transaction of this process held it for {BUSY_TIMEOUT_S:.0f} s"
            )
        group: _Group | None = None
        joined = False
        try:
            group = self._group or self._open_group()
            # The first writer needs no savepoint: if it fails, the group ends with it.
            savepoint = group.members > 0
            if savepoint:
                group.cur.execute("SAVEPOINT member")
            try:
                yield SqlTransaction(group.cur, DIALECT)
            except BaseException:
                try:
                    if savepoint:
                        group.cur.execute("ROLLBACK TO member")
                        group.cur.execute("RELEASE member")
                    else:
                        group.broken = True  # nothing else in it: rolled back as a whole
                except sqlite3.Error:
                    group.broken = True  # the whole group is rolled back
                raise
            if savepoint:
                group.cur.execute("RELEASE member")
            group.members += 1
            joined = True
        finally:
            if group is not None:
                self._hand_on(group)
            self._write_lock.release()
        if joined:
            self._await_commit(group)

    def _open_group(self) -> _Group:
        """BEGIN IMMEDIATE on a connection, inside the processes' queue (write lock held)."""
        self._queue(fcntl.LOCK_EX)
        try:
            conn = self._take()
            try:
                cur = conn.cursor()
                cur.execute("BEGIN IMMEDIATE")
            except BaseException:
                self._give_back(conn)
                raise
        except BaseException:
            self._queue(fcntl.LOCK_UN)
            raise
        self._group = _Group(conn, cur)
        return self._group

    def _hand_on(self, group: _Group, *, end: bool = False) -> None:
        """Leave the group's transaction open for a writer waiting for the lock, or end
        it (write lock held)."""
        if not end and not group.broken and self._waiting > 0 and group.members < MAX_GROUP:
            return
        self._group = None
        try:
            if group.broken:
                if group.members == 0:  # only its failed first writer: nobody to tell
                    group.conn.execute("ROLLBACK")
                    return
                raise sqlite3.OperationalError("a savepoint of the transaction could not be rolled back")
            group.conn.execute("COMMIT")
        except BaseException as exc:
            group.error = exc
            with suppress(sqlite3.Error):
                group.conn.execute("ROLLBACK")
        finally:
            group.cur.close()
            self._give_back(group.conn)
            self._queue(fcntl.LOCK_UN)
            group.done.set()

    def _await_commit(self, group: _Group) -> None:
        """Return once the group committed; raise if it did not."""
        while not group.done.wait(ORPHAN_CHECK_S):
            # The writer it was left to may have given up waiting for the lock: then
            # nobody else will end the group.
            if self._write_lock.acquire(blocking=False):
                try:
                    if self._group is group:
                        self._hand_on(group, end=True)
                finally:
                    self._write_lock.release()
        if group.error is not None:
            raise sqlite3.OperationalError(f"the transaction was not committed: {group.error}") from group.error

    def _queue(self, operation: int) -> None:
        """Take (``LOCK_EX``) or leave (``LOCK_UN``) the lock file shared by the processes
        writing this database, around one group's transaction (write lock held). A
        process opens its own descriptor: a forked child must not share its parent's."""
        if self._queue_pid != os.getpid():
            self._queue_file, self._queue_pid = _open_queue_file(self.path), os.getpid()
        if self._queue_file is not None:  # else (a read-only directory): SQLite's sleeps
            fcntl.flock(self._queue_file, operation)

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


class _Group:
    """One SQLite write transaction shared by the writers of a process that came one
    after another while others waited (``SQLiteStore.transaction``)."""

    def __init__(self, conn: sqlite3.Connection, cur: sqlite3.Cursor) -> None:
        self.conn = conn
        self.cur = cur
        self.members = 0  # writers whose changes are in it, waiting for its commit
        self.broken = False
        self.error: BaseException | None = None
        self.done = threading.Event()


def _open_queue_file(path: Path) -> int | None:
    """A descriptor of the writers' lock file next to the database (``NAME.wlock``)."""
    try:
        return os.open(f"{path}.wlock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        log.warning("no writers' lock file next to %s (%s): writers wait as SQLite makes them", path, exc)
        return None
