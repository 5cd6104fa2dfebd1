"""An order workflow: reserve stock, wait out a 7-day cooling-off period, charge the
card (the payment service fails the first attempts, so the step retries with
backoff), then wait up to a day for a manager's approval before shipping."""

from __future__ import annotations

import json
from typing import Any

from aws_durable_execution_sdk_python import DurableContext, StepContext, durable_execution
from aws_durable_execution_sdk_python.config import CallbackConfig, Duration, StepConfig
from aws_durable_execution_sdk_python.exceptions import CallbackError
from aws_durable_execution_sdk_python.retries import (
    JitterStrategy,
    RetryStrategyConfig,
    create_retry_strategy,
)

CHARGE_RETRY = create_retry_strategy(RetryStrategyConfig(
    max_attempts=5, initial_delay=Duration.from_seconds(30), backoff_rate=2.0,
    jitter_strategy=JitterStrategy.NONE,
))


def reserve(order: dict[str, Any]) -> dict[str, Any]:
    return {"order": order["id"], "items": len(order.get("items", []))}


def charge(order: dict[str, Any], step: StepContext) -> dict[str, Any]:
    # A flaky payment service: the first `failures` attempts fail.
    if step.attempt <= int(order.get("failures", 0)):
        raise ConnectionError(f"payment service unavailable (attempt {step.attempt})")
    return {"charged": order.get("amount", 10), "attempt": step.attempt}


@durable_execution
def handler(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
    reservation = context.step(lambda _: reserve(event), name="reserve")
    context.wait(Duration.from_days(7), name="cooling-off")
    payment = context.step(lambda step: charge(event, step), name="charge",
                           config=StepConfig(retry_strategy=CHARGE_RETRY))
    approval = context.create_callback(
        name="approval", config=CallbackConfig(timeout=Duration.from_days(1)))
    try:
        decision = json.loads(approval.result() or "{}")  # callback results arrive as raw text
    except CallbackError:
        decision = {"approved": False, "reason": "no answer within a day"}
    if not decision.get("approved"):
        return context.step(lambda _: {**reservation, "status": "cancelled", "refund": payment["charged"]},
                            name="cancel")
    return context.step(lambda _: {**reservation, "status": "shipped", "paid": payment["charged"]},
                        name="ship")
