"""The CloudWatch Logs API (JSON 1.1 protocol, ``X-Amz-Target: Logs_20140328.<Op>``)
over the records perdure stores: enough for boto3's ``logs`` client, the aws CLI and
the tools built on them to read what handlers logged.

Served: ``FilterLogEvents``, ``GetLogEvents``, ``DescribeLogGroups``,
``DescribeLogStreams``. Each function is a log group (``/aws/lambda/<name>`` or its
``LoggingConfig.LogGroup``), each execution a log stream. Everything a handler wrote
is there, as on AWS, including lines written again while a context replayed (marked
``"replay": true``); ``{ $.replay NOT EXISTS }`` leaves them out.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from perdure.deploy import FunctionSpec
from perdure.logs import (
    FilterPatternError,
    LogsError,
    describe_groups,
    describe_streams,
    filter_events,
    function_for_group,
    get_events,
    parse,
)
from perdure.store import Store, TransientStoreError

log = logging.getLogger("perdure.logs_api")

TARGET_PREFIX = "Logs_20140328."
CONTENT_TYPE = "application/x-amz-json-1.1"
MAX_BODY_BYTES = 1024 * 1024


def _error(code: str, message: str, status: int = 400) -> Response:
    return Response(
        json.dumps({"__type": code, "message": message}), status_code=status, media_type=CONTENT_TYPE,
        headers={"x-amzn-RequestId": str(uuid.uuid4())},
    )


def _int(body: Mapping[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise LogsError("InvalidParameterException", f"{key} must be an integer")
    return value


def _limit(body: Mapping[str, Any], most: int) -> int | None:
    value = _int(body, "limit")
    if value is not None and not 1 <= value <= most:
        raise LogsError("InvalidParameterException", f"limit must be between 1 and {most}")
    return value


def _str(body: Mapping[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise LogsError("InvalidParameterException", f"{key} must be a string")
    return value


class LogsApi:
    """Answers ``Logs_20140328.*`` requests for the functions of one deployment."""

    def __init__(self, store: Store, functions: Mapping[str, FunctionSpec]) -> None:
        self.store = store
        self.functions = functions
        self._ops: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "FilterLogEvents": self.filter_log_events,
            "GetLogEvents": self.get_log_events,
            "DescribeLogGroups": self.describe_log_groups,
            "DescribeLogStreams": self.describe_log_streams,
        }

    @staticmethod
    def wants(request: Request) -> bool:
        return request.headers.get("x-amz-target", "").startswith(TARGET_PREFIX)

    async def handle(self, request: Request) -> Response:
        op = request.headers.get("x-amz-target", "").removeprefix(TARGET_PREFIX)
        fn = self._ops.get(op)
        if fn is None:
            return _error("UnknownOperationException", f"perdure does not serve the CloudWatch Logs operation {op!r}")
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            return _error("InvalidParameterException", "Request body too large", 413)
        try:
            body = json.loads(raw) if raw.strip() else {}
        except (ValueError, UnicodeDecodeError) as exc:
            return _error("SerializationException", f"Request body is not valid JSON: {exc}")
        if not isinstance(body, dict):
            return _error("SerializationException", "Request body must be a JSON object")
        try:
            result = await anyio.to_thread.run_sync(fn, body)
        except LogsError as exc:
            return _error(exc.code, exc.message)
        except FilterPatternError as exc:
            return _error("InvalidParameterException", str(exc))
        except TransientStoreError as exc:
            return _error("ServiceUnavailableException", f"Database unavailable, retry: {exc}", 503)
        except Exception:
            log.exception("CloudWatch Logs %s failed", op)
            return _error("ServiceUnavailableException", "Internal error; see the perdure server log", 500)
        return Response(json.dumps(result), media_type=CONTENT_TYPE, headers={"x-amzn-RequestId": str(uuid.uuid4())})

    # -- operations ----------------------------------------------------------------------

    def _group(self, body: Mapping[str, Any]) -> str:
        return function_for_group(self.functions, _str(body, "logGroupName") or _str(body, "logGroupIdentifier"))

    def filter_log_events(self, body: dict[str, Any]) -> dict[str, Any]:
        function = self._group(body)
        streams = body.get("logStreamNames")
        if streams is not None and not (isinstance(streams, list) and all(isinstance(s, str) for s in streams)):
            raise LogsError("InvalidParameterException", "logStreamNames must be a list of strings")
        if streams and body.get("logStreamNamePrefix"):
            raise LogsError("InvalidParameterException", "logStreamNames and logStreamNamePrefix are mutually exclusive")
        result = filter_events(
            self.store, function, parse(_str(body, "filterPattern")),
            start_ms=_int(body, "startTime"), end_ms=_int(body, "endTime"),
            streams=streams, stream_prefix=_str(body, "logStreamNamePrefix"),
            next_token=_str(body, "nextToken"), limit=_limit(body, 10_000),
        )
        out: dict[str, Any] = {"events": result.events, "searchedLogStreams": []}
        if result.next_token:
            out["nextToken"] = result.next_token
        return out

    def get_log_events(self, body: dict[str, Any]) -> dict[str, Any]:
        function = self._group(body)
        stream = _str(body, "logStreamName")
        if not stream:
            raise LogsError("InvalidParameterException", "logStreamName is required")
        return get_events(
            self.store, function, stream, start_ms=_int(body, "startTime"), end_ms=_int(body, "endTime"),
            next_token=_str(body, "nextToken"), limit=_limit(body, 10_000),
            start_from_head=bool(body.get("startFromHead", False)),
        )

    def describe_log_groups(self, body: dict[str, Any]) -> dict[str, Any]:
        found = describe_groups(
            self.functions, self.store, prefix=_str(body, "logGroupNamePrefix"), pattern=_str(body, "logGroupNamePattern")
        )
        return _page(found, body, "logGroups")

    def describe_log_streams(self, body: dict[str, Any]) -> dict[str, Any]:
        function = self._group(body)
        order_by = _str(body, "orderBy") or "LogStreamName"
        if order_by not in ("LogStreamName", "LastEventTime"):
            raise LogsError("InvalidParameterException", "orderBy must be LogStreamName or LastEventTime")
        if order_by == "LastEventTime" and body.get("logStreamNamePrefix"):
            raise LogsError("InvalidParameterException", "Cannot order by LastEventTime with a logStreamNamePrefix.")
        found = describe_streams(
            self.store, function, prefix=_str(body, "logStreamNamePrefix"), order_by=order_by,
            descending=bool(body.get("descending", False)),
        )
        for stream in found:
            stream.pop("durableExecutionArn", None)
        return _page(found, body, "logStreams")


def _page(items: list[dict[str, Any]], body: Mapping[str, Any], key: str) -> dict[str, Any]:
    """A page of ``items`` under ``key``; the opaque nextToken is an offset here."""
    limit = _limit(body, 50) or 50
    token = _str(body, "nextToken")
    if token and not token.isdigit():
        raise LogsError("InvalidParameterException", "The specified nextToken is not valid.")
    start = int(token) if token else 0
    out: dict[str, Any] = {key: items[start : start + limit]}
    if start + limit < len(items):
        out["nextToken"] = str(start + limit)
    return out
