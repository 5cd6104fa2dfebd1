"""Handlers the fleet and chaos tests run on several processes (official SDK)."""

from __future__ import annotations

import os
import time
from typing import Any

from aws_durable_execution_sdk_python import DurableContext, StepContext, durable_execution
from aws_durable_execution_sdk_python.config import (
    CallbackConfig,
    Duration,
    StepConfig,
    StepSemantics,
)
from aws_durable_execution_sdk_python.retries import (
    JitterStrategy,
    RetryStrategyConfig,
    create_retry_strategy,
)

# At most once per attempt; an attempt interrupted by a crash is retried (a new attempt).
AT_MOST_ONCE = StepConfig(
    step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY,
    retry_strategy=create_retry_strategy(
        RetryStrategyConfig(max_attempts=8, initial_delay=Duration.from_seconds(1), jitter_strategy=JitterStrategy.NONE)
    ),
)


def _append(path: str, line: str) -> None:
    # One write() of a short line to a file opened for appending: atomic across processes.
    with open(path, "a") as f:
        f.write(line + "\n")


@durable_execution
def where(event: Any, context: DurableContext) -> Any:
    """Which worker ran it (``PERDURE_TEST_WORKER`` of the worker process)."""
    return context.step(lambda _: os.environ.get("PERDURE_TEST_WORKER"), name="where")


@durable_execution
def approval(event: Any, context: DurableContext) -> Any:
    """Publishes a callback id, waits for it, and records when it resumed."""
    callback = context.create_callback(name="approve", config=CallbackConfig(timeout=Duration.from_seconds(120)))
    context.step(lambda _: _append(event["callbacks"], f"{event['i']} {callback.callback_id}"), name="publish")
    value = callback.result()
    context.step(lambda _: _append(event["resumed"], f"{event['i']} {time.time()}"), name="resumed")
    return value


@durable_execution
def chaos(event: Any, context: DurableContext) -> Any:
    """Steps (at most once per attempt), a wait and a callback; every step run is logged."""
    i, log = event["i"], event["log"]

    def run(name: str, value: Any) -> Any:
        def body(step: StepContext) -> Any:
            _append(log, f"{i} {name} {step.attempt} {os.getpid()}")
            time.sleep(float(event.get("step_s", 0.02)))
            return value

        return body

    a = context.step(run("a", i * 2), name="a", config=AT_MOST_ONCE)
    context.wait(Duration.from_seconds(int(event.get("wait_s", 1))))
    callback = context.create_callback(name="cb", config=CallbackConfig(timeout=Duration.from_seconds(300)))
    context.step(lambda _: _append(event["callbacks"], f"{i} {callback.callback_id}"), name="publish")
    answer = callback.result()
    b = context.step(run("b", i + 1), name="b", config=AT_MOST_ONCE)
    return {"i": i, "a": a, "answer": answer, "b": b}
