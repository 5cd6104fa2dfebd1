"""Conformance suite "wait" (requirements 2-1 .. 2-5)."""

from __future__ import annotations

from typing import Any

from aws_durable_execution_sdk_python import DurableContext, durable_execution
from aws_durable_execution_sdk_python.config import Duration


@durable_execution
def wait_2_1(event: Any, context: DurableContext) -> dict:
    """2-1: a single 2 s wait."""
    context.wait(Duration.from_seconds(2))
    return {"waited": 2}


@durable_execution
def wait_2_2(event: Any, context: DurableContext) -> dict:
    """2-2: a 2 s wait with an explicit name."""
    context.wait(Duration.from_seconds(2), name="custom_wait_name")
    return {"waited": 2}


@durable_execution
def wait_2_3(event: Any, context: DurableContext) -> dict:
    """2-3: two sequential named waits, each suspending and resuming the execution."""
    context.wait(Duration.from_seconds(2), name="wait-1")
    context.wait(Duration.from_seconds(2), name="wait-2")
    return {"completedWaits": 2}


@durable_execution
def wait_2_4(event: Any, context: DurableContext) -> dict:
    """2-4: a one-minute wait (Duration=60 in history)."""
    context.wait(Duration.from_minutes(1))
    return {"waited": 60}


@durable_execution
def wait_2_5(event: Any, context: DurableContext) -> dict:
    """2-5: a one-hour wait (Duration=3600 in history)."""
    context.wait(Duration.from_hours(1))
    return {"waited": 3600}
