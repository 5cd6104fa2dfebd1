"""The Lambda-compatible HTTP API (rest-json, as botocore's ``lambda`` model defines it).

Routing is done on the raw path: execution ARNs contain ``/`` and arrive
percent-encoded, which a decoded-path router would split apart.
"""

from __future__ import annotations

import json
import logging
import math
import re
import uuid
from typing import Any
from urllib.parse import unquote

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from perdure.core import ACCOUNT, REGION, Engine
from perdure.deploy import executed_version, parse_qualified_name
from perdure.errors import (
    InvalidParameterValue,
    ResourceNotFound,
    ServiceError,
    UnsupportedOperation,
)
from perdure.http.client import PERDURE_EVENTS_HEADER
from perdure.http.debug_api import debug_routes
from perdure.http.functions_api import FunctionsApi
from perdure.http.idempotency import INVOCATION_ID_HEADER, InvocationDedup, invoke_key
from perdure.http.invoke_result import function_error, invoke_headers
from perdure.http.perdure_api import routes as perdure_routes
from perdure.http.sync_waiters import DEFAULT_MAX_WAITING, SyncWaiters
from perdure.http.validation import ValidationError, check_value, echo, validate_body
from perdure.http.wire import (
    STATUSES,
    Handler,
    as_int,
    execution_summary,
    first,
    flag,
    parse_json,
    query_params,
    read_body,
    read_json_object,
    run_blocking,
    to_wire,
)
from perdure.ops import ADVANCED_EVENT
from perdure.run import Runtime
from perdure.store import ExecutionRow, TransientStoreError

log = logging.getLogger("perdure.api")

EXEC_SUFFIXES = ("checkpoint", "state", "history", "stop")
MAX_TIMESTAMP_S = 253402300799  # 9999-12-31T23:59:59Z



class InvalidRequestContent(ServiceError):
    code = "InvalidRequestContentException"
    status = 400
    error_kind = "User"
    message_key = "message"


def _error_response(exc: ServiceError, request_id: str) -> Response:
    return JSONResponse(
        exc.to_body(),
        status_code=exc.status,
        headers={"x-amzn-ErrorType": exc.code, "x-amzn-RequestId": request_id},
    )


def _timestamp_ms(params: dict[str, list[str]], key: str) -> int | None:
    raw = first(params, key)
    if not raw:
        return None
    try:
        seconds = float(raw)
        if not math.isfinite(seconds) or not 0 <= seconds <= MAX_TIMESTAMP_S:
            raise InvalidParameterValue(f"{key} must be a time between 1970 and 9999; got {echo(raw)}")
        return int(seconds * 1000)
    except ValueError:
        from datetime import datetime

        try:
            return int(datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp() * 1000)
        except (ValueError, OverflowError) as exc:
            raise InvalidParameterValue(f"{key} must be a timestamp; got {echo(raw)}") from exc


def function_name(text: str) -> str:
    """The bare function name a path names, or a 4xx saying why there is none."""
    from perdure.deploy import parse_function_name

    if not text or len(text) > 256 or not text.isprintable():
        raise ValidationError(f"FunctionName {echo(text)} must be 1-256 printable characters")
    if text.startswith("arn:") or re.match(r"^\d{12}:", text):
        parts = text.split(":")
        region, account = (parts[3], parts[4]) if text.startswith("arn:") and len(parts) > 4 else (REGION, parts[0])
        if (region and region != REGION) or account != ACCOUNT:
            raise ResourceNotFound(
                f"Function not found: {echo(text)}; this server is region {REGION}, account {ACCOUNT}"
            )
    try:
        return parse_function_name(text)
    except ValueError:
        raise ValidationError(
            f"FunctionName {echo(text)} is not a function name or ARN "
            "(expected Name, ACCOUNT:function:Name or arn:aws:lambda:REGION:ACCOUNT:function:Name)"
        ) from None


async def _client_gone(request: Request) -> None:
    """Return when the client's connection closes (its body has been read already)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


def _no_route(method: str, path: str) -> ServiceError:
    """A Lambda operation perdure does not serve (501, its own error type, so it never
    reads as a missing function), or a path that is no Lambda operation at all (404)."""
    from perdure.http.iam_actions import match_route

    known = match_route(method, path)
    if known is not None:
        return UnsupportedOperation(
            f"perdure does not implement {known[0]} (it serves Invoke and the durable-execution "
            "and callback operations of the Lambda API)"
        )
    return ResourceNotFound(f"No such API: {method} {echo(path)}")


def execution_detail(row: ExecutionRow, include_data: bool = True) -> dict[str, Any]:
    out = execution_summary(row)
    out["Version"] = executed_version(row.version)
    out["DurableConfig"] = {"RetentionPeriodInDays": row.retention_days}
    pause = json.loads(row.pause) if row.pause else {}
    if row.timeout_s:
        out["DurableConfig"]["ExecutionTimeout"] = row.timeout_s
        out["ExpectedExecutionTimeoutTimestamp"] = row.start_ms + row.timeout_s * 1000 + pause.get("extension_ms", 0)
    if row.status in ("PAUSING", "PAUSED"):
        out["PauseDetails"] = {
            "PauseRequestTimestamp": pause.get("requested_ms", row.start_ms),
            "ExecutionTimeoutPaused": bool(pause.get("timeout_paused")),
        }
        if include_data and pause.get("reason"):
            out["PauseDetails"]["Reason"] = pause["reason"]
    if include_data:
        out["ExecutionDataIncluded"] = True
        if row.input is not None:
            out["InputPayload"] = row.input
        if row.result is not None:
            out["Result"] = row.result
    if row.error is not None:
        out["Error"] = json.loads(row.error)
    return out


def qualified_name(function: str, qualifier: str | None) -> str:
    """The function a path names, with the ``Qualifier`` query parameter applied (it
    must agree with a qualifier the name already has)."""
    function_name(function)  # a 4xx for what is no function name or ARN of this server
    name, own = parse_qualified_name(function)
    if not qualifier:
        return function
    if own is not None and own != qualifier:
        raise InvalidParameterValue(f"The qualifier {own!r} in {function!r} does not match Qualifier {qualifier!r}")
    return f"{name}:{qualifier}"


class LambdaApi:
    """An ASGI app serving the durable-execution subset of the Lambda API."""

    def __init__(self, runtime: Runtime, *, max_waiting_invokes: int = DEFAULT_MAX_WAITING) -> None:
        self.runtime = runtime
        self.engine: Engine = runtime.engine
        self.waiters = SyncWaiters(max_waiting_invokes)
        runtime.add_observer(self.waiters.observe)
        self.dedup = InvocationDedup()
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = [
            ("POST", re.compile(r"^/2015-03-31/functions/(?P<id>[^/]+)/invocations$"), self.invoke),
            ("GET", re.compile(r"^/2025-12-01/functions/(?P<id>[^/]+)/durable-executions$"), self.list_executions),
            ("POST", re.compile(r"^/2025-12-01/durable-execution-callbacks/(?P<id>[^/]+)/(?P<op>succeed|fail|heartbeat)$"), self.callback),
            ("POST", re.compile(r"^/2025-12-01/durable-executions/(?P<id>.+)/checkpoint$"), self.checkpoint),
            ("GET", re.compile(r"^/2025-12-01/durable-executions/(?P<id>.+)/state$"), self.state),
            ("GET", re.compile(r"^/2025-12-01/durable-executions/(?P<id>.+)/history$"), self.history),
            ("POST", re.compile(r"^/2025-12-01/durable-executions/(?P<id>.+)/stop$"), self.stop),
            ("POST", re.compile(r"^/2025-12-01/durable-executions/(?P<id>.+)/pause$"), self.pause),
            ("POST", re.compile(r"^/2025-12-01/durable-executions/(?P<id>.+)/resume$"), self.resume),
            ("DELETE", re.compile(r"^/2025-12-01/durable-executions/(?P<id>.+)$"), self.delete),
            ("GET", re.compile(r"^/2025-12-01/durable-executions/(?P<id>.+)$"), self.get_execution),
            ("GET", re.compile(r"^/ping$"), self.ping),
            *debug_routes(self.engine, self.runtime),  # perdure's own: export, rerun, skip a timer
            *FunctionsApi(self.runtime, self._json, run_blocking).routes(),
        ]
        self._routes += perdure_routes(self.engine)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            message = await receive()
            while message["type"] != "lifespan.shutdown":
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                message = await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        request = Request(scope, receive)
        response = await self.dispatch(request)
        await response(scope, receive, send)

    async def dispatch(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        path = raw_path.decode("latin-1").split("?", 1)[0]
        try:
            for method, pattern, handler in self._routes:
                match = pattern.match(path)
                if match and request.method == method:
                    groups = match.groupdict()
                    ident = unquote(groups.get("id", ""), errors="strict")
                    if "/durable-executions/" in path:
                        check_value("GetDurableExecution", "DurableExecutionArn", ident)
                    elif "/durable-execution-callbacks/" in path:
                        check_value("SendDurableExecutionCallbackSuccess", "CallbackId", ident)
                    response = await handler(request, ident, groups.get("op", ""))
                    response.headers["x-amzn-RequestId"] = request_id
                    return response
            raise _no_route(request.method, path)
        except UnicodeDecodeError:
            return _error_response(ValidationError("The request path is not UTF-8 after percent-decoding"), request_id)
        except ServiceError as exc:
            return _error_response(exc, request_id)
        except ClientDisconnect:  # gone while sending its body: nobody reads an answer
            return Response(status_code=400)
        except TransientStoreError as exc:  # the database is restarting: the client retries (5xx)
            log.warning("request %s %s failed: %s", request.method, path, exc)
            return _error_response(ServiceError(f"Database unavailable, retry: {exc}"), request_id)
        except Exception:
            log.exception("request %s %s failed", request.method, path)
            return _error_response(ServiceError("Internal error; see the perdure server log"), request_id)

    async def _json(self, request: Request, operation: str) -> dict[str, Any]:
        """The request body as a JSON object, checked against ``operation``'s input shape."""
        data = await read_json_object(request)
        validate_body(operation, data)
        return data

    async def _read_execution(self, arn: str) -> ExecutionRow:
        row: ExecutionRow = await run_blocking(self.engine.get_execution, arn)
        return row

    # -- handlers ------------------------------------------------------------------

    async def ping(self, request: Request, _id: str, _op: str) -> Response:
        return JSONResponse({"status": "ok", "functions": sorted(self.engine.functions)})

    async def invoke(self, request: Request, function: str, _op: str) -> Response:
        name = qualified_name(function, first(query_params(request), "Qualifier"))
        body = await read_body(request)
        text: str | None = None
        if body.strip():
            try:
                text = body.decode()
                parse_json(text)
            except ValueError as exc:
                raise InvalidRequestContent(f"Could not parse request body into json: {exc}") from exc
        invocation_type = request.headers.get("x-amz-invocation-type", "RequestResponse")
        if invocation_type not in ("RequestResponse", "Event", "DryRun"):
            raise InvalidParameterValue(f"Unsupported X-Amz-Invocation-Type {invocation_type!r}")
        if invocation_type == "DryRun":
            await run_blocking(self.engine.function, name)
            return Response(status_code=204)
        execution_name = request.headers.get("x-amz-durable-execution-name")
        if execution_name is not None and not re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", execution_name):
            raise InvalidParameterValue("X-Amz-Durable-Execution-Name must be 1-64 characters of [a-zA-Z0-9_-]")
        # No separate look-up of the function: starting the execution resolves it (in
        # its own transaction) and raises the same ResourceNotFound.
        # A client's retry of this call (same amz-sdk-invocation-id) gets the execution
        # its first attempt started (perdure.http.idempotency).
        key = invoke_key(name, request.headers.get(INVOCATION_ID_HEADER), execution_name)
        row, _ = await run_blocking(self.dedup.once, key, lambda: self.engine.start_execution(name, text, execution_name)[0])
        headers = invoke_headers(row)  # a plain function's answer names no durable execution
        if invocation_type == "Event":
            return Response(status_code=202, headers=headers)
        closed = await self.waiters.wait(row.arn, self._read_execution, lambda: _client_gone(request))
        if closed is None:  # the caller hung up; the execution goes on
            return Response(status_code=499, headers=headers)
        row = closed
        if row.status == "SUCCEEDED":
            return Response(content=(row.result or "null").encode(), status_code=200, headers=headers, media_type="application/json")
        headers["X-Amz-Function-Error"] = "Unhandled"
        return JSONResponse(function_error(row), status_code=200, headers=headers)

    async def checkpoint(self, request: Request, arn: str, _op: str) -> Response:
        data = await self._json(request, "CheckpointDurableExecution")
        token = data.get("CheckpointToken")
        if not isinstance(token, str) or not token:
            raise InvalidParameterValue("CheckpointToken is required")
        client_token = data.get("ClientToken")
        response = await run_blocking(self.engine.checkpoint, arn, token, data.get("Updates") or [], client_token)
        return JSONResponse(to_wire(response))

    async def state(self, request: Request, arn: str, _op: str) -> Response:
        params = query_params(request)
        token = (params.get("CheckpointToken") or [""])[0]
        if not token:
            raise InvalidParameterValue("CheckpointToken is required")
        marker = first(params, "Marker") or None
        response = await run_blocking(self.engine.get_state, arn, token, marker, as_int(params, "MaxItems"))
        return JSONResponse(to_wire(response))

    async def get_execution(self, request: Request, arn: str, _op: str) -> Response:
        params = query_params(request)
        include = flag(params, "IncludeExecutionData") if "IncludeExecutionData" in params else True
        row = await run_blocking(self.engine.get_execution, arn)
        return JSONResponse(to_wire(execution_detail(row, include)))

    async def history(self, request: Request, arn: str, _op: str) -> Response:
        params = query_params(request)
        marker = first(params, "Marker") or None
        events, next_marker = await run_blocking(
            self.engine.history, arn, marker, as_int(params, "MaxItems"),
            flag(params, "ReverseOrder"),
            flag(params, "IncludeExecutionData") if "IncludeExecutionData" in params else True,
        )
        if request.headers.get(PERDURE_EVENTS_HEADER, "").lower() != "all":
            # AWS's tools (the JS testing kit's cloud runner) know only AWS's event types;
            # perdure's own (an advanced timer) are for perdure's CLI, console and export.
            events = [event for event in events if event.get("EventType") != ADVANCED_EVENT]
        out: dict[str, Any] = {"Events": to_wire(events)}
        if next_marker:
            out["NextMarker"] = next_marker
        return JSONResponse(out)

    async def list_executions(self, request: Request, function: str, _op: str) -> Response:
        params = query_params(request)
        statuses = params.get("Statuses") or []
        bad = [s for s in statuses if s not in STATUSES]
        if bad:
            raise InvalidParameterValue(f"Unknown status {bad[0]!r}; expected one of {sorted(STATUSES)}")
        rows, marker = await run_blocking(
            self.engine.list_executions, function_name(function), statuses,
            _timestamp_ms(params, "StartedAfter"), _timestamp_ms(params, "StartedBefore"),
            first(params, "DurableExecutionName"),
            first(params, "Marker") or None, as_int(params, "MaxItems"), flag(params, "ReverseOrder"),
        )
        out: dict[str, Any] = {"DurableExecutions": [to_wire(execution_summary(r)) for r in rows]}
        if marker:
            out["NextMarker"] = marker
        return JSONResponse(out)

    async def stop(self, request: Request, arn: str, _op: str) -> Response:
        data = await self._json(request, "StopDurableExecution")
        stopped_at = await run_blocking(self.engine.stop_execution, arn, data or None)
        return JSONResponse({"StopTimestamp": stopped_at / 1000})

    async def pause(self, request: Request, arn: str, _op: str) -> Response:
        data = await self._json(request, "PauseDurableExecution")
        reason = data.get("Reason")
        timeout_paused = data.get("ExecutionTimeoutPaused", True)
        if not isinstance(timeout_paused, bool):
            raise InvalidParameterValue("ExecutionTimeoutPaused must be a boolean")
        await run_blocking(self.engine.pause_execution, arn, reason if isinstance(reason, str) else None, timeout_paused)
        return JSONResponse({}, status_code=202)

    async def resume(self, request: Request, arn: str, _op: str) -> Response:
        data = await self._json(request, "ResumeDurableExecution")
        reason = data.get("Reason")
        await run_blocking(self.engine.resume_execution, arn, reason if isinstance(reason, str) else None)
        return JSONResponse({}, status_code=202)

    async def delete(self, request: Request, arn: str, _op: str) -> Response:
        deleted_at = await run_blocking(self.engine.delete_execution, arn)
        return JSONResponse({"DeletionRequestTimestamp": deleted_at / 1000}, status_code=202)

    async def callback(self, request: Request, callback_id: str, op: str) -> Response:
        if op == "succeed":
            body = await read_body(request)
            try:
                result = body.decode() if body else None
            except UnicodeDecodeError as exc:
                raise InvalidParameterValue("Callback result must be UTF-8 text") from exc
            await run_blocking(lambda: self.engine.callback(callback_id, "SUCCEEDED", result=result))
        elif op == "fail":
            # The request's payload is the ErrorObject itself.
            data = await self._json(request, "SendDurableExecutionCallbackFailure")
            validate_body("SendDurableExecutionCallbackFailure", {"Error": data})
            await run_blocking(lambda: self.engine.callback(callback_id, "FAILED", error=data))
        else:
            await run_blocking(self.engine.callback, callback_id, "HEARTBEAT")
        return JSONResponse({})
