"""Conformance suite "step" (requirements 1-1 .. 1-20).

Each handler is written from the prose of its requirement; the function name
carries the requirement id (``step_1_1`` is requirement 1-1).
"""

from __future__ import annotations

from typing import Any

from aws_durable_execution_sdk_python import (
    DurableContext,
    StepContext,
    StepError,
    durable_execution,
    durable_step,
)
from aws_durable_execution_sdk_python.config import Duration, StepConfig, StepSemantics
from aws_durable_execution_sdk_python.retries import RetryDecision, RetryPresets
from conformance_support import (
    HandlerTestError,
    TransientError,
    UppercaseJsonSerDes,
    crash_process,
    first_time,
    fixed_retry,
)

NO_RETRY = StepConfig(retry_strategy=RetryPresets.none())


@durable_step
def greet(step_context: StepContext, name: Any) -> str:
    return f"Hello, {name}!"


@durable_execution
def step_1_1(event: Any, context: DurableContext) -> str:
    """1-1: a single step returning a greeting, succeeding first time."""
    return context.step(greet(event))


@durable_execution
def step_1_2(event: Any, context: DurableContext) -> str:
    """1-2: the same step with an explicit name."""
    return context.step(greet(event), name="custom_step_name")


@durable_step
def step_one(step_context: StepContext) -> str:
    return "first"


@durable_step
def step_two(step_context: StepContext, previous: str) -> str:
    return f"{previous}_second"


@durable_execution
def step_1_3(event: Any, context: DurableContext) -> str:
    """1-3: two sequential steps, the second using the first's result."""
    result1 = context.step(step_one())
    return context.step(step_two(result1))


@durable_step
def build_response(step_context: StepContext, event: dict) -> dict:
    tags = list(event["tags"])
    return {"user": {"name": event["name"], "tags": tags}, "count": len(tags)}


@durable_execution
def step_1_4(event: Any, context: DurableContext) -> dict:
    """1-4: a step returning a nested object with arrays and mixed types."""
    return context.step(build_response(event))


@durable_execution
def step_1_5(event: Any, context: DurableContext) -> None:
    """1-5: a step returning None."""

    def do_nothing(step_context: StepContext) -> None:
        return None

    return context.step(do_nothing)


@durable_execution
def step_1_6(event: Any, context: DurableContext) -> Any:
    """1-6: per-step custom serdes that upper-cases strings when serializing."""

    def return_input(step_context: StepContext) -> Any:
        return event

    return context.step(return_input, config=StepConfig(serdes=UppercaseJsonSerDes()))


@durable_execution
def step_1_7(event: Any, context: DurableContext) -> str:
    """1-7: a step that logs through step_context.logger."""

    @durable_step
    def greet_logged(step_context: StepContext, name: Any) -> str:
        step_context.logger.info(f"Greeting step started for: {name}")
        greeting = f"Hello, {name}!"
        step_context.logger.info(f"Greeting step completed with: {greeting}")
        return greeting

    return context.step(greet_logged(event))


@durable_execution
def step_1_8(event: Any, context: DurableContext) -> str:
    """1-8: a step then a 2 s wait; replay skips the step."""
    result = context.step(lambda _: "computed")
    context.wait(Duration.from_seconds(2))
    return result


@durable_execution
def step_1_9(event: Any, context: DurableContext) -> str:
    """1-9: replay returns the checkpointed step result without re-running it."""

    def func(step_context: StepContext) -> str:
        step_context.logger.info("step executed")
        return "cached_value"

    result = context.step(func)
    context.wait(Duration.from_seconds(1))
    return result


@durable_execution
def step_1_10(event: Any, context: DurableContext) -> dict:
    """1-10: replay re-raises the checkpointed failure of a step without re-running it."""

    def func(step_context: StepContext) -> str:
        step_context.logger.info("step executed")
        raise HandlerTestError("permanent failure")

    caught = None
    try:
        context.step(func, config=NO_RETRY)
    except StepError as e:
        caught = str(e)
    context.wait(Duration.from_seconds(1))
    return {"caught": caught}


@durable_execution
def step_1_11(event: Any, context: DurableContext) -> str:
    """1-11: fails on attempt 1, succeeds on attempt 2 after a 1 s retry."""

    def unreliable_func(step_context: StepContext) -> str:
        if step_context.attempt < 2:
            raise HandlerTestError(f"attempt {step_context.attempt} failed")
        return "Operation succeeded"

    return context.step(unreliable_func, config=StepConfig(retry_strategy=fixed_retry(3)))


@durable_execution
def step_1_12(event: Any, context: DurableContext) -> str:
    """1-12: always fails; 4 attempts in all, 1 s apart, then the execution fails."""

    def always_fail(step_context: StepContext) -> str:
        raise HandlerTestError(f"attempt {step_context.attempt} failed")

    return context.step(always_fail, config=StepConfig(retry_strategy=fixed_retry(4)))


@durable_execution
def step_1_13(event: Any, context: DurableContext) -> str:
    """1-13: the SDK's default retry strategy; fails twice, succeeds on attempt 3."""

    def unreliable_func(step_context: StepContext) -> str:
        if step_context.attempt < 3:
            raise HandlerTestError(f"attempt {step_context.attempt} failed")
        return "succeeded on attempt 3"

    return context.step(unreliable_func)


@durable_execution
def step_1_14(event: Any, context: DurableContext) -> str:
    """1-14: retry 2 s initial delay, 3x backoff, no jitter; fails twice then succeeds.

    The requirement tracks the attempt count in DynamoDB; the SDK's StepContext.attempt
    carries the same information.
    """

    def func(step_context: StepContext) -> str:
        if step_context.attempt < 3:
            raise HandlerTestError(f"attempt {step_context.attempt} failed")
        return "succeeded on attempt 3"

    strategy = fixed_retry(5, delay_s=2, backoff=3)
    return context.step(func, config=StepConfig(retry_strategy=strategy))


def retry_on_transient(error: Exception, attempts_made: int) -> RetryDecision:
    if isinstance(error, TransientError) and attempts_made < 3:
        return RetryDecision.retry(Duration.from_seconds(1))
    return RetryDecision.no_retry()


def no_retry_on_transient_error(error: Exception, attempts_made: int) -> RetryDecision:
    if isinstance(error, TransientError) or attempts_made >= 3:
        return RetryDecision.no_retry()
    return RetryDecision.retry(Duration.from_seconds(1))


@durable_execution
def step_1_15(event: Any, context: DurableContext) -> str:
    """1-15: a strategy that retries only TransientError; attempt 1 raises one."""

    def func(step_context: StepContext) -> str:
        if step_context.attempt == 1:
            raise TransientError("transient failure")
        return "recovered"

    return context.step(func, config=StepConfig(retry_strategy=retry_on_transient))


@durable_execution
def step_1_16(event: Any, context: DurableContext) -> str:
    """1-16: a strategy that never retries TransientError; the step fails permanently."""

    def func(step_context: StepContext) -> str:
        raise TransientError("transient failure")

    return context.step(func, config=StepConfig(retry_strategy=no_retry_on_transient_error))


@durable_execution
def step_1_17(event: Any, context: DurableContext) -> str:
    """1-17: at-most-once step, no retry, whose process crashes; replay fails it."""
    arn = context.state.durable_execution_arn

    def at_most_once_flaky_step(step_context: StepContext) -> str:
        step_context.logger.info(f"at-most-once step running with input {event}")
        if first_time(arn, "1-17"):
            crash_process()
        # Only reached if a backend re-runs an interrupted at-most-once step.
        raise HandlerTestError("at-most-once step executed twice")

    config = StepConfig(
        step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY,
        retry_strategy=RetryPresets.none(),
    )
    return context.step(at_most_once_flaky_step, name="at_most_once_flaky_step", config=config)


@durable_execution
def step_1_18(event: Any, context: DurableContext) -> str:
    """1-18: at-most-once step with retry; attempt 1 crashes, attempt 2 succeeds."""
    arn = context.state.durable_execution_arn

    def flaky(step_context: StepContext) -> str:
        step_context.logger.info(f"at-most-once step attempt {step_context.attempt}: {event}")
        if step_context.attempt == 1 and first_time(arn, "1-18"):
            crash_process()
        return "succeeded on second attempt"

    config = StepConfig(
        step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY,
        retry_strategy=fixed_retry(3),
    )
    return context.step(flaky, config=config)


@durable_execution
def step_1_19(event: Any, context: DurableContext) -> str:
    """1-19: a step that always raises, no retries; the execution fails."""

    def failing_func(step_context: StepContext) -> str:
        raise HandlerTestError("step always fails")

    return context.step(failing_func, config=NO_RETRY)


@durable_execution
def step_1_20(event: Any, context: DurableContext) -> str:
    """1-20: a failed step is caught by user code, which carries on with a fallback."""

    def failing_func(step_context: StepContext) -> str:
        raise HandlerTestError("step fails")

    try:
        value = context.step(failing_func, config=NO_RETRY)
    except StepError:
        value = "fallback_result"
    return context.step(lambda _: value)
