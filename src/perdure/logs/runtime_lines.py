"""Log records from what a runtime process (Node, a custom runtime) writes.

A Lambda runtime interface client writes each log call as one line: in the Text format
``<ISO time>\\t<request id>\\t<LEVEL>\\t<message>`` (newlines inside the message written
as carriage returns, which the reader turns back), in the JSON format one JSON object
with ``timestamp``, ``level``, ``requestId`` and ``message``. A line in neither shape
(``process.stdout.write``, a crash report) is kept as it is, INFO from stdout and ERROR
from stderr, as CloudWatch keeps a runtime's raw output.
"""

from __future__ import annotations

import time
from typing import Any

from perdure.logs.capture import MAX_MESSAGE_CHARS, iso_ms, json_object, level_name
from perdure.store import NewLogRecord

TEXT_LEVELS = frozenset({"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"})


def _text_fields(line: str) -> dict[str, Any] | None:
    parts = line.split("\t", 3)
    if len(parts) == 4 and parts[2] in TEXT_LEVELS and parts[0][:2].isdigit():
        return {"timestamp": parts[0], "level": parts[2], "requestId": parts[1], "message": parts[3]}
    return None


def record_from_runtime_line(arn: str, request_id: str, stream: str, line: str) -> NewLogRecord:
    """The record of one line a runtime process wrote while running ``request_id``."""
    ts_ms = int(time.time() * 1000)
    body = json_object(line)
    if body is None:
        body = _text_fields(line)
    if body is None:
        body = {"message": line, "stream": stream, "level": "INFO" if stream == "stdout" else "ERROR"}
    body.setdefault("timestamp", iso_ms(ts_ms))
    raw_level = body.get("level")
    level = level_name(raw_level.upper()) if isinstance(raw_level, str) else "INFO"
    body["level"] = level
    if body.get("requestId") in (None, "", "-"):  # written outside an invocation (its start-up)
        body["requestId"] = request_id
    body.setdefault("durableExecutionArn", body.get("executionArn", arn))
    message = body.get("message")
    if isinstance(message, str) and len(message) > MAX_MESSAGE_CHARS:
        body["message"] = message[:MAX_MESSAGE_CHARS] + " [truncated]"
    operation_id = body.get("operationId")
    operation_name = body.get("operationName")
    return NewLogRecord(
        ts_ms=ts_ms, level=level, request_id=str(body.get("requestId") or request_id),
        operation_id=operation_id if isinstance(operation_id, str) else None,
        operation_name=operation_name if isinstance(operation_name, str) else None,
        replay=False, body=body,
    )
