"""perdure's own HTTP routes beside the Lambda API, for the CLI and the console:
finding an execution by name or id prefix, listing across functions, what an
execution waits for, and advancing its timers (development). Under ``/perdure/v1/``
so they never collide with an AWS path; each calls one engine-level function.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from perdure.core import Engine
from perdure.errors import InvalidParameterValue
from perdure.http.wire import (
    STATUSES,
    Handler,
    as_int,
    execution_summary,
    first,
    query_params,
    read_json_object,
    run_blocking,
    to_wire,
)
from perdure.ops import advance, list_all, pending, resolve

PREFIX = "/perdure/v1"


def routes(engine: Engine) -> list[tuple[str, re.Pattern[str], Handler]]:
    async def resolve_ref(request: Request, _id: str, _op: str) -> Response:
        params = query_params(request)
        ref = first(params, "Ref") or ""
        row = await run_blocking(resolve, engine, ref, first(params, "Function") or None)
        found = dict(execution_summary(row), FunctionName=row.function_name, Durable=not row.plain)
        return JSONResponse(to_wire(found))

    async def list_executions(request: Request, _id: str, _op: str) -> Response:
        params = query_params(request)
        statuses = params.get("Statuses") or []
        bad = [s for s in statuses if s not in STATUSES]
        if bad:
            raise InvalidParameterValue(f"Unknown status {bad[0]!r}; expected one of {sorted(STATUSES)}")
        limit = as_int(params, "MaxItems") or 100
        rows = await run_blocking(list_all, engine, statuses, limit)
        return JSONResponse({"DurableExecutions": [to_wire(dict(execution_summary(r), FunctionName=r.function_name)) for r in rows]})

    async def pending_of(request: Request, arn: str, _op: str) -> Response:
        return JSONResponse(to_wire(await run_blocking(pending, engine, arn)))

    async def advance_timers(request: Request, arn: str, _op: str) -> Response:
        data = await read_json_object(request)
        operation = data.get("Operation")
        if operation is not None and not isinstance(operation, str):
            raise InvalidParameterValue("Operation must be a string (an operation name or id)")
        done = await run_blocking(advance, engine, arn, operation)
        return JSONResponse(to_wire({"Advanced": done}))

    return [
        ("GET", re.compile(rf"^{PREFIX}/resolve$"), resolve_ref),
        ("GET", re.compile(rf"^{PREFIX}/executions$"), list_executions),
        ("GET", re.compile(rf"^{PREFIX}/durable-executions/(?P<id>.+)/pending$"), pending_of),
        ("POST", re.compile(rf"^{PREFIX}/durable-executions/(?P<id>.+)/advance$"), advance_timers),
    ]


def iam_target(method: str, raw_path: str) -> tuple[str, str | None] | None:
    """For ``perdure serve --auth``: the IAM action a ``/perdure/v1/`` request needs and
    the execution ARN it names (None for a path outside these routes). Reads need what
    reading an execution needs; advancing a timer is a control-plane write, allowed to
    whoever may stop the execution."""
    from urllib.parse import unquote

    if not raw_path.startswith(PREFIX + "/"):
        return None
    rest = raw_path[len(PREFIX) + 1:].split("?", 1)[0]
    if rest.startswith("durable-executions/") and "/" in rest[len("durable-executions/"):]:
        encoded, _, action = rest[len("durable-executions/"):].rpartition("/")
        arn = unquote(encoded)
        if method == "POST" and action == "advance":
            return "lambda:StopDurableExecution", arn
        if action == "pending":
            return "lambda:GetDurableExecution", arn
        return None
    if rest == "executions":
        return "lambda:ListDurableExecutionsByFunction", None
    if rest == "resolve":
        return "lambda:GetDurableExecution", None
    return None  # another module's route (debug_api): not this module's to map
