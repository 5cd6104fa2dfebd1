"""Handlers the benchmarks run (plain official-SDK handlers)."""

from __future__ import annotations

from typing import Any

from aws_durable_execution_sdk_python import DurableContext, durable_execution
from aws_durable_execution_sdk_python.config import Duration


@durable_execution
def sequential(event: Any, context: DurableContext) -> int:
    total = 0
    for i in range(int(event["steps"])):
        total += context.step(lambda _, i=i: i, name=f"s{i}")
    return total


@durable_execution
def await_callback(event: Any, context: DurableContext) -> str:
    callback = context.create_callback(name="cb")
    value = callback.result()
    return str(context.step(lambda _: value, name="after"))


@durable_execution
def wait_one_second(event: Any, context: DurableContext) -> str:
    context.wait(Duration.from_seconds(1))
    return str(context.step(lambda _: "after", name="after"))


@durable_execution
def logged_sequential(event: Any, context: DurableContext) -> int:
    """``sequential``, each step logging one line through its step context's logger."""
    total = 0
    steps = int(event["steps"])
    for i in range(steps):

        def step(step_context: Any, i: int = i) -> int:
            step_context.logger.info("step %d of %d", i, steps)
            return i

        total += context.step(step, name=f"s{i}")
    return total


@durable_execution
def map_items(event: Any, context: DurableContext) -> int:
    """A map over ``items`` items, each running one step in its own child context."""

    def item(ctx: DurableContext, value: int, index: int, items: Any) -> int:
        return int(ctx.step(lambda _: value * 2, name="double"))

    results = context.map(list(range(int(event["items"]))), item, name="fan-out")
    return sum(results.get_results())
