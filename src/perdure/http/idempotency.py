"""Client retries of one Invoke start one execution, not several.

botocore gives every API call an ``amz-sdk-invocation-id`` (a UUID) and sends the same
value on each retry of that call: after a read timeout, a throttle or a dropped
connection. A synchronous Invoke of an execution that runs longer than the client's
read timeout is retried by the client while the first execution still runs; without
this, every attempt would start another execution.

``InvocationDedup`` remembers, for ``WINDOW_S`` seconds, which execution each
(function, invocation id, execution name) started, and answers a retry with it. AWS
itself does not do this (a retried Invoke there is a new invocation); perdure does
because a local developer's client timing out is the common case, not the rare one.

The memory is per server process: a retry that reaches another server (or the same
server after a restart) starts a new execution, as on AWS. Name executions
(``DurableExecutionName``) when that matters: names are idempotent in the database.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

INVOCATION_ID_HEADER = "amz-sdk-invocation-id"
WINDOW_S = 600.0  # how long a retry finds the execution the first attempt started
MAX_ENTRIES = 100_000

T = TypeVar("T")


class InvocationDedup:
    """Maps a client call's id to what its first attempt produced, for a while."""

    def __init__(self, window_s: float = WINDOW_S, max_entries: int = MAX_ENTRIES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self.max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, ...], tuple[float, object]] = OrderedDict()
        self._pending: dict[tuple[str, ...], threading.Lock] = {}

    def once(self, key: tuple[str, ...] | None, start: Callable[[], T]) -> tuple[T, bool]:
        """``start()`` the first time ``key`` is seen within the window; later (or
        concurrent) calls with the same key get the first result. Returns (result,
        whether this call started it). ``key=None`` always starts."""
        if key is None:
            return start(), True
        with self._lock:
            gate = self._pending.setdefault(key, threading.Lock())
        with gate:  # a retry racing its first attempt waits for it
            with self._lock:
                self._expire()
                found = self._entries.get(key)
            if found is not None:
                return found[1], False  # type: ignore[return-value]
            try:
                result = start()
                with self._lock:
                    self._entries[key] = (self._clock() + self.window_s, result)
                    while len(self._entries) > self.max_entries:
                        self._entries.popitem(last=False)
            finally:
                with self._lock:
                    self._pending.pop(key, None)
            return result, True

    def _expire(self) -> None:
        now = self._clock()
        while self._entries:
            key, (expires, _) = next(iter(self._entries.items()))
            if expires > now:
                return
            del self._entries[key]


def invoke_key(function: str, invocation_id: str | None, execution_name: str | None) -> tuple[str, ...] | None:
    """The dedup key of an Invoke request, or None when the client sent no call id."""
    if not invocation_id:
        return None
    return (function, invocation_id, execution_name or "")
