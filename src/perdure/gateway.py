"""The one ASGI app ``perdure serve`` runs: the Lambda API (``perdure.api``), and beside
it, on ``POST /``, the CloudWatch Logs API (requests with ``X-Amz-Target:
Logs_20140328.*``) and CloudFormation's stack-resource queries (form-encoded
``Action=...``), plus ``GET /metrics`` (Prometheus text) when metrics are on."""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from perdure.cfn_api import CloudFormationApi
from perdure.logs_api import LogsApi
from perdure.runtime import Runtime


class Gateway:
    def __init__(self, lambda_app: ASGIApp, runtime: Runtime, metrics: ASGIApp | None = None) -> None:
        self.lambda_app = lambda_app
        self.logs = LogsApi(runtime.store, runtime.engine.functions)
        self.cloudformation = CloudFormationApi(runtime.engine.functions)
        self.metrics = metrics

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
        await self.lambda_app(scope, receive, send)
