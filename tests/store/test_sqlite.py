"""The SQLite store's own concurrency: connections shared by a process's threads, its
writers queued on a lock before SQLite's, and that wait bounded like SQLite's own."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from perdure.store import sqlite as sqlite_store
from perdure.store.base import Timer
from perdure.store.sqlite import SQLiteStore


def _count_opens(store: SQLiteStore, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    opened = [0]
    original = store._open

    def counting_open() -> sqlite3.Connection:
        opened[0] += 1
        return original()

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
