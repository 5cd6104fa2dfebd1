"""A handler that notes when each of its invocations starts and ends (in the file its
input names), so a test can see how many ran at once in a process."""

from __future__ import annotations

import json
import os
import time
from typing import Any

from aws_durable_execution_sdk_python import DurableContext, durable_execution


@durable_execution
def _work(event: Any, context: DurableContext) -> str:
    return context.step(lambda _: time.sleep(float(event.get("seconds", 0.3))) or "done", name="work")


def held(event: dict[str, Any], context: Any) -> Any:
    payload = json.loads(event["InitialExecutionState"]["Operations"][0]["ExecutionDetails"]["InputPayload"])
    with open(payload["log"], "a") as log:
        log.write(json.dumps({"at": time.time(), "delta": 1, "pid": os.getpid()}) + "\n")
    try:
        return _work(event, context)
    finally:
        with open(payload["log"], "a") as log:
            log.write(json.dumps({"at": time.time(), "delta": -1, "pid": os.getpid()}) + "\n")
