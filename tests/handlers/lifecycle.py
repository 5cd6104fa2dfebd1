"""Handlers for lifecycle tests: chained invoke, stop, timeouts."""

from __future__ import annotations

from typing import Any

from aws_durable_execution_sdk_python import DurableContext, durable_execution
from aws_durable_execution_sdk_python.config import Duration


@durable_execution
def invoke_waiter(event: Any, context: DurableContext) -> Any:
    """Calls the durable Waiter function and returns what it returns."""
    return context.invoke(event.get("target", "Waiter"), {"seconds": event.get("seconds", 1)}, name="call-waiter")


def plain_echo(event: Any, context: Any) -> Any:
    """A plain Lambda handler (no DurableConfig)."""
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"echo": event, "function": context.function_name}


@durable_execution
def invoke_plain(event: Any, context: DurableContext) -> Any:
    return context.invoke("PlainEcho", event, name="echo")


@durable_execution
def slow_wait(event: Any, context: DurableContext) -> str:
    context.wait(Duration.from_seconds(int(event.get("seconds", 30))))
    return "finished"


@durable_execution
def invoke_from_env(event: Any, context: DurableContext) -> Any:
    """Calls the function its TARGET environment variable names (an ARN from the template)."""
    import os

    return context.invoke(os.environ["TARGET"], {"seconds": 1}, name="call-target")
