"""Handlers that run into the service's limits."""

from __future__ import annotations

from typing import Any

from aws_durable_execution_sdk_python import DurableContext, durable_execution


@durable_execution
def big_step(event: Any, context: DurableContext) -> str:
    """A step whose result is larger than an operation payload may be (256 KB)."""
    attempts = event.get("log")

    def produce(_: Any) -> str:
        if attempts:
            with open(attempts, "a") as f:
                f.write("attempt\n")
        return "x" * (300 * 1024)

    return context.step(produce, name="too-big")[:10]
