"""What every JSON route of perdure's HTTP API shares: reading bodies and query strings with
the same limits and rules, the rest-json time format, execution summaries, and running
engine calls off the event loop.

The Lambda API (``lambda_api``), perdure's own routes (``perdure_api``, ``debug_api``) and
the functions API all use these, so a client mistake gets the same answer from each.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from perdure.core import MAX_INPUT_BYTES, to_wire
from perdure.deploy import executed_version, function_arn
from perdure.errors import InvalidParameterValue, RequestTooLarge
from perdure.store import ExecutionRow

__all__ = [
    "DRAIN_LIMIT_BYTES", "MAX_BODY_BYTES", "STATUSES", "Handler", "as_int", "execution_summary",
    "first", "flag", "parse_json", "query_params", "read_body", "read_json_object",
    "run_blocking", "to_wire",
]

MAX_BODY_BYTES = MAX_INPUT_BYTES + 64 * 1024
DRAIN_LIMIT_BYTES = 64 * 1024 * 1024
STATUSES = {"RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED", "PAUSING", "PAUSED"}

Handler = Callable[[Request, str, str], Awaitable[Response]]


def execution_summary(row: ExecutionRow) -> dict[str, Any]:
    out: dict[str, Any] = {
        "DurableExecutionArn": row.arn,
        "DurableExecutionName": row.name,
        "FunctionArn": f"{function_arn(row.function_name)}:{executed_version(row.version)}",
        "Status": row.status,
        "StartTimestamp": row.start_ms,
    }
    if row.end_ms is not None:
        out["EndTimestamp"] = row.end_ms
    return out


# -- query strings -------------------------------------------------------------------


def query_params(request: Request) -> dict[str, list[str]]:
    return parse_qs(request.url.query, keep_blank_values=True)


def first(params: dict[str, list[str]], key: str) -> str | None:
    values = params.get(key)
    return values[0] if values else None


def flag(params: dict[str, list[str]], key: str) -> bool:
    return (params.get(key) or ["false"])[0].lower() == "true"


def as_int(params: dict[str, list[str]], key: str) -> int | None:
    raw = first(params, key)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise InvalidParameterValue(f"{key} must be an integer") from exc


# -- bodies --------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(text: str | bytes) -> Any:
    """``json.loads`` that refuses NaN and Infinity, and nesting Python cannot parse."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 ({exc.reason})") from None


async def read_body(request: Request) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= MAX_BODY_BYTES:
            chunks.append(chunk)
        elif size > DRAIN_LIMIT_BYTES:
            break
    if size > MAX_BODY_BYTES:
        # Read (and drop) a moderately oversized body first, so the client gets the
        # error instead of a connection reset while it is still sending.
        raise RequestTooLarge(f"Request must be smaller than {MAX_BODY_BYTES} bytes")
    return b"".join(chunks)


async def read_json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object (``{}`` when there is none), or a 4xx."""
    body = await read_body(request)
    if not body.strip():
        return {}
    try:
        data = parse_json(body)
    except ValueError as exc:
        raise InvalidParameterValue(f"Request body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidParameterValue("Request body must be a JSON object")
    return data


async def run_blocking(fn: Callable[..., Any], *args: Any) -> Any:
    """Run a blocking engine or store call on a worker thread."""
    return await anyio.to_thread.run_sync(fn, *args)
