"""Conformance suite "child" (requirements 3-1 .. 3-18): run_in_child_context."""

from __future__ import annotations

import contextlib
from typing import Any

from aws_durable_execution_sdk_python import (
    ChildContextError,
    DurableContext,
    StepContext,
    durable_execution,
)
from aws_durable_execution_sdk_python.config import ChildConfig, Duration, StepConfig
from aws_durable_execution_sdk_python.retries import RetryPresets
from conformance_support import (
    HandlerTestError,
    UppercaseRawSerDes,
    crash_process,
    first_time,
    fixed_retry,
)

NO_RETRY = StepConfig(retry_strategy=RetryPresets.none())
LARGE_RESULT_BYTES = 300 * 1024  # over the SDK's 256 KB checkpoint limit


@durable_execution
def child_3_1(event: Any, context: DurableContext) -> Any:
    """3-1: a child context holding one step that returns the input."""
    return context.run_in_child_context(lambda child: child.step(lambda _: event))


@durable_execution
def child_3_2(event: Any, context: DurableContext) -> Any:
    """3-2: a child context named after input.name whose step returns input.value."""
    value = event["value"]
    return context.run_in_child_context(
        lambda child: child.step(lambda _: value), name=event["name"]
    )


@durable_execution
def child_3_3(event: Any, context: DurableContext) -> Any:
    """3-3: two sequential steps in a child context; the second gets the first's result."""

    def body(child: DurableContext) -> Any:
        first = child.step(lambda _: event, name="first")
        return child.step(lambda _: first, name="second")

    return context.run_in_child_context(body, name="sequential-steps")


@durable_execution
def child_3_4(event: Any, context: DurableContext) -> Any:
    """3-4: the step inside a child context fails (no retry); the execution fails."""

    def failing(step_context: StepContext) -> str:
        raise HandlerTestError("step inside child failed")

    return context.run_in_child_context(
        lambda child: child.step(failing, config=NO_RETRY), name="failing-child"
    )


@durable_execution
def child_3_5(event: Any, context: DurableContext) -> Any:
    """3-5: a failed child context is caught by the parent, which runs a recovery step."""

    def failing(step_context: StepContext) -> str:
        raise HandlerTestError("step inside child failed")

    with contextlib.suppress(ChildContextError):
        context.run_in_child_context(lambda child: child.step(failing, config=NO_RETRY))
    return context.step(lambda _: event, name="recovery")


@durable_execution
def child_3_6(event: Any, context: DurableContext) -> Any:
    """3-6: nested child contexts, each with a step."""

    def inner(child: DurableContext) -> Any:
        return child.step(lambda _: event, name="inner-step")

    def outer(child: DurableContext) -> Any:
        child.step(lambda _: event, name="outer-step")
        return child.run_in_child_context(inner, name="inner")

    return context.run_in_child_context(outer, name="outer")


@durable_execution
def child_3_7(event: Any, context: DurableContext) -> Any:
    """3-7: a step in a child context fails once, then succeeds after a 1 s retry."""

    def flaky(step_context: StepContext) -> Any:
        if step_context.attempt < 2:
            raise HandlerTestError("first attempt fails")
        return event

    return context.run_in_child_context(
        lambda child: child.step(flaky, config=StepConfig(retry_strategy=fixed_retry(3))),
        name="retrying-child",
    )


@durable_execution
def child_3_8(event: Any, context: DurableContext) -> Any:
    """3-8: a step in a child context always fails; 2 attempts, then the child fails."""

    def always_fail(step_context: StepContext) -> Any:
        raise HandlerTestError(f"attempt {step_context.attempt} failed")

    return context.run_in_child_context(
        lambda child: child.step(always_fail, config=StepConfig(retry_strategy=fixed_retry(2))),
        name="exhausting-child",
    )


@durable_execution
def child_3_9(event: Any, context: DurableContext) -> Any:
    """3-9: a child context then a wait; replay returns the child's cached result."""
    result = context.run_in_child_context(lambda child: child.step(lambda _: event))
    context.wait(Duration.from_seconds(1))
    return result


@durable_execution
def child_3_10(event: Any, context: DurableContext) -> Any:
    """3-10: a step followed by a wait inside a child context."""

    def body(child: DurableContext) -> Any:
        child.step(lambda _: event, name="inner-step")
        child.wait(Duration.from_seconds(1))
        return event

    return context.run_in_child_context(body, name="step-and-wait")


@durable_execution
def child_3_11(event: Any, context: DurableContext) -> dict:
    """3-11: a child context whose result is over 256 KB (ReplayChildren), then a wait.

    The body logs through the underlying logger (not replay-suppressed), so its
    re-execution on replay is visible in the logs.
    """

    def body(child: DurableContext) -> str:
        child.logger.get_logger().info(f"large child context body running for {event}")
        seed = child.step(lambda _: "x", name="small-step")
        return seed * LARGE_RESULT_BYTES

    large = context.run_in_child_context(body, name="large-result")
    context.wait(Duration.from_seconds(1))
    return {"length": len(large)}


@durable_execution
def child_3_12(event: Any, context: DurableContext) -> Any:
    """3-12: the process crashes inside a child context's step after StepStarted.

    The next invocation re-runs the (at-least-once) step, which then succeeds.
    """
    arn = context.state.durable_execution_arn

    def body(child: DurableContext) -> Any:
        def crash_once(step_context: StepContext) -> Any:
            if first_time(arn, "3-12"):
                crash_process(child.state)
            return event

        return child.step(crash_once)

    return context.run_in_child_context(body)


@durable_execution
def child_3_13(event: Any, context: DurableContext) -> Any:
    """3-13: a child context holding only a wait, then a step outside it."""

    def body(child: DurableContext) -> Any:
        child.wait(Duration.from_seconds(1))
        return event

    context.run_in_child_context(body, name="wait-only")
    return context.step(lambda _: event, name="after-child")


@durable_execution
def child_3_14(event: Any, context: DurableContext) -> Any:
    """3-14: a child context whose serdes stores the result as upper-cased raw text."""
    return context.run_in_child_context(
        lambda child: child.step(lambda _: event),
        name="uppercase-child",
        config=ChildConfig(serdes=UppercaseRawSerDes()),
    )


@durable_execution
def child_3_15(event: Any, context: DurableContext) -> Any:
    """3-15: the child body raises directly, without any durable operation."""

    def body(child: DurableContext) -> Any:
        raise HandlerTestError("child body failed")

    return context.run_in_child_context(body, name="raising-child")


@durable_execution
def child_3_16(event: Any, context: DurableContext) -> Any:
    """3-16: the child body returns None without any durable operation."""
    return context.run_in_child_context(lambda child: None, name="null-child")


@durable_execution
def child_3_17(event: Any, context: DurableContext) -> Any:
    """3-17: a child body that only logs, then a wait; replay must not re-run the body.

    It logs through the underlying logger (not replay-suppressed), so a re-execution
    on replay would show up as a second log line.
    """

    def body(child: DurableContext) -> Any:
        child.logger.get_logger().info(f"child context body running for {event}")
        return event

    result = context.run_in_child_context(body, name="logging-child")
    context.wait(Duration.from_seconds(1))
    return result


@durable_execution
def child_3_18(event: Any, context: DurableContext) -> Any:
    """3-18: step + wait inside a child context, then step + wait after it."""

    def body(child: DurableContext) -> Any:
        child.step(lambda _: event, name="inner-step")
        child.wait(Duration.from_seconds(1))
        return event

    context.run_in_child_context(body, name="mixed-child")
    result = context.step(lambda _: event, name="outer-step")
    context.wait(Duration.from_seconds(1))
    return result
