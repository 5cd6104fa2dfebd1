"""Conformance suite "map" (requirements 9-1 .. 9-20).

Unless a requirement says otherwise, items run with max_concurrency=1 so they
execute in index order and the history is deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_durable_execution_sdk_python import BatchResult, DurableContext, durable_execution
from aws_durable_execution_sdk_python.concurrency.models import (
    BatchItem,
    CompletionReason,
)
from aws_durable_execution_sdk_python.config import (
    BatchItemStatus,
    CompletionConfig,
    Duration,
    MapConfig,
    NestingType,
)
from aws_durable_execution_sdk_python.serdes import SerDes, SerDesContext
from conformance_support import HandlerTestError, PlainJsonSerDes, PrefixSerDes

LARGE_ITEM_CHARS = 70 * 1024  # four of these exceed the 256 KB checkpoint limit


def sequential(**completion: Any) -> MapConfig:
    return MapConfig(max_concurrency=1, completion_config=CompletionConfig(**completion))


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


def fail_on_marker(ctx: DurableContext, item: Any, index: int, items: Sequence[Any]) -> Any:
    """Map function: items equal to "fail" raise, the others are returned as they are."""
    if item == "fail":
        raise HandlerTestError(f"item {index} failed")
    return item


@durable_execution
def map_9_1(event: Any, context: DurableContext) -> list:
    """9-1: each item runs one step returning "Hello, <item>!"."""

    def greet(ctx: DurableContext, item: str, index: int, items: Sequence[str]) -> str:
        return ctx.step(lambda _: f"Hello, {item}!")

    batch = context.map(event, greet, name="map", config=MapConfig(max_concurrency=1))
    return batch.get_results()


@durable_execution
def map_9_2(event: Any, context: DurableContext) -> list:
    """9-2: the items-only form (no name); doubles each item directly."""
    batch = context.map(
        event, lambda ctx, item, index, items: item * 2, config=MapConfig(max_concurrency=1)
    )
    return batch.get_results()


@durable_execution
def map_9_3(event: Any, context: DurableContext) -> list:
    """9-3: the map function gets the item and its index and returns item + index."""
    batch = context.map(
        event,
        lambda ctx, item, index, items: item + index,
        name="indexed",
        config=MapConfig(max_concurrency=1),
    )
    return batch.get_results()


@durable_execution
def map_9_4(event: Any, context: DurableContext) -> list:
    """9-4: an empty item list completes at once."""
    items = event if event is not None else []
    return context.map(items, lambda ctx, item, index, all_items: item, name="empty").get_results()


@durable_execution
def map_9_5(event: Any, context: DurableContext) -> dict:
    """9-5: fail-fast (tolerated 0): ok, fail, never started."""
    batch = context.map(
        ["ok", "fail", "never"],
        fail_on_marker,
        name="failfast",
        config=sequential(tolerated_failure_count=0),
    )
    return projection(batch, *FULL)


@durable_execution
def map_9_6(event: Any, context: DurableContext) -> Any:
    """9-6: fail-fast, then the handler rethrows the first item failure."""
    batch = context.map(
        ["fail", "never"],
        fail_on_marker,
        name="throwing",
        config=sequential(tolerated_failure_count=0),
    )
    batch.throw_if_error()
    return batch.get_results()


@durable_execution
def map_9_7(event: Any, context: DurableContext) -> dict:
    """9-7: min_successful=2 of four items stops after two."""
    batch = context.map(
        ["a", "b", "c", "d"],
        fail_on_marker,
        name="min-successful",
        config=sequential(min_successful=2),
    )
    return projection(batch, "completionReason", "successCount", "totalCount")


@durable_execution
def map_9_8(event: Any, context: DurableContext) -> dict:
    """9-8: tolerated_failure_count=1: ok, fail, ok all run."""
    batch = context.map(
        ["a", "fail", "c"],
        fail_on_marker,
        name="tolerated",
        config=sequential(tolerated_failure_count=1),
    )
    return projection(batch, *FULL)


@durable_execution
def map_9_9(event: Any, context: DurableContext) -> dict:
    """9-9: two failures exceed tolerated_failure_count=1; the third never starts."""
    batch = context.map(
        ["fail", "fail", "never"],
        fail_on_marker,
        name="tolerated-exceeded",
        config=sequential(tolerated_failure_count=1),
    )
    return projection(batch, *NO_STATUS)


@durable_execution
def map_9_10(event: Any, context: DurableContext) -> dict:
    """9-10: 2 failures of 4 exceed tolerated_failure_percentage=25."""
    batch = context.map(
        ["fail", "fail", "c", "d"],
        fail_on_marker,
        name="tolerated-pct",
        config=sequential(tolerated_failure_percentage=25),
    )
    return projection(batch, *NO_STATUS)


@durable_execution
def map_9_11(event: Any, context: DurableContext) -> list:
    """9-11: three items, max_concurrency=2; results stay in item order."""
    batch = context.map(
        ["r0", "r1", "r2"],
        fail_on_marker,
        name="concurrent",
        config=MapConfig(max_concurrency=2),
    )
    return batch.get_results()


@durable_execution
def map_9_12(event: Any, context: DurableContext) -> list:
    """9-12: FLAT nesting: each item's step sits directly under the Map context."""

    def run_step(ctx: DurableContext, item: str, index: int, items: Sequence[str]) -> str:
        return ctx.step(lambda _: item)

    batch = context.map(
        ["fa", "fb"],
        run_step,
        name="flat",
        config=MapConfig(max_concurrency=1, nesting_type=NestingType.FLAT),
    )
    return batch.get_results()


@durable_execution
def map_9_13(event: Any, context: DurableContext) -> list:
    """9-13: a custom item namer ("item-<item>"); returns item * 10."""
    batch = context.map(
        event,
        lambda ctx, item, index, items: item * 10,
        name="named-items",
        config=MapConfig(max_concurrency=1, item_namer=lambda item, index: f"item-{item}"),
    )
    return batch.get_results()


@durable_execution
def map_9_14(event: Any, context: DurableContext) -> list:
    """9-14: a per-item serdes storing results as "wrapped:<value>"."""
    batch = context.map(
        ["x", "y"],
        lambda ctx, item, index, items: item.upper(),
        name="serdes",
        config=MapConfig(max_concurrency=1, item_serdes=PrefixSerDes("wrapped:")),
    )
    return batch.get_results()


@durable_execution
def map_9_15(event: Any, context: DurableContext) -> list:
    """9-15: item 1 waits 1 s mid-map; replay skips the finished item 0."""

    def func(ctx: DurableContext, item: str, index: int, items: Sequence[str]) -> str:
        if index == 1:
            ctx.wait(Duration.from_seconds(1))
        return ctx.step(lambda _: item)

    batch = context.map(["r0", "r1"], func, name="suspend", config=MapConfig(max_concurrency=1))
    return batch.get_results()


@durable_execution
def map_9_16(event: Any, context: DurableContext) -> dict:
    """9-16: four ~70 KB results; the Map result is stored with ReplayChildren."""
    batch = context.map(
        [0, 1, 2, 3],
        lambda ctx, item, index, items: f"{item}" * LARGE_ITEM_CHARS,
        name="large",
        config=MapConfig(max_concurrency=1),
    )
    return {"successCount": batch.success_count, "totalCount": batch.total_count}


@durable_execution
def map_9_17(event: Any, context: DurableContext) -> list:
    """9-17: a fully successful map, then a 1 s wait; replay skips the map."""
    batch = context.map(
        ["a", "b"],
        lambda ctx, item, index, items: item.upper(),
        name="then-wait",
        config=MapConfig(max_concurrency=1),
    )
    context.wait(Duration.from_seconds(1))
    return batch.get_results()


@durable_execution
def map_9_18(event: Any, context: DurableContext) -> dict:
    """9-18: a map with one tolerated failure, then a 1 s wait; no rethrow."""
    batch = context.map(
        ["ok", "fail"],
        fail_on_marker,
        name="fail-then-wait",
        config=sequential(tolerated_failure_count=1),
    )
    context.wait(Duration.from_seconds(1))
    return projection(batch, *FULL)


class OpSerDes(SerDes[BatchResult]):
    """Operation-level serdes for a whole map result of strings: "OPSERDE:X,Y"."""

    PREFIX = "OPSERDE:"

    def serialize(self, value: BatchResult, serdes_context: SerDesContext) -> str:
        return self.PREFIX + ",".join(value.get_results())

    def deserialize(self, data: str, serdes_context: SerDesContext) -> BatchResult:
        if not data.startswith(self.PREFIX):
            raise ValueError(f"not an OPSERDE payload: {data[:40]!r}")
        body = data[len(self.PREFIX) :]
        results = body.split(",") if body else []
        items = [
            BatchItem(index=i, status=BatchItemStatus.SUCCEEDED, result=r)
            for i, r in enumerate(results)
        ]
        return BatchResult(items, CompletionReason.ALL_COMPLETED)


def op_serde_config() -> MapConfig:
    # item_serdes is set explicitly so the operation-level serdes applies only to
    # the whole result, not to each item.
    return MapConfig(max_concurrency=1, serdes=OpSerDes(), item_serdes=PlainJsonSerDes())


@durable_execution
def map_9_19(event: Any, context: DurableContext) -> list:
    """9-19: an operation-level serdes writes the Map result as "OPSERDE:X,Y"."""
    batch = context.map(
        ["x", "y"],
        lambda ctx, item, index, items: item.upper(),
        name="op-serde",
        config=op_serde_config(),
    )
    return batch.get_results()


@durable_execution
def map_9_20(event: Any, context: DurableContext) -> list:
    """9-20: as 9-19, then a 1 s wait; replay reads the Map result back through the serdes."""
    batch = context.map(
        ["x", "y"],
        lambda ctx, item, index, items: item.upper(),
        name="op-serde-replay",
        config=op_serde_config(),
    )
    context.wait(Duration.from_seconds(1))
    return batch.get_results()
