"""The SQLite store's own concurrency: connections shared by a process's threads, its
writers queued on a lock of the process and on a lock file shared by the processes
before SQLite's own lock, that wait bounded like SQLite's own, and readers that take no
lock at all."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import time
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
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store.transaction():
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(10)
        with pytest.raises(sqlite3.OperationalError, match="database is locked"), store.transaction():
            pass
    finally:
        release.set()
        holder.join(10)
    with store.transaction() as tx:  # usable again once the holder is done
        tx.set_timer(Timer("arn", "op", "wait", 1))
    store.close()


def test_a_reader_neither_waits_for_a_writer_nor_can_write(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "db.sqlite")
    with store.transaction() as tx:
        tx.set_timer(Timer("arn", "op", "wait", 1))
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store.transaction() as tx:
            tx.set_timer(Timer("arn", "op2", "wait", 2))
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(10)
        started = time.monotonic()
        with store.read() as tx:  # the writer holds both locks: a reader does not care
            assert [t.op_id for t in tx.execution_timers("arn")] == ["op"]  # the last commit
        assert time.monotonic() - started < 1.0
        with pytest.raises(sqlite3.OperationalError, match="readonly"), store.read() as tx:
            tx.set_timer(Timer("arn", "op3", "wait", 3))
    finally:
        release.set()
        holder.join(10)
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
