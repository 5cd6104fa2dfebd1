"""Handlers the engine tests run, written with the official SDK as a user would."""

from __future__ import annotations

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
