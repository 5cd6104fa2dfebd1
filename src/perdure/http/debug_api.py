"""perdure's own HTTP paths for debugging: export an execution, rerun one from an
operation, and (for the testing kit against a live server) fire an execution's next
timer now. They live under ``/perdure/v1/``, apart from the Lambda API, and call the
same functions as the CLI."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from perdure.errors import InvalidParameterValue
from perdure.http.wire import read_json_object, run_blocking
from perdure.ops import export_execution, rerun_execution, rerun_summary, skip_next_timer

if TYPE_CHECKING:
    from perdure.core import Engine
    from perdure.run import Runtime

Route = tuple[str, re.Pattern[str], Callable[[Request, str, str], Awaitable[Response]]]
PREFIX = "/perdure/v1/executions"


def debug_routes(engine: Engine, runtime: Runtime) -> list[Route]:
    async def export(request: Request, arn: str, _op: str) -> Response:
        document = await run_blocking(export_execution, engine, arn)
        return JSONResponse(document)

    async def rerun(request: Request, arn: str, _op: str) -> Response:
        data = await read_json_object(request)
        from_op = _optional_text(data, "FromOperation")
        name = _optional_text(data, "Name")
        version = _optional_text(data, "Version")
        if name is not None and not re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", name):
            raise InvalidParameterValue("Name must be 1-64 characters of [a-zA-Z0-9_-]")
        text = _optional_text(data, "Input")
        if text is not None:
            try:
                json.loads(text)
            except json.JSONDecodeError as exc:
                raise InvalidParameterValue(f"Input is not valid JSON: {exc}") from exc
        result = await run_blocking(lambda: rerun_execution(
            engine, arn, from_op, input_payload=text, name=name, version=version,
        ))
        runtime.poke()
        return JSONResponse(rerun_summary(result), status_code=201)

    async def skip(request: Request, arn: str, _op: str) -> Response:
        data = await read_json_object(request)
        answer = await run_blocking(skip_next_timer, engine, arn, _optional_text(data, "UnlessOpen"))
        if answer["State"] == "fired":
            runtime.poke()
        return JSONResponse(answer)

    return [
        ("GET", re.compile(rf"^{PREFIX}/(?P<id>.+)/export$"), export),
        ("POST", re.compile(rf"^{PREFIX}/(?P<id>.+)/rerun$"), rerun),
        ("POST", re.compile(rf"^{PREFIX}/(?P<id>.+)/skip-timer$"), skip),
    ]


def _optional_text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidParameterValue(f"{key} must be a non-empty string")
    return value
