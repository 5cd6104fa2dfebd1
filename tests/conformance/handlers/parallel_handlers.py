"""Conformance suite "parallel" (requirements 8-1 .. 8-22).

Unless a requirement says otherwise, branches run with max_concurrency=1 so they
execute in index order and the history is deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_durable_execution_sdk_python import (
    BatchResult,
    DurableContext,
    ParallelBranch,
    durable_execution,
)
from aws_durable_execution_sdk_python.config import (
    CompletionConfig,
    Duration,
    NestingType,
    ParallelConfig,
)
from conformance_support import HandlerTestError, WrappedJsonSerDes


def returns(value: Any) -> Callable[[DurableContext], Any]:
    """A branch that returns ``value`` directly."""
    return lambda ctx: value


def fails(index: int) -> Callable[[DurableContext], Any]:
    """A branch that raises."""

    def branch(ctx: DurableContext) -> Any:
        raise HandlerTestError(f"branch {index} failed")

    return branch


def step_returning(value: Any) -> Callable[[DurableContext], Any]:
    """A branch running one step that returns ``value``."""
    return lambda ctx: ctx.step(lambda _: value)


def sequential(**completion: Any) -> ParallelConfig:
    return ParallelConfig(max_concurrency=1, completion_config=CompletionConfig(**completion))


def projection(batch: BatchResult, *fields: str) -> dict:
    values = {
        "completionReason": batch.completion_reason.value,
        "status": batch.status.value,
        "successCount": batch.success_count,
        "failureCount": batch.failure_count,
        "totalCount": batch.total_count,
    }
    return {k: values[k] for k in fields}


FULL = ("completionReason", "status", "successCount", "failureCount", "totalCount")
NO_STATUS = ("completionReason", "successCount", "failureCount", "totalCount")


@durable_execution
def parallel_8_1(event: Any, context: DurableContext) -> list:
    """8-1: two branches, each a single step ("task-1", "task-2")."""
    batch = context.parallel(
        [step_returning("task-1"), step_returning("task-2")],
        name="parallel",
        config=ParallelConfig(max_concurrency=1),
    )
    return batch.get_results()


@durable_execution
def parallel_8_2(event: Any, context: DurableContext) -> list:
    """8-2: the branches-only form (no name); branches return values directly."""
    batch = context.parallel(
        [returns("alpha"), returns("beta")], config=ParallelConfig(max_concurrency=1)
    )
    return batch.get_results()


@durable_execution
def parallel_8_3(event: Any, context: DurableContext) -> list:
    """8-3: named-branch objects "first" and "second"."""
    batch = context.parallel(
        [
            ParallelBranch(func=returns("one"), name="first"),
            ParallelBranch(func=returns("two"), name="second"),
        ],
        name="named",
        config=ParallelConfig(max_concurrency=1),
    )
    return batch.get_results()


@durable_execution
def parallel_8_4(event: Any, context: DurableContext) -> list:
    """8-4: branches returning a string, a number and an object."""
    batch = context.parallel(
        [returns("hello"), returns(42), returns({"k": "v"})],
        name="hetero",
        config=ParallelConfig(max_concurrency=1),
    )
    return batch.get_results()


@durable_execution
def parallel_8_5(event: Any, context: DurableContext) -> list:
    """8-5: an empty branch list completes at once."""
    return context.parallel([], name="empty").get_results()


@durable_execution
def parallel_8_6(event: Any, context: DurableContext) -> dict:
    """8-6: fail-fast (tolerated 0): ok, fail, never started."""
    batch = context.parallel(
        [returns("ok"), fails(1), returns("never")],
        name="failfast",
        config=sequential(tolerated_failure_count=0),
    )
    return projection(batch, *FULL)


@durable_execution
def parallel_8_7(event: Any, context: DurableContext) -> Any:
    """8-7: fail-fast, then the handler rethrows the first branch failure."""
    batch = context.parallel(
        [fails(0), returns("never")],
        name="throwing",
        config=sequential(tolerated_failure_count=0),
    )
    batch.throw_if_error()
    return batch.get_results()


@durable_execution
def parallel_8_8(event: Any, context: DurableContext) -> dict:
    """8-8: min_successful=2 of four branches stops after two."""
    batch = context.parallel(
        [returns("a"), returns("b"), returns("c"), returns("d")],
        name="min-successful",
        config=sequential(min_successful=2),
    )
    return projection(batch, "completionReason", "successCount", "totalCount")


@durable_execution
def parallel_8_9(event: Any, context: DurableContext) -> dict:
    """8-9: tolerated_failure_count=1: ok, fail, ok all run."""
    batch = context.parallel(
        [returns("a"), fails(1), returns("c")],
        name="tolerated",
        config=sequential(tolerated_failure_count=1),
    )
    return projection(batch, *FULL)


@durable_execution
def parallel_8_10(event: Any, context: DurableContext) -> dict:
    """8-10: tolerated_failure_count=1 exceeded by two failures; the third never starts."""
    batch = context.parallel(
        [fails(0), fails(1), returns("never")],
        name="tolerated-exceeded",
        config=sequential(tolerated_failure_count=1),
    )
    return projection(batch, *NO_STATUS)


@durable_execution
def parallel_8_11(event: Any, context: DurableContext) -> list:
    """8-11: three branches, max_concurrency=2; results stay in branch order."""
    batch = context.parallel(
        [returns("r0"), returns("r1"), returns("r2")],
        name="concurrent",
        config=ParallelConfig(max_concurrency=2),
    )
    return batch.get_results()


@durable_execution
def parallel_8_12(event: Any, context: DurableContext) -> list:
    """8-12: FLAT nesting: branch steps sit directly under the Parallel context."""
    batch = context.parallel(
        [step_returning("fa"), step_returning("fb")],
        name="flat",
        config=ParallelConfig(max_concurrency=1, nesting_type=NestingType.FLAT),
    )
    return batch.get_results()


@durable_execution
def parallel_8_13(event: Any, context: DurableContext) -> dict:
    """8-13: tolerated_failure_percentage=25 exceeded by 2 failures of 4."""
    batch = context.parallel(
        [fails(0), fails(1), returns("c"), returns("d")],
        name="tolerated-pct",
        config=sequential(tolerated_failure_percentage=25),
    )
    return projection(batch, *NO_STATUS)


@durable_execution
def parallel_8_14(event: Any, context: DurableContext) -> list:
    """8-14: branch 1 suspends on a 2 s wait; replay skips the finished branch 0."""

    def waiting_branch(ctx: DurableContext) -> str:
        ctx.wait(Duration.from_seconds(2))
        return "b1"

    batch = context.parallel(
        [step_returning("b0"), waiting_branch],
        name="replay",
        config=ParallelConfig(max_concurrency=1),
    )
    return batch.get_results()


@durable_execution
def parallel_8_15(event: Any, context: DurableContext) -> list:
    """8-15: an item serdes storing each branch result as {"wrapped": value}."""
    batch = context.parallel(
        [returns("x"), returns("y")],
        name="serde",
        config=ParallelConfig(max_concurrency=1, item_serdes=WrappedJsonSerDes()),
    )
    return batch.get_results()


@durable_execution
def parallel_8_16(event: Any, context: DurableContext) -> dict:
    """8-16: every branch fails within tolerance (3 of 3)."""
    batch = context.parallel(
        [fails(0), fails(1), fails(2)],
        name="all-fail",
        config=sequential(tolerated_failure_count=3),
    )
    return projection(batch, *FULL)


@durable_execution
def parallel_8_17(event: Any, context: DurableContext) -> dict:
    """8-17: min_successful=3 never reached; every branch runs."""
    batch = context.parallel(
        [returns("a"), fails(1), returns("c")],
        name="min-not-reached",
        config=sequential(min_successful=3),
    )
    return projection(batch, *FULL)


@durable_execution
def parallel_8_18(event: Any, context: DurableContext) -> dict:
    """8-18: min_successful=3 and tolerated_failure_count=1; tolerance is exceeded first."""
    batch = context.parallel(
        [fails(0), fails(1), returns("c"), returns("d")],
        name="combined",
        config=sequential(min_successful=3, tolerated_failure_count=1),
    )
    return projection(batch, *NO_STATUS)


@durable_execution
def parallel_8_19(event: Any, context: DurableContext) -> list:
    """8-19: max_concurrency=0 is rejected before anything runs; the execution fails."""
    config = ParallelConfig(max_concurrency=0)
    return context.parallel([returns("a"), returns("b")], name="bad-concurrency", config=config)


@durable_execution
def parallel_8_20(event: Any, context: DurableContext) -> dict:
    """8-20: the batch accessors: has_failure, succeeded(), failed(), get_errors()."""
    batch = context.parallel(
        [returns("a"), fails(1), returns("c")],
        name="accessors",
        config=sequential(tolerated_failure_count=1),
    )
    return {
        "hasFailure": batch.has_failure,
        "successCount": len(batch.succeeded()),
        "failureCount": len(batch.failed()),
        "errorCount": len(batch.get_errors()),
    }


@durable_execution
def parallel_8_21(event: Any, context: DurableContext) -> list:
    """8-21: one outer branch running an inner parallel of two steps."""

    def branch_a(ctx: DurableContext) -> list:
        inner = ctx.parallel(
            [step_returning("i1"), step_returning("i2")],
            name="inner",
            config=ParallelConfig(max_concurrency=1),
        )
        return inner.get_results()

    batch = context.parallel([branch_a], name="outer", config=ParallelConfig(max_concurrency=1))
    return batch.get_results()


@durable_execution
def parallel_8_22(event: Any, context: DurableContext) -> dict:
    """8-22: 1 failure of 4 equals tolerated_failure_percentage=25, so all run."""
    batch = context.parallel(
        [fails(0), returns("b"), returns("c"), returns("d")],
        name="pct-boundary",
        config=sequential(tolerated_failure_percentage=25),
    )
    return projection(batch, *FULL)
