"""Handlers the engine tests run, written with the official SDK as a user would."""

from __future__ import annotations

import os
from typing import Any

from aws_durable_execution_sdk_python import DurableContext, durable_execution
from aws_durable_execution_sdk_python.config import Duration


@durable_execution
def hello(event: Any, context: DurableContext) -> Any:
    a = context.step(lambda _: 1, name="one")
    b = context.step(lambda _: a + 1, name="two")
    return {"sum": a + b, "input": event}


@durable_execution
def sequential(event: Any, context: DurableContext) -> int:
    total = 0
    for i in range(int(event.get("steps", 100))):
        total += context.step(lambda _, i=i: i, name=f"s{i}")
    return total


@durable_execution
def waiter(event: Any, context: DurableContext) -> str:
    context.step(lambda _: "before", name="before")
    context.wait(Duration.from_seconds(int(event.get("seconds", 1))))
    return context.step(lambda _: "after", name="after")


def _append(path: str, line: str) -> None:
    with open(path, "a") as f:
        f.write(line + "\n")


def _first_time(marker: str, note: str) -> bool:
    """True (and leaves ``marker`` behind) the first time it is asked, across processes."""
    if os.path.exists(marker):
        return False
    _append(marker, note)
    return True


@durable_execution
def counted_wait(event: Any, context: DurableContext) -> str:
    """Each step appends its name to ``event["log"]``, so tests can see nothing ran twice."""
    log = event["log"]

    def mark(name: str) -> Any:
        def run(_: Any) -> str:
            _append(log, name)
            return name

        return run

    context.step(mark("first"), name="first")
    context.wait(Duration.from_seconds(int(event["seconds"])))
    context.step(mark("second"), name="second")
    return "done"


@durable_execution
def crash_once(event: Any, context: DurableContext) -> str:
    """Kills its own process in the middle of a step the first time it runs."""
    marker = event["marker"]

    def work(_: Any) -> str:
        if _first_time(marker, "crashed"):
            os._exit(1)
        return "survived"

    context.step(lambda _: "before", name="before")
    return context.step(work, name="work")


@durable_execution
def nondeterministic(event: Any, context: DurableContext) -> str:
    """Version 1 retries a step; version 2 (deployed meanwhile) calls another step there."""
    from aws_durable_execution_sdk_python.config import StepConfig
    from aws_durable_execution_sdk_python.retries import (
        JitterStrategy,
        RetryStrategyConfig,
        create_retry_strategy,
    )

    with open(event["version_file"]) as f:
        version = f.read().strip()
    if version == "1":
        retry = create_retry_strategy(
            RetryStrategyConfig(
                max_attempts=3, initial_delay=Duration.from_seconds(2), jitter_strategy=JitterStrategy.NONE
            )
        )

        def charge(_: Any) -> str:
            raise RuntimeError("card service unavailable")

        return context.step(charge, name="charge-card", config=StepConfig(retry_strategy=retry))
    return context.step(lambda _: "refunded", name="refund-card")


@durable_execution
def approval(event: Any, context: DurableContext) -> Any:
    """Waits for a human: creates a callback and blocks on its result."""
    from aws_durable_execution_sdk_python.config import CallbackConfig

    callback = context.create_callback(
        name="approve", config=CallbackConfig(timeout=Duration.from_seconds(int(event.get("timeout", 60))))
    )
    context.step(lambda _: _append(event["log"], callback.callback_id) if event.get("log") else None, name="notify")
    return {"approved": callback.result()}


@durable_execution
def sleepy(event: Any, context: DurableContext) -> str:
    """Runs past its function's Timeout on the first invocation only."""
    import time

    marker = event["marker"]

    def slow(_: Any) -> str:
        if _first_time(marker, "slept"):
            time.sleep(float(event.get("sleep", 5)))
        return "woke"

    return context.step(slow, name="slow")


@durable_execution
def long_step(event: Any, context: DurableContext) -> str:
    """A step that takes a while the first time (long enough to kill the server in it)."""
    import time

    marker = event["marker"]

    def work(_: Any) -> str:
        if _first_time(marker, "started"):
            time.sleep(20)
        return "done"

    return context.step(work, name="work")
