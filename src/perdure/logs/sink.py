"""Writing captured records to the store: in batches, on a thread of their own, never
inside a checkpoint's transaction.

Records wait in memory for at most ``interval_s`` (or until ``batch`` of them are
waiting) and go to the database in one transaction per flush. The worker flushes an
execution's records when its invocation ends, before it reports the end, so whoever
sees the invocation finished finds its lines. Each execution keeps at most ``limit``
records (``$PERDURE_LOG_LIMIT``, default 10,000): past that a truncation marker is
stored once and the rest is counted as dropped. Memory is bounded too: while the
database cannot take records, at most ``max_pending`` wait and the rest are dropped.

A process can die with records still in memory (a handler that crashes its process
right after logging, as Lambda's at-most-once examples do). So each record is also
appended, unbuffered, to the process's spool file before it waits; once stored, its
execution's records up to it are marked done there. When the supervisor sees a worker
process die, ``recover_spool`` stores what that process's spool holds beyond its marks
(and, at start, what spools of processes that died with a previous server hold).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from perdure.logs.capture import iso_ms
from perdure.store import NewLogRecord, Store

log = logging.getLogger("perdure.logs")

DEFAULT_LIMIT = 10_000
DEFAULT_INTERVAL_S = 0.25
DEFAULT_BATCH = 500
DEFAULT_MAX_PENDING = 100_000
SPOOL_COMPACT_BYTES = 8 * 1024 * 1024  # past this, the spool is rewritten with what still waits


def configured_limit() -> int:
    raw = os.environ.get("PERDURE_LOG_LIMIT", "").strip()
    try:
        return max(2, int(raw)) if raw else DEFAULT_LIMIT
    except ValueError:
        log.warning("PERDURE_LOG_LIMIT=%r is not a number; using %d", raw, DEFAULT_LIMIT)
        return DEFAULT_LIMIT


def spool_dir(db_url: str) -> Path:
    digest = hashlib.sha256(db_url.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / "perdure-log-spool" / digest


def spool_path(db_url: str, pid: int) -> Path:
    return spool_dir(db_url) / f"{pid}.jsonl"


def _record_json(n: int, arn: str, function_name: str, r: NewLogRecord) -> bytes:
    fields = [r.ts_ms, r.level, r.request_id, r.operation_id, r.operation_name, r.replay, r.body]
    return json.dumps({"n": n, "arn": arn, "fn": function_name, "r": fields}, default=str).encode() + b"\n"


def recover_spool(store: Store, path: Path) -> int:
    """Store the records a dead process's spool holds beyond its done marks, then
    remove it; returns how many were stored."""
    try:
        lines = path.read_bytes().splitlines()
    except FileNotFoundError:
        return 0
    done: dict[str, int] = {}
    records: list[tuple[int, str, str, NewLogRecord]] = []
    for line in lines:
        try:
            item: Any = json.loads(line)
            if "done" in item:
                done[item["done"]] = max(done.get(item["done"], 0), int(item["upto"]))
            else:
                ts, level, request_id, op_id, op_name, replay, body = item["r"]
                records.append((int(item["n"]), item["arn"], item["fn"], NewLogRecord(
                    int(ts), level, request_id, op_id, op_name, bool(replay), body)))
        except (ValueError, KeyError, TypeError):
            continue  # a line cut short by the death
    by_execution: dict[str, tuple[str, list[NewLogRecord]]] = {}
    for n, arn, function_name, record in records:
        if n > done.get(arn, 0):
            by_execution.setdefault(arn, (function_name, []))[1].append(record)
    stored = 0
    if by_execution:
        limit = configured_limit()
        with store.transaction() as tx:
            for arn, (function_name, pending) in by_execution.items():
                stored += tx.append_logs(arn, function_name, pending, limit, truncation_marker(arn, limit))[0]
    path.unlink(missing_ok=True)
    return stored


def recover_worker_logs(store: Store, db_url: str, pid: int) -> None:
    """After worker process ``pid`` died: store what its spool holds (never raises)."""
    try:
        recovered = recover_spool(store, spool_path(db_url, pid))
        if recovered:
            log.info("stored %d log record(s) a dead worker process had not written", recovered)
    except Exception as exc:
        log.warning("could not recover the log spool of worker process %d: %s", pid, exc)


def recover_orphan_spools(store: Store, db_url: str) -> int:
    """Recover the spools of processes (of this database) that are gone."""
    stored = 0
    directory = spool_dir(db_url)
    if not directory.is_dir():
        return 0
    for path in directory.glob("*.jsonl"):
        try:
            os.kill(int(path.stem), 0)
            continue  # alive
        except (ValueError, PermissionError):
            continue
        except ProcessLookupError:
            pass
        try:
            stored += recover_spool(store, path)
        except Exception as exc:
            log.warning("could not recover log spool %s: %s", path, exc)
    return stored


def truncation_marker(arn: str, limit: int) -> NewLogRecord:
    now = int(time.time() * 1000)
    message = f"perdure: log truncated: this execution reached its limit of {limit} records; later records were dropped"
    return NewLogRecord(
        ts_ms=now, level="WARN", request_id=None, operation_id=None, operation_name=None, replay=False,
        body={"timestamp": iso_ms(now), "level": "WARN", "message": message, "durableExecutionArn": arn,
              "truncated": True},
    )


class LogSink:
    """Buffers records per execution and writes them in batches (thread-safe)."""

    def __init__(
        self,
        store: Store,
        *,
        limit: int | None = None,
        interval_s: float = DEFAULT_INTERVAL_S,
        batch: int = DEFAULT_BATCH,
        max_pending: int = DEFAULT_MAX_PENDING,
        on_dropped: Callable[[int], None] | None = None,
        spool: Path | None = None,
    ) -> None:
        self.store = store
        self.limit = limit  # None: $PERDURE_LOG_LIMIT of the function the process runs
        self.interval_s = interval_s
        self.batch = batch
        self.max_pending = max_pending
        self.dropped = 0
        self._on_dropped = on_dropped
        self._pending: dict[str, tuple[str, list[tuple[int, NewLogRecord]]]] = {}
        self._count = 0
        self._n = 0
        self._spool: IO[bytes] | None = None
        if spool is not None:
            spool.parent.mkdir(parents=True, exist_ok=True)
            self._spool = open(spool, "ab", buffering=0)  # noqa: SIM115 - closed in close()
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()  # one flush at a time keeps an execution's order
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="perdure-logs", daemon=True)
        self._thread.start()

    def add(self, arn: str, function_name: str, record: NewLogRecord) -> None:
        with self._lock:
            if self._count >= self.max_pending:
                self._drop(1)
                return
            entry = self._pending.get(arn)
            if entry is None:
                entry = self._pending[arn] = (function_name, [])
            self._n += 1
            if self._spool is not None:
                self._spool.write(_record_json(self._n, arn, function_name, record))
            entry[1].append((self._n, record))
            self._count += 1
            full = self._count >= self.batch
        if full:
            self._wake.set()

    def flush(self, arn: str | None = None) -> None:
        """Write what is waiting (only this execution's when ``arn`` is given)."""
        with self._write_lock:
            with self._lock:
                if arn is None:
                    taken, self._pending = self._pending, {}
                else:
                    one = self._pending.pop(arn, None)
                    taken = {arn: one} if one else {}
                self._count -= sum(len(records) for _, records in taken.values())
            if taken:
                self._write(taken)

    def _write(self, taken: dict[str, tuple[str, list[tuple[int, NewLogRecord]]]]) -> None:
        try:
            limit = self.limit or configured_limit()
            with self.store.transaction() as tx:
                dropped = 0
                for arn, (function_name, records) in taken.items():
                    plain = [r for _, r in records]
                    _, lost = tx.append_logs(arn, function_name, plain, limit, truncation_marker(arn, limit))
                    dropped += lost
        except Exception as exc:
            # The database is away: keep them for the next flush, within the bound.
            log.warning("could not store %d log record(s): %s", sum(len(r) for _, r in taken.values()), exc)
            with self._lock:
                for arn, (function_name, records) in taken.items():
                    room = self.max_pending - self._count
                    kept = records[:max(0, room)]
                    if len(kept) < len(records):
                        self._drop(len(records) - len(kept))
                    entry = self._pending.setdefault(arn, (function_name, []))
                    entry[1][:0] = kept
                    self._count += len(kept)
            return
        with self._lock:
            if dropped:
                self._drop(dropped)
            if self._spool is not None:
                if self._count == 0:
                    self._spool.truncate(0)  # everything is stored: start the spool again
                elif os.fstat(self._spool.fileno()).st_size > SPOOL_COMPACT_BYTES:
                    self._spool.truncate(0)  # keep only what still waits
                    for arn, (function_name, records) in self._pending.items():
                        for n, record in records:
                            self._spool.write(_record_json(n, arn, function_name, record))
                else:
                    for arn, (_, records) in taken.items():
                        mark = {"done": arn, "upto": records[-1][0]}
                        self._spool.write(json.dumps(mark).encode() + b"\n")

    def _drop(self, n: int) -> None:
        self.dropped += n
        if self._on_dropped is not None:
            self._on_dropped(n)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.interval_s)
            self._wake.clear()
            try:
                self.flush()
            except Exception:
                log.exception("log flush failed")

    def close(self) -> None:
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout=5)
        self.flush()
        if self._spool is not None:
            with self._lock:
                if self._count == 0:
                    Path(self._spool.name).unlink(missing_ok=True)
                self._spool.close()
                self._spool = None
