"""Python handlers that read the invocation event themselves, as Lambda delivers it."""

from __future__ import annotations

import json
from typing import Any

from aws_durable_execution_sdk_python import DurableContext, durable_execution
from aws_durable_execution_sdk_python.config import Duration


def _input(event: dict[str, Any]) -> Any:
    execution = event["InitialExecutionState"]["Operations"][0]
    return json.loads(execution["ExecutionDetails"]["InputPayload"])


def raw(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A durable handler with no SDK: it reads the event and answers Lambda's way."""
    execution = event["InitialExecutionState"]["Operations"][0]
    seen = {
        "type": type(event).__mro__[1].__name__,
        "keys": sorted(event),
        "arn": event.get("DurableExecutionArn"),
        "token": isinstance(event.get("CheckpointToken"), str),
        "execution": {k: execution[k] for k in ("Type", "Status")},
        "start": execution["StartTimestamp"],
        "marker": event["InitialExecutionState"].get("NextMarker"),
        "as_json": json.loads(json.dumps(event)) == event,
        "input": _input(event),
    }
    return {"Status": "SUCCEEDED", "Result": json.dumps(seen)}


@durable_execution
def _double(event: Any, context: DurableContext) -> int:
    doubled: int = context.step(lambda _: event["x"] * 2, name="double")
    context.wait(Duration.from_seconds(1))
    return context.step(lambda _: doubled + 1, name="plus-one")


def logged(event: dict[str, Any], context: Any) -> Any:
    """Looks at each event, then hands it to the official SDK's wrapper."""
    operations = event["InitialExecutionState"]["Operations"]
    with open(_input(event)["log"], "a") as log:
        log.write(json.dumps({"arn": event.get("DurableExecutionArn"), "operations": [op["Type"] for op in operations]}) + "\n")
    return _double(event, context)
