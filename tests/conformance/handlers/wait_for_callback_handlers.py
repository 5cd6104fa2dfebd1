"""Conformance suite "wait_for_callback" (requirements 7-1 .. 7-15).

The submitters only register the callback id; the validator completes the
callbacks as the requirements' CallbackActions say.
"""

from __future__ import annotations

from typing import Any

from aws_durable_execution_sdk_python import (
    CallbackError,
    CallbackTimeoutError,
    DurableContext,
    durable_execution,
)
from aws_durable_execution_sdk_python.config import Duration, WaitForCallbackConfig
from conformance_support import HandlerTestError, PlainJsonSerDes, fixed_retry


def submit(callback_id: str, submit_context: Any) -> None:
    """Hand the callback id to "the external system" (the validator reads history)."""
    submit_context.logger.info(f"callback id registered: {callback_id}")


@durable_execution
def wait_for_callback_7_1(event: Any, context: DurableContext) -> Any:
    """7-1: one wait_for_callback named after the input; returns the payload."""
    return context.wait_for_callback(submit, name=event)


@durable_execution
def wait_for_callback_7_2(event: Any, context: DurableContext) -> Any:
    """7-2: one wait_for_callback named "approval"."""
    return context.wait_for_callback(submit, name="approval")


@durable_execution
def wait_for_callback_7_3(event: Any, context: DurableContext) -> Any:
    """7-3: an anonymous inline submitter and no name."""
    return context.wait_for_callback(lambda callback_id, submit_context: None)


@durable_execution
def wait_for_callback_7_4(event: Any, context: DurableContext) -> Any:
    """7-4: the callback fails; uncaught, the execution fails."""
    return context.wait_for_callback(submit, name=event)


@durable_execution
def wait_for_callback_7_5(event: Any, context: DurableContext) -> Any:
    """7-5: a 3 s timeout nobody meets; the execution fails."""
    config = WaitForCallbackConfig(timeout=Duration.from_seconds(3))
    return context.wait_for_callback(submit, name=event, config=config)


@durable_execution
def wait_for_callback_7_6(event: Any, context: DurableContext) -> Any:
    """7-6: the callback fails; the handler catches it and returns "recovered"."""
    try:
        return context.wait_for_callback(submit, name=event)
    except CallbackError:
        return "recovered"


@durable_execution
def wait_for_callback_7_7(event: Any, context: DurableContext) -> Any:
    """7-7: the submitter always raises; 2 attempts 1 s apart, then the operation fails."""

    def failing_submitter(callback_id: str, submit_context: Any) -> None:
        raise HandlerTestError("submitter failed")

    config = WaitForCallbackConfig(retry_strategy=fixed_retry(2))
    return context.wait_for_callback(failing_submitter, name=event, config=config)


@durable_execution
def wait_for_callback_7_8(event: Any, context: DurableContext) -> Any:
    """7-8: wait_for_callback inside a child context named "wrapper"."""
    return context.run_in_child_context(
        lambda child: child.wait_for_callback(submit, name=event), name="wrapper"
    )


@durable_execution
def wait_for_callback_7_9(event: Any, context: DurableContext) -> Any:
    """7-9: two sequential wait_for_callback operations, "first" then "second"."""
    context.wait_for_callback(submit, name="first")
    return context.wait_for_callback(submit, name="second")


@durable_execution
def wait_for_callback_7_10(event: Any, context: DurableContext) -> Any:
    """7-10: a 1 s wait, a top-level step, then wait_for_callback."""
    context.wait(Duration.from_seconds(1))
    context.step(lambda _: {"fixed": "data"}, name="prepare")
    return context.wait_for_callback(submit, name=event)


@durable_execution
def wait_for_callback_7_11(event: Any, context: DurableContext) -> Any:
    """7-11: the payload is decoded as a JSON object; returns its "status"."""
    config = WaitForCallbackConfig(serdes=PlainJsonSerDes())
    result = context.wait_for_callback(submit, name=event, config=config)
    return result["status"]


@durable_execution
def wait_for_callback_7_12(event: Any, context: DurableContext) -> Any:
    """7-12: a 5 s heartbeat timeout with no heartbeat; the execution fails."""
    config = WaitForCallbackConfig(heartbeat_timeout=Duration.from_seconds(5))
    return context.wait_for_callback(submit, name=event, config=config)


@durable_execution
def wait_for_callback_7_13(event: Any, context: DurableContext) -> Any:
    """7-13: a 10 s heartbeat timeout kept alive by a heartbeat, then success."""
    config = WaitForCallbackConfig(heartbeat_timeout=Duration.from_seconds(10))
    return context.wait_for_callback(submit, name=event, config=config)


@durable_execution
def wait_for_callback_7_14(event: Any, context: DurableContext) -> Any:
    """7-14: a 3 s timeout, caught; returns "timed-out-handled"."""
    config = WaitForCallbackConfig(timeout=Duration.from_seconds(3))
    try:
        return context.wait_for_callback(submit, name=event, config=config)
    except CallbackTimeoutError:
        return "timed-out-handled"


@durable_execution
def wait_for_callback_7_15(event: Any, context: DurableContext) -> Any:
    """7-15: success without a payload; returns None."""
    return context.wait_for_callback(submit, name=event)
