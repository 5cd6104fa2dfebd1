"""The SQLite store's own concurrency: connections shared by a process's threads, its
writers queued on a lock of the process and on a lock file shared by the processes
before SQLite's own lock, that wait bounded like SQLite's own, and readers that take no
lock at all."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from perdure.store import sqlite as sqlite_store
from perdure.store.base import Timer
from perdure.store.sqlite import SQLiteStore


def _count_opens(store: SQLiteStore, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    opened = [0]
    original = store._open

    def counting_open(**kwargs: Any) -> sqlite3.Connection:
        opened[0] += 1
        return original(**kwargs)

    monkeypatch.setattr(store, "_open", counting_open)
    return opened


@contextmanager
def _write_held(store: SQLiteStore, timer: Timer | None = None) -> Iterator[None]:
    """Another thread holds a write transaction (having written ``timer``) meanwhile."""
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store.transaction() as tx:
            if timer is not None:
                tx.set_timer(timer)
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(10)
        yield
    finally:
        release.set()
        holder.join(10)


def test_short_lived_threads_reuse_connections(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK checkpoints from a new thread per invocation: that must not mean a new
    connection per invocation."""
    store = SQLiteStore(tmp_path / "db.sqlite")
    opened = _count_opens(store, monkeypatch)

    def one_transaction(i: int) -> None:
        with store.transaction() as tx:
            tx.set_timer(Timer(f"arn{i}", "op", "wait", i))

    for i in range(40):
        thread = threading.Thread(target=one_transaction, args=(i,))
        thread.start()
        thread.join()
    assert opened[0] <= 1
    store.close()


def test_concurrent_writers_of_one_process_all_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = SQLiteStore(tmp_path / "db.sqlite")
    opened = _count_opens(store, monkeypatch)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(25):
                with store.transaction() as tx:
                    tx.set_timer(Timer(f"arn{n}", f"op{i}", "wait", i))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    with sqlite3.connect(tmp_path / "db.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM timers").fetchone()[0] == 16 * 25
    # Writers take turns on the lock, so they hardly ever need a connection each.
    assert opened[0] <= 16
    store.close()


def test_a_writer_waits_no_longer_than_sqlite_would(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_store, "BUSY_TIMEOUT_S", 0.2)
    store = SQLiteStore(tmp_path / "db.sqlite")
    with _write_held(store), pytest.raises(sqlite3.OperationalError, match="database is locked"), store.transaction():
        pass
    with store.transaction() as tx:  # usable again once the holder is done
        tx.set_timer(Timer("arn", "op", "wait", 1))
    store.close()


def test_a_reader_neither_waits_for_a_writer_nor_can_write(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "db.sqlite")
    with store.transaction() as tx:
        tx.set_timer(Timer("arn", "op", "wait", 1))
    with _write_held(store, Timer("arn", "op2", "wait", 2)):
        started = time.monotonic()
        with store.read() as tx:  # the writer holds both locks: a reader does not care
            assert [t.op_id for t in tx.execution_timers("arn")] == ["op"]  # the last commit
        assert time.monotonic() - started < 1.0
        with pytest.raises(sqlite3.OperationalError, match="readonly"), store.read() as tx:
            tx.set_timer(Timer("arn", "op3", "wait", 3))
    with store.read() as tx:
        assert [t.op_id for t in tx.execution_timers("arn")] == ["op", "op2"]
    store.close()


def _write_timers(path: str, name: str, n: int) -> None:
    store = SQLiteStore(path)
    for i in range(n):
        with store.transaction() as tx:
            tx.set_timer(Timer(name, f"op{i}", "wait", i))
    store.close()


def test_writers_of_several_processes_queue_on_the_lock_file(tmp_path: Path) -> None:
    """Processes (forked ones too, which inherit the parent's descriptors) take turns on
    ``NAME.wlock``; every write of each commits."""
    path = tmp_path / "db.sqlite"
    store = SQLiteStore(path)
    with store.transaction() as tx:  # the parent has its lock file open before forking
        tx.set_timer(Timer("parent", "first", "wait", 0))
    assert (tmp_path / "db.sqlite.wlock").exists()
    fork = multiprocessing.get_context("fork")
    children = [fork.Process(target=_write_timers, args=(str(path), f"child{k}", 60)) for k in range(3)]
    for child in children:
        child.start()
    for i in range(60):
        with store.transaction() as tx:
            tx.set_timer(Timer("parent", f"op{i}", "wait", i))
    for child in children:
        child.join(60)
        assert child.exitcode == 0
    with sqlite3.connect(path) as conn:
        counts = dict(conn.execute("SELECT arn, COUNT(*) FROM timers GROUP BY arn").fetchall())
    assert counts == {"parent": 61, "child0": 60, "child1": 60, "child2": 60}
    store.close()


def _timers(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return sorted(r[0] for r in conn.execute("SELECT op_id FROM timers").fetchall())


def _group_of_writers(store: SQLiteStore, bodies: dict[str, Any]) -> dict[str, BaseException | None]:
    """Runs each body in a write transaction of its own thread, all of them queued
    behind a holder, so that they follow one another while the others wait."""
    holding, release = threading.Event(), threading.Event()
    outcome: dict[str, BaseException | None] = {}

    def run(name: str, body: Any) -> None:
        try:
            with store.transaction() as tx:
                body(tx)
            outcome[name] = None
        except BaseException as exc:
            outcome[name] = exc

    def hold(tx: Any) -> None:
        tx.set_timer(Timer("arn", "holder", "wait", 0))
        holding.set()
        release.wait(10)

    holder = threading.Thread(target=run, args=("holder", hold))
    holder.start()
    assert holding.wait(10)
    threads = [threading.Thread(target=run, args=item) for item in bodies.items()]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while store._waiting < len(bodies) and time.monotonic() < deadline:
        time.sleep(0.005)
    release.set()
    for thread in [holder, *threads]:
        thread.join(10)
    return outcome


def _counting_groups(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    opened = [0]
    original = sqlite_store._Group.__init__

    def counting(self: Any, *args: Any) -> None:
        opened[0] += 1
        original(self, *args)

    monkeypatch.setattr(sqlite_store._Group, "__init__", counting)
    return opened


def test_waiting_writers_commit_together_and_a_failing_one_alone_is_undone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SQLiteStore(tmp_path / "db.sqlite")
    groups = _counting_groups(monkeypatch)

    def write(op: str) -> Any:
        return lambda tx: tx.set_timer(Timer("arn", op, "wait", 0))

    def write_then_fail(tx: Any) -> None:
        tx.set_timer(Timer("arn", "b", "wait", 0))
        raise ValueError("this one fails")

    outcome = _group_of_writers(store, {"a": write("a"), "b": write_then_fail, "c": write("c")})
    assert outcome["holder"] is None and outcome["a"] is None and outcome["c"] is None
    assert isinstance(outcome["b"], ValueError)
    assert _timers(tmp_path / "db.sqlite") == ["a", "c", "holder"]  # b's write undone, alone
    assert groups[0] == 1  # one SQLite transaction for the four of them
    store.close()


class _FailingCommit:
    """A connection whose next COMMIT fails (as on a full or failing disk)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._failed = False

    def execute(self, sql: str, *args: Any) -> Any:
        if sql == "COMMIT" and not self._failed:
            self._failed = True
            raise sqlite3.OperationalError("disk I/O error")
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def test_when_the_group_cannot_commit_every_member_gets_the_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SQLiteStore(tmp_path / "db.sqlite")
    original = sqlite_store._Group.__init__

    def failing(self: Any, conn: sqlite3.Connection, *args: Any) -> None:
        original(self, _FailingCommit(conn), *args)

    monkeypatch.setattr(sqlite_store._Group, "__init__", failing)
    outcome = _group_of_writers(store, {op: (lambda tx, op=op: tx.set_timer(Timer("arn", op, "wait", 0))) for op in "ab"})
    for name in ("holder", "a", "b"):
        assert isinstance(outcome[name], sqlite3.OperationalError), outcome
        assert "not committed: disk I/O error" in str(outcome[name])
    assert _timers(tmp_path / "db.sqlite") == []
    monkeypatch.undo()
    with store.transaction() as tx:  # the store is usable afterwards
        tx.set_timer(Timer("arn", "after", "wait", 0))
    assert _timers(tmp_path / "db.sqlite") == ["after"]
    store.close()


def test_a_group_left_for_a_writer_that_gave_up_is_still_committed(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "db.sqlite")
    started = time.monotonic()
    with store.transaction() as tx:
        tx.set_timer(Timer("arn", "op", "wait", 0))
        store._waiting += 1  # as if a writer waited, then gave up before its turn
    store._waiting -= 1
    assert time.monotonic() - started < 5
    assert _timers(tmp_path / "db.sqlite") == ["op"]
    store.close()


def test_a_failing_writer_alone_leaves_nothing(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "db.sqlite")
    with pytest.raises(ValueError, match="nope"), store.transaction() as tx:
        tx.set_timer(Timer("arn", "gone", "wait", 0))
        raise ValueError("nope")
    with store.transaction() as tx:
        tx.set_timer(Timer("arn", "kept", "wait", 0))
    assert _timers(tmp_path / "db.sqlite") == ["kept"]
    store.close()
