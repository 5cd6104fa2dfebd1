"""What a synchronous Invoke answers, as Lambda shapes it.

* Only durable functions have a durable execution: a plain function's answer carries
  no ``X-Amz-Durable-Execution-Arn`` (its run is an internal, one-invocation row).
* A failed function's payload is Lambda's Python error shape: ``errorMessage``,
  ``errorType`` and ``stackTrace`` (the lines of the traceback, from the error's
  ``StackTrace``; empty when there is none, as Lambda sends it).
"""

from __future__ import annotations

import json
from typing import Any

from perdure.deploy import executed_version
from perdure.store import ExecutionRow


def invoke_headers(row: ExecutionRow) -> dict[str, str]:
    """The response headers of an Invoke of ``row``'s function."""
    headers = {"X-Amz-Executed-Version": executed_version(row.version)}
    if not row.plain:
        headers["X-Amz-Durable-Execution-Arn"] = row.arn
    return headers


def function_error(row: ExecutionRow) -> dict[str, Any]:
    """The payload of a failed (or timed-out, stopped) execution, as Lambda's runtime
    reports an unhandled error."""
    error = json.loads(row.error) if row.error else {}
    stack = error.get("StackTrace")
    lines = [str(line) for line in stack] if isinstance(stack, list) else []
    return {
        "errorType": error.get("ErrorType") or row.status,
        "errorMessage": error.get("ErrorMessage") or row.status,
        "stackTrace": lines,
    }
