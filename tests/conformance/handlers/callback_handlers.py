"""Conformance suite "callback" (requirements 4-1 .. 4-19): create_callback + result().

All of these run with an Event invocation; the validator sends the callback
results listed in each requirement's CallbackActions.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from aws_durable_execution_sdk_python import (
    CallbackError,
    CallbackTimeoutError,
    DurableContext,
    durable_execution,
)
from aws_durable_execution_sdk_python.config import CallbackConfig, Duration
from aws_durable_execution_sdk_python.serdes import SerDes, SerDesContext


@durable_execution
def callback_4_1(event: Any, context: DurableContext) -> Any:
    """4-1: a callback named after the input; returns its (raw) result."""
    callback = context.create_callback(name=event)
    return callback.result()


@durable_execution
def callback_4_2(event: Any, context: DurableContext) -> Any:
    """4-2: a callback named "approval"."""
    callback = context.create_callback(name="approval")
    return callback.result()


@durable_execution
def callback_4_3(event: Any, context: DurableContext) -> Any:
    """4-3: a callback with a 5 s timeout that nobody answers; the execution fails."""
    callback = context.create_callback(
        name=event, config=CallbackConfig(timeout=Duration.from_seconds(5))
    )
    return callback.result()


@durable_execution
def callback_4_4(event: Any, context: DurableContext) -> Any:
    """4-4: a callback with a 5 s heartbeat timeout and no heartbeat; the execution fails."""
    callback = context.create_callback(
        name=event, config=CallbackConfig(heartbeat_timeout=Duration.from_seconds(5))
    )
    return callback.result()


@durable_execution
def callback_4_5(event: Any, context: DurableContext) -> Any:
    """4-5: a 10 s heartbeat timeout kept alive by a heartbeat, then a success."""
    callback = context.create_callback(
        name=event, config=CallbackConfig(heartbeat_timeout=Duration.from_seconds(10))
    )
    return callback.result()


@durable_execution
def callback_4_6(event: Any, context: DurableContext) -> Any:
    """4-6: the external system reports failure; uncaught, so the execution fails."""
    callback = context.create_callback(name=event)
    return callback.result()


@durable_execution
def callback_4_7(event: Any, context: DurableContext) -> Any:
    """4-7: create a callback, run a step, then await the (failing) callback."""
    callback = context.create_callback(name=event)
    context.step(lambda _: "between", name="between-step")
    return callback.result()


@durable_execution
def callback_4_8(event: Any, context: DurableContext) -> Any:
    """4-8: callback with 5 s timeout, a step, then await; the callback times out."""
    callback = context.create_callback(
        name=event, config=CallbackConfig(timeout=Duration.from_seconds(5))
    )
    context.step(lambda _: "between", name="between-step")
    return callback.result()


@durable_execution
def callback_4_9(event: Any, context: DurableContext) -> Any:
    """4-9: callback, a 5 s wait, then await; the callback succeeds during the wait."""
    callback = context.create_callback(name=event)
    context.wait(Duration.from_seconds(5))
    return callback.result()


@durable_execution
def callback_4_10(event: Any, context: DurableContext) -> Any:
    """4-10: callback, a 5 s wait, then await; the callback fails during the wait."""
    callback = context.create_callback(name=event)
    context.wait(Duration.from_seconds(5))
    return callback.result()


@durable_execution
def callback_4_11(event: Any, context: DurableContext) -> Any:
    """4-11: callback with 3 s timeout, a 6 s wait, then await; it times out mid-wait."""
    callback = context.create_callback(
        name=event, config=CallbackConfig(timeout=Duration.from_seconds(3))
    )
    context.wait(Duration.from_seconds(6))
    return callback.result()


@durable_execution
def callback_4_12(event: Any, context: DurableContext) -> Any:
    """4-12: await a callback, then a 2 s wait, then return the callback result."""
    callback = context.create_callback(name=event)
    result = callback.result()
    context.wait(Duration.from_seconds(2))
    return result


@durable_execution
def callback_4_13(event: Any, context: DurableContext) -> Any:
    """4-13: a failed callback is caught; a 2 s wait follows; returns the message."""
    callback = context.create_callback(name=event)
    try:
        message = callback.result()
    except CallbackError as e:
        message = f"callback failed: {e}"
    context.wait(Duration.from_seconds(2))
    return message


@durable_execution
def callback_4_14(event: Any, context: DurableContext) -> Any:
    """4-14: a 3 s callback timeout is caught; a 2 s wait follows."""
    callback = context.create_callback(
        name=event, config=CallbackConfig(timeout=Duration.from_seconds(3))
    )
    try:
        message = callback.result()
    except CallbackTimeoutError as e:
        message = f"callback timed out: {e}"
    context.wait(Duration.from_seconds(2))
    return message


class ReceivedMessageSerDes(SerDes[dict]):
    """Reads a JSON message and turns its ISO-8601 timestamp into epoch seconds."""

    def serialize(self, value: dict, serdes_context: SerDesContext) -> str:
        out = dict(value)
        out["timestamp"] = (
            datetime.datetime.fromtimestamp(out["timestamp"], tz=datetime.UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z")
        )
        return json.dumps(out)

    def deserialize(self, data: str, serdes_context: SerDesContext) -> dict:
        raw = json.loads(data)
        when = datetime.datetime.fromisoformat(raw["timestamp"].replace("Z", "+00:00"))
        return {
            "id": raw["id"],
            "message": raw["message"],
            "timestamp": int(when.timestamp()),
        }


class IntegerSerDes(SerDes[int]):
    """Reads the payload as a number."""

    def serialize(self, value: int, serdes_context: SerDesContext) -> str:
        return str(value)

    def deserialize(self, data: str, serdes_context: SerDesContext) -> int:
        return int(json.loads(data))


@durable_execution
def callback_4_15(event: Any, context: DurableContext) -> Any:
    """4-15: a custom deserializer builds a typed object, converting the timestamp."""
    callback = context.create_callback(
        name=event, config=CallbackConfig(serdes=ReceivedMessageSerDes())
    )
    return {"received": callback.result()}


@durable_execution
def callback_4_16(event: Any, context: DurableContext) -> Any:
    """4-16: a custom deserializer reads the payload as a number."""
    callback = context.create_callback(name=event, config=CallbackConfig(serdes=IntegerSerDes()))
    count = callback.result()
    return {"count": count, "doubled": count * 2}


@durable_execution
def callback_4_17(event: Any, context: DurableContext) -> Any:
    """4-17: create A, await A, then create B, await B."""
    a = context.create_callback(name=event[0]).result()
    b = context.create_callback(name=event[1]).result()
    return {"a": a, "b": b}


@durable_execution
def callback_4_18(event: Any, context: DurableContext) -> Any:
    """4-18: create A and B, await A, then await B."""
    callback_a = context.create_callback(name=event[0])
    callback_b = context.create_callback(name=event[1])
    a = callback_a.result()
    b = callback_b.result()
    return {"a": a, "b": b}


@durable_execution
def callback_4_19(event: Any, context: DurableContext) -> Any:
    """4-19: create A and B, await B first, then A."""
    callback_a = context.create_callback(name=event[0])
    callback_b = context.create_callback(name=event[1])
    b = callback_b.result()
    a = callback_a.result()
    return {"a": a, "b": b}
