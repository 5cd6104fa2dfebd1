"""The clock every part of perdure reads time from (a foundation module, like
``perdure.errors``: any package may import it).

The engine is given one (``Engine(store, clock=...)``) and everything that works on its
executions (the runtime, the console, metrics, ``advance``, versions) asks the engine's
clock for "now" rather than the system. ``perdure.testing`` passes a virtual clock, so
a 7-day wait is 7 virtual days everywhere at once, and two test environments with
their own clocks can live in one process.
"""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["SYSTEM_CLOCK", "Clock", "SystemClock"]


class Clock(Protocol):
    def now_ms(self) -> int:
        """Milliseconds since the Unix epoch."""
        ...


class SystemClock:
    """Wall-clock time."""

    def now_ms(self) -> int:
        return int(time.time() * 1000)


SYSTEM_CLOCK = SystemClock()
