"""Conformance suite "wait_for_condition" (requirements 6-1 .. 6-13).

Polls use a fixed 1 s delay without jitter unless the requirement names another.
"""

from __future__ import annotations

from typing import Any

from aws_durable_execution_sdk_python import (
    DurableContext,
    WaitForConditionError,
    durable_execution,
)
from aws_durable_execution_sdk_python.waits import (
    WaitForConditionConfig,
    WaitForConditionDecision,
)
from conformance_support import HandlerTestError, PrefixSerDes, fixed_poll


def increment(state: int, check_context: Any) -> int:
    return state + 1


def poll_until(threshold: int, initial: int = 0, **kwargs: Any) -> WaitForConditionConfig:
    return WaitForConditionConfig(
        wait_strategy=fixed_poll(lambda s: s < threshold, **kwargs),
        initial_state=initial,
    )


@durable_execution
def wait_for_condition_6_1(event: Any, context: DurableContext) -> int:
    """6-1: count up from 0 until the counter reaches the input (3)."""
    return context.wait_for_condition(increment, poll_until(int(event)))


@durable_execution
def wait_for_condition_6_2(event: Any, context: DurableContext) -> int:
    """6-2: initial state 5, unchanged by the check; the condition holds at once."""
    initial = int(event)
    config = WaitForConditionConfig(
        wait_strategy=fixed_poll(lambda s: s < 5), initial_state=initial
    )
    return context.wait_for_condition(lambda state, _: state, config)


@durable_execution
def wait_for_condition_6_3(event: Any, context: DurableContext) -> int:
    """6-3: named "poll-status"; counts from 0 to 2."""
    return context.wait_for_condition(increment, poll_until(int(event)), name="poll-status")


@durable_execution
def wait_for_condition_6_4(event: Any, context: DurableContext) -> int:
    """6-4: initial state 5, counting up to the input (8)."""
    return context.wait_for_condition(increment, poll_until(int(event), initial=5))


@durable_execution
def wait_for_condition_6_5(event: Any, context: DurableContext) -> int:
    """6-5: a fixed 2 s delay between polls, counting from 0 to the input (3)."""
    return context.wait_for_condition(increment, poll_until(int(event), delay_s=2))


@durable_execution
def wait_for_condition_6_6(event: Any, context: DurableContext) -> int:
    """6-6: the condition is never met; the strategy allows 3 attempts, then fails."""
    config = WaitForConditionConfig(
        wait_strategy=fixed_poll(lambda s: True, max_attempts=3), initial_state=0
    )
    return context.wait_for_condition(increment, config)


def failing_check(state: Any, check_context: Any) -> Any:
    raise HandlerTestError("condition check failed")


@durable_execution
def wait_for_condition_6_7(event: Any, context: DurableContext) -> Any:
    """6-7: the check raises on its first call; uncaught, the execution fails."""
    return context.wait_for_condition(failing_check, poll_until(1))


@durable_execution
def wait_for_condition_6_8(event: Any, context: DurableContext) -> Any:
    """6-8: the check raises; the handler catches it and returns "recovered"."""
    try:
        return context.wait_for_condition(failing_check, poll_until(1))
    except WaitForConditionError:
        return "recovered"


@durable_execution
def wait_for_condition_6_9(event: Any, context: DurableContext) -> dict:
    """6-9: the state is an object {status, attempts}; DONE once attempts reaches 2."""

    def check(state: dict, check_context: Any) -> dict:
        attempts = state["attempts"] + 1
        return {"status": "DONE" if attempts >= 2 else "PENDING", "attempts": attempts}

    config = WaitForConditionConfig(
        wait_strategy=fixed_poll(lambda s: s["status"] == "PENDING"),
        initial_state={"status": "PENDING", "attempts": 0},
    )
    return context.wait_for_condition(check, config)


@durable_execution
def wait_for_condition_6_10(event: Any, context: DurableContext) -> Any:
    """6-10: the check returns None and the strategy stops at once."""
    config = WaitForConditionConfig(
        wait_strategy=lambda state, attempt: WaitForConditionDecision.stop_polling(),
        initial_state=None,
    )
    return context.wait_for_condition(lambda state, _: None, config)


@durable_execution
def wait_for_condition_6_11(event: Any, context: DurableContext) -> str:
    """6-11: a custom serdes for a string state; appends "x" until the length is 2."""
    config = WaitForConditionConfig(
        wait_strategy=fixed_poll(lambda s: len(s) < 2),
        initial_state="",
        serdes=PrefixSerDes("encoded:"),
    )
    return context.wait_for_condition(lambda state, _: state + "x", config)


@durable_execution
def wait_for_condition_6_12(event: Any, context: DurableContext) -> int:
    """6-12: the final state (2) feeds a step multiplying it by 10."""
    final = context.wait_for_condition(increment, poll_until(int(event)))
    return context.step(lambda _: final * 10, name="multiply")


@durable_execution
def wait_for_condition_6_13(event: Any, context: DurableContext) -> int:
    """6-13: two sequential polls; the first (0 -> 2) seeds the second (2 -> 4)."""
    first = context.wait_for_condition(increment, poll_until(2))
    return context.wait_for_condition(increment, poll_until(4, initial=first))
