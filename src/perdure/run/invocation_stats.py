"""What a worker process measures about the invocations it runs, reported to its
supervisor with each invocation's end (``perdure.run.metrics`` counts it there)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


class InvocationStats:
    """In a worker process: what one invocation's checkpoints took, reported with its end."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._checkpoints: dict[str, list[float]] = {}

    def timed(self, checkpoint: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(durable_execution_arn: str, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return checkpoint(durable_execution_arn, *args, **kwargs)
            finally:
                elapsed = time.perf_counter() - started
                with self._lock:
                    took = self._checkpoints.setdefault(durable_execution_arn, [])
                    if len(took) < 10_000:
                        took.append(elapsed)

        return wrapper

    def take(self, arn: str) -> list[float]:
        with self._lock:
            return self._checkpoints.pop(arn, [])
