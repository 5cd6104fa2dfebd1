"""The one ASGI app ``perdure serve`` runs: the Lambda API (``perdure.http.lambda_api``), and beside
it, on ``POST /``, the CloudWatch Logs API (requests with ``X-Amz-Target:
Logs_20140328.*``) and CloudFormation's stack-resource queries (form-encoded
``Action=...``), plus ``GET /metrics`` (Prometheus text) when metrics are on.

A synchronous ``Invoke`` with ``X-Amz-Log-Type: Tail`` gets, as on Lambda, the last
4 KB of what the execution logged in ``X-Amz-Log-Result`` (base64)."""

from __future__ import annotations

import base64
import re
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from perdure.http.cloudformation import CloudFormationApi
from perdure.http.cloudwatch_logs import LogsApi
from perdure.logs import tail_text
from perdure.run import Runtime

INVOKE_PATH = re.compile(r"^/2015-03-31/functions/[^/]+/invocations$")


class Gateway:
    def __init__(self, lambda_app: ASGIApp, runtime: Runtime, metrics: ASGIApp | None = None) -> None:
        self.lambda_app = lambda_app
        self.logs = LogsApi(runtime.store, runtime.engine.functions)
        self.cloudformation = CloudFormationApi(runtime.engine.functions)
        self.metrics = metrics
        self.store = runtime.store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope.get("path", "")
            method = scope.get("method", "")
            if path == "/" and method == "POST":
                request = Request(scope, receive)
                if self.logs.wants(request):
                    await (await self.logs.handle(request))(scope, receive, send)
                    return
                if self.cloudformation.wants(request):
                    await (await self.cloudformation.handle(request))(scope, receive, send)
                    return
            elif path == "/metrics" and method == "GET" and self.metrics is not None:
                await self.metrics(scope, receive, send)
                return
            if method == "POST" and INVOKE_PATH.match(path) and _header(scope, b"x-amz-log-type").lower() == "tail":
                await self.lambda_app(scope, receive, self._with_log_tail(send))
                return
        await self.lambda_app(scope, receive, send)

    def _with_log_tail(self, send: Send) -> Send:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[Any] = list(message.get("headers", []))
                arn = next((v.decode() for k, v in headers if k.lower() == b"x-amz-durable-execution-arn"), None)
                if arn is not None and message.get("status") == 200:
                    tail = await anyio.to_thread.run_sync(tail_text, self.store, arn)
                    headers.append((b"x-amz-log-result", base64.b64encode(tail.encode()) ))
                    message = {**message, "headers": headers}
            await send(message)

        return sending


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return ""
