"""Handlers that log every way a handler can, for the log-capture tests."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from aws_durable_execution_sdk_python import DurableContext, StepContext, durable_execution
from aws_durable_execution_sdk_python.config import Duration, WaitForCallbackConfig

app_log = logging.getLogger("shop.orders")


@durable_execution
def chatty(event: Any, context: DurableContext) -> str:
    """Logs through context.logger, logging and print, in steps around a wait and a
    callback, and once at the top level (which replays)."""
    order = event.get("order", "o-1")
    print(f"top-level print for {order}")  # written again on every replay

    def reserve(step_context: StepContext) -> str:
        step_context.logger.info(f"reserving stock for {order}")
        app_log.warning(f"stock low while reserving {order}")
        print(f"printed while reserving {order}")
        return "reserved"

    context.step(reserve, name="reserve")
    context.wait(Duration.from_seconds(1))

    def charge(step_context: StepContext) -> str:
        step_context.logger.error(f"card declined once for {order}")
        sys.stderr.write(f"stderr while charging {order}\n")
        print(json.dumps({"event": "charged", "order": order}))
        return "charged"

    context.step(charge, name="charge")

    def submit(callback_id: str, step_context: Any) -> None:
        print(f"approval requested for {order}: {callback_id}")

    approval = context.wait_for_callback(submit, name="approval", config=WaitForCallbackConfig(timeout=Duration.from_seconds(60)))
    context.logger.info(f"approved {order}: {approval}")
    return f"done {order}"


@durable_execution
def noisy(event: Any, context: DurableContext) -> int:
    """Logs ``event["lines"]`` lines in one step (for the per-execution bound)."""

    def spam(step_context: StepContext) -> int:
        for i in range(int(event["lines"])):
            print(f"line {i}")
        return int(event["lines"])

    return context.step(spam, name="spam")


@durable_execution
def caller(event: Any, context: DurableContext) -> Any:
    """Calls Noisy through a chained invoke (its trace joins this one)."""
    return context.invoke("Noisy", {"lines": 2}, name="call-noisy")


@durable_execution
def fanout(event: Any, context: DurableContext) -> int:
    """A map whose items print and log concurrently (in the SDK's branch threads)."""
    tag = event["tag"]

    def item(child: DurableContext, value: int, index: int, items: Any) -> int:
        def work(step_context: StepContext) -> int:
            for n in range(5):
                print(f"{tag} item {value} line {n}")
                app_log.info(f"{tag} item {value} logged {n}")
            return value

        return child.step(work, name=f"work-{value}")

    results = context.map(list(range(4)), item, name="items")
    return sum(results.get_results())
