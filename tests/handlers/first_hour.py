"""Handlers for the first-hour tests (tests/test_first_hour.py)."""

from __future__ import annotations

from typing import Any

from aws_durable_execution_sdk_python import DurableContext, durable_execution
from aws_durable_execution_sdk_python.config import Duration, JitterStrategy, StepConfig
from aws_durable_execution_sdk_python.retries import (
    RetryStrategyConfig,
    create_retry_strategy,
)


@durable_execution
def slow(event: Any, context: DurableContext) -> str:
    """Takes ``seconds`` (20 by default): longer than a client's read timeout."""
    context.wait(Duration.from_seconds(int(event.get("seconds", 20))))
    return "done"


@durable_execution
def order(event: Any, context: DurableContext) -> Any:
    """The README's example: a step, a wait of an hour, a callback."""
    reserved = context.step(lambda _: {"order": event["id"], "reserved": True}, name="reserve")
    context.wait(Duration.from_hours(1), name="cool-off")
    approval = context.create_callback(name="approve")
    return {"order": reserved, "approved": approval.result()}


def _fails_once(path: str) -> Any:
    import os

    if not os.path.exists(path):
        with open(path, "w") as f:
            f.write("failed once\n")
        raise RuntimeError("card service unavailable")
    return "charged"


@durable_execution
def retry_later(event: Any, context: DurableContext) -> Any:
    """A step that fails once and is retried an hour later."""
    retry = create_retry_strategy(RetryStrategyConfig(
        max_attempts=2, initial_delay=Duration.from_hours(1), jitter_strategy=JitterStrategy.NONE,
    ))
    return context.step(lambda _: _fails_once(event["marker"]), name="charge", config=StepConfig(retry_strategy=retry))


@durable_execution
def broken_step(event: Any, context: DurableContext) -> Any:
    def explode(_: Any) -> Any:
        return {"total": 1} ["missing"]

    return context.step(explode, name="explode", config=StepConfig(
        retry_strategy=create_retry_strategy(RetryStrategyConfig(max_attempts=1)),
    ))


def plain_fails(event: Any, context: Any) -> Any:
    """A plain (non-durable) Lambda handler that raises."""
    raise ValueError(f"bad input {event!r}")


def plain_ok(event: Any, context: Any) -> Any:
    return {"echo": event}
