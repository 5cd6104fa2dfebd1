"""Conformance suite "invoke" (requirements 5-1 .. 5-16): chained invoke.

The callers use ``context.invoke``; the targets they call are durable functions
of the same template (their names come from environment variables the template
sets, defaulting to the template's logical ids).
"""

from __future__ import annotations

import json
import os
from typing import Any

from aws_durable_execution_sdk_python import DurableContext, InvokeError, durable_execution
from aws_durable_execution_sdk_python.config import Duration, InvokeConfig
from aws_durable_execution_sdk_python.serdes import SerDes, SerDesContext
from conformance_support import HandlerTestError

LARGE_PAYLOAD_CHARS = 200_000  # near, but under, the 256 KB checkpoint limit


def echo_target() -> str:
    return os.environ.get("INVOKE_ECHO_TARGET", "InvokeEchoTarget")


def fail_target() -> str:
    return os.environ.get("INVOKE_FAIL_TARGET", "InvokeFailTarget")


def size_target() -> str:
    return os.environ.get("INVOKE_SIZE_TARGET", "InvokeSizeTarget")


# --- targets -------------------------------------------------------------------


@durable_execution
def invoke_echo_target(event: Any, context: DurableContext) -> Any:
    """Target: returns its input unchanged."""
    return event


@durable_execution
def invoke_fail_target(event: Any, context: DurableContext) -> Any:
    """Target: always fails."""
    raise HandlerTestError("invoked target failed on purpose")


@durable_execution
def invoke_size_target(event: Any, context: DurableContext) -> Any:
    """Target: reports the size of what it received."""
    return {"length": len(json.dumps(event))}


# --- callers -------------------------------------------------------------------


@durable_execution
def invoke_5_1(event: Any, context: DurableContext) -> Any:
    """5-1: invoke the echo target with the input; returns its result."""
    return context.invoke(echo_target(), event)


@durable_execution
def invoke_5_2(event: Any, context: DurableContext) -> Any:
    """5-2: a named invoke (name from the input)."""
    return context.invoke(echo_target(), event["payload"], name=event["name"])


@durable_execution
def invoke_5_3(event: Any, context: DurableContext) -> Any:
    """5-3: the echo target returns a nested object unchanged."""
    return context.invoke(echo_target(), event)


@durable_execution
def invoke_5_4(event: Any, context: DurableContext) -> Any:
    """5-4: invoke with a null payload; the result is null."""
    return context.invoke(echo_target(), None)


@durable_execution
def invoke_5_5(event: Any, context: DurableContext) -> Any:
    """5-5: the target fails; InvokeError propagates and the execution fails."""
    return context.invoke(fail_target(), event)


@durable_execution
def invoke_5_6(event: Any, context: DurableContext) -> Any:
    """5-6: the target fails; the caller catches InvokeError and returns a fallback."""
    try:
        return context.invoke(fail_target(), event)
    except InvokeError:
        return "fallback"


@durable_execution
def invoke_5_7(event: Any, context: DurableContext) -> Any:
    """5-7: invoke with a payload near the size limit."""
    return context.invoke(size_target(), {"data": "x" * LARGE_PAYLOAD_CHARS})


@durable_execution
def invoke_5_8(event: Any, context: DurableContext) -> Any:
    """5-8: invoke with a tenant id."""
    return context.invoke(
        echo_target(), event["payload"], config=InvokeConfig(tenant_id=event["tenantId"])
    )


@durable_execution
def invoke_5_9(event: Any, context: DurableContext) -> Any:
    """5-9: invoke, then a 1 s wait; replay returns the cached invoke result."""
    result = context.invoke(echo_target(), "cached")
    context.wait(Duration.from_seconds(1))
    return result


@durable_execution
def invoke_5_10(event: Any, context: DurableContext) -> Any:
    """5-10: a failed invoke is caught, then a 1 s wait; replay re-raises from the cache."""
    try:
        result = context.invoke(fail_target(), event)
    except InvokeError:
        result = "caught"
    context.wait(Duration.from_seconds(1))
    return result


@durable_execution
def invoke_5_11(event: Any, context: DurableContext) -> Any:
    """5-11: a step, then invoke with the step's result."""
    value = context.step(lambda _: "from-step", name="produce")
    return context.invoke(echo_target(), value)


@durable_execution
def invoke_5_12(event: Any, context: DurableContext) -> Any:
    """5-12: invoke, then a step that processes the invoke result."""
    result = context.invoke(echo_target(), "from-invoke")
    return context.step(lambda _: f"processed:{result}", name="process")


@durable_execution
def invoke_5_13(event: Any, context: DurableContext) -> Any:
    """5-13: invoke inside a child context."""
    return context.run_in_child_context(
        lambda child: child.invoke(echo_target(), "in-child"), name="invoke-child"
    )


@durable_execution
def invoke_5_14(event: Any, context: DurableContext) -> Any:
    """5-14: two sequential invokes of two targets."""
    first = context.invoke(echo_target(), "first")
    second = context.invoke(size_target(), first)
    return {"first": first, "second": second}


class UppercaseStringSerDes(SerDes[Any]):
    """JSON, with string values upper-cased when serializing."""

    def serialize(self, value: Any, serdes_context: SerDesContext) -> str:
        if isinstance(value, dict):
            value = {k: v.upper() if isinstance(v, str) else v for k, v in value.items()}
        elif isinstance(value, str):
            value = value.upper()
        return json.dumps(value)

    def deserialize(self, data: str, serdes_context: SerDesContext) -> Any:
        return json.loads(data)


class UppercaseRawResultSerDes(SerDes[str]):
    """Reads the result's raw text upper-cased (no JSON decoding)."""

    def serialize(self, value: str, serdes_context: SerDesContext) -> str:
        return value

    def deserialize(self, data: str, serdes_context: SerDesContext) -> str:
        return data.upper()


@durable_execution
def invoke_5_15(event: Any, context: DurableContext) -> Any:
    """5-15: a custom payload serdes transforms the outgoing payload."""
    return context.invoke(
        echo_target(), event, config=InvokeConfig(serdes_payload=UppercaseStringSerDes())
    )


@durable_execution
def invoke_5_16(event: Any, context: DurableContext) -> Any:
    """5-16: a custom result serdes upper-cases the raw result text.

    The echo target returns "hello" (JSON text ``"hello"``); the deserializer
    upper-cases that raw text, so the handler returns the string ``"HELLO"``
    including its quotes, which is what the requirement expects.
    """
    return context.invoke(
        echo_target(), event, config=InvokeConfig(serdes_result=UppercaseRawResultSerDes())
    )
