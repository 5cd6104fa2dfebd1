"""Synchronous (RequestResponse) invokes waiting for their executions to close.

A waiting caller costs one future on the event loop, never a thread: the runtime
announces every close (its own, and other processes' through the store), and a slow
re-check covers a close whose announcement was missed (notifications lost while the
database restarted). A caller that hangs up stops waiting at once (the execution goes
on), and the number of callers waiting at a time is bounded: beyond it the service
answers ``TooManyRequestsException`` instead of queueing without end.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from perdure.errors import TooManyRequests
from perdure.store import ExecutionRow

OPEN_STATUSES = frozenset({"RUNNING", "PAUSING", "PAUSED"})
DEFAULT_MAX_WAITING = 1000
RECHECK_S = 5.0  # the safety net for a missed announcement; closes normally wake at once


class SyncWaiters:
    """Futures of waiting callers by execution ARN, woken from any thread."""

    def __init__(self, max_waiting: int = DEFAULT_MAX_WAITING, recheck_s: float = RECHECK_S) -> None:
        self.max_waiting = max_waiting
        self.recheck_s = recheck_s
        self.waiting = 0
        # Each resolves to the closed execution when its close was announced with it.
        self._futures: dict[str, set[asyncio.Future[ExecutionRow | None]]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def observe(self, kind: str, arn: str, details: dict[str, Any]) -> None:
        """The runtime's observer: an execution closed, here or elsewhere (called on a
        runtime thread)."""
        if kind == "invocation":
            return
        loop = self._loop
        if loop is not None and arn in self._futures:
            with contextlib.suppress(RuntimeError):  # the loop has already stopped
                loop.call_soon_threadsafe(self._wake, arn, details.get("row"))

    def _wake(self, arn: str, row: ExecutionRow | None) -> None:
        for future in self._futures.get(arn, ()):
            if not future.done():
                future.set_result(row)

    async def wait(
        self,
        arn: str,
        read: Callable[[str], Awaitable[ExecutionRow]],
        disconnected: Callable[[], Awaitable[None]],
    ) -> ExecutionRow | None:
        """The closed execution, or None when the caller hung up first.

        ``read`` fetches the execution (off the loop); ``disconnected`` returns when the
        client's connection is gone."""
        if self.waiting >= self.max_waiting:
            raise TooManyRequests(
                f"Too many synchronous invocations waiting ({self.max_waiting}); retry later, "
                "or invoke with InvocationType Event and poll GetDurableExecution"
            )
        self._loop = asyncio.get_running_loop()
        self.waiting += 1
        futures = self._futures.setdefault(arn, set())
        future: asyncio.Future[ExecutionRow | None] = self._loop.create_future()
        futures.add(future)
        hangup = asyncio.ensure_future(disconnected())
        try:
            # Registered before the first read: a close between the two still wakes us.
            row = await read(arn)
            while row.status in OPEN_STATUSES:
                either: set[asyncio.Future[Any]] = {future, hangup}
                await asyncio.wait(either, timeout=self.recheck_s, return_when=asyncio.FIRST_COMPLETED)
                if hangup.done():
                    return None
                closed = None
                if future.done():
                    closed = future.result()
                    futures.discard(future)
                    future = self._loop.create_future()
                    futures.add(future)
                # A close announced by this runtime carries the execution: no read back.
                row = closed if closed is not None and closed.status not in OPEN_STATUSES else await read(arn)
            return row
        finally:
            hangup.cancel()
            futures.discard(future)
            if not futures:
                self._futures.pop(arn, None)
            self.waiting -= 1
