"""``perdure invoke``: start an execution, and wait for it unless ``--async``."""

from __future__ import annotations

import argparse
from typing import Any

from perdure.cli.common import (
    INVOKE_READ_TIMEOUT_S,
    Output,
    call_server,
    decode_payload,
    json_payload,
    payload_display,
    strip_metadata,
)


def register(commands: Any, client: argparse.ArgumentParser) -> None:
    invoke = commands.add_parser(
        "invoke",
        parents=[client],
        help="start an execution of a function",
        description="Invoke a function. Synchronous by default: waits for the execution "
        "to finish and prints its result; exits 1 when the function failed.",
    )
    invoke.add_argument("function", metavar="FUNCTION", help="function name or ARN")
    invoke.add_argument(
        "--payload",
        metavar="JSON",
        default="{}",
        help="input event as JSON; file://PATH reads a file, - reads stdin (default {})",
    )
    invoke.add_argument(
        "--async",
        dest="is_async",
        action="store_true",
        help="return as soon as the execution is started (InvocationType Event)",
    )
    invoke.add_argument(
        "--name", metavar="EXECUTION_NAME", help="execution name (idempotent start)"
    )
    invoke.set_defaults(handler=_cmd_invoke)


def _cmd_invoke(args: argparse.Namespace) -> int:
    payload = json_payload(args.payload)
    request: dict[str, Any] = {
        "FunctionName": args.function,
        "InvocationType": "Event" if args.is_async else "RequestResponse",
        "Payload": payload,
    }
    if args.name:
        request["DurableExecutionName"] = args.name

    def action(client: Any) -> int:
        response = strip_metadata(client.invoke(**request))
        body = response.pop("Payload", None)
        raw = body.read() if body is not None else b""
        response["Payload"] = decode_payload(raw)
        failed = bool(response.get("FunctionError"))
        out = Output(args)
        if out.json:
            out.print_json(response)
        else:
            if args.is_async:
                status = "STARTED"
            else:
                status = f"FAILED ({response['FunctionError']})" if failed else "SUCCEEDED"
            rows: list[tuple[str, Any]] = [
                ("Function", args.function),
                ("Status", status),
                ("Execution", response.get("DurableExecutionArn")),
            ]
            if not args.is_async:
                rows.append(("Error" if failed else "Result", payload_display(raw)))
            out.key_values(rows)
            arn = response.get("DurableExecutionArn")
            if args.is_async and arn:
                out.note(f"follow it with: perdure executions get '{arn}'")
        return 1 if failed else 0

    return call_server(args, action, read_timeout=INVOKE_READ_TIMEOUT_S, attempts=1)

