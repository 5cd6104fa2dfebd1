"""Writing captured records to the store: in batches, on a thread of their own, never
inside a checkpoint's transaction.

Records wait in memory for at most ``interval_s`` (or until ``batch`` of them are
waiting) and go to the database in one transaction per flush. The worker flushes an
execution's records when its invocation ends, before it reports the end, so whoever
sees the invocation finished finds its lines. Each execution keeps at most ``limit``
records (``$PERDURE_LOG_LIMIT``, default 10,000): past that a truncation marker is
stored once and the rest is counted as dropped. Memory is bounded too: while the
database cannot take records, at most ``max_pending`` wait and the rest are dropped.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from perdure.logs.capture import iso_ms
from perdure.store.base import Store
from perdure.store.logs import NewLogRecord

log = logging.getLogger("perdure.logs")

DEFAULT_LIMIT = 10_000
DEFAULT_INTERVAL_S = 0.25
DEFAULT_BATCH = 500
DEFAULT_MAX_PENDING = 100_000


def configured_limit() -> int:
    raw = os.environ.get("PERDURE_LOG_LIMIT", "").strip()
    try:
        return max(2, int(raw)) if raw else DEFAULT_LIMIT
    except ValueError:
        log.warning("PERDURE_LOG_LIMIT=%r is not a number; using %d", raw, DEFAULT_LIMIT)
        return DEFAULT_LIMIT


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
    ) -> None:
        self.store = store
        self.limit = limit  # None: $PERDURE_LOG_LIMIT of the function the process runs
        self.interval_s = interval_s
        self.batch = batch
        self.max_pending = max_pending
        self.dropped = 0
        self._on_dropped = on_dropped
        self._pending: dict[str, tuple[str, list[NewLogRecord]]] = {}
        self._count = 0
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
            entry[1].append(record)
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

    def _write(self, taken: dict[str, tuple[str, list[NewLogRecord]]]) -> None:
        try:
            limit = self.limit or configured_limit()
            with self.store.transaction() as tx:
                dropped = 0
                for arn, (function_name, records) in taken.items():
                    _, lost = tx.append_logs(arn, function_name, records, limit, truncation_marker(arn, limit))
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
        if dropped:
            with self._lock:
                self._drop(dropped)

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
