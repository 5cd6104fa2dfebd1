"""``perdure invoke``: start an execution, and wait for it unless ``--async``."""

from __future__ import annotations

import argparse
import threading
import uuid
from typing import TYPE_CHECKING, Any, Final

from perdure.cli.options import call_server, json_payload
from perdure.cli.output import (
    Output,
    decode_payload,
    display_payload,
    payload_display,
    pending_lines,
    strip_metadata,
)

if TYPE_CHECKING:
    from perdure.http import PerdureClient

POLL_S = 0.5
INVOKE_READ_TIMEOUT_S: Final = 960  # a synchronous invoke waits up to Lambda's 15 minutes


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
    # A name known before the call lets the live status find the execution at once
    # (the ARN of a synchronous invoke only comes back with its result).
    name = args.name or (None if args.is_async else uuid.uuid4().hex)
    if name:
        request["DurableExecutionName"] = name

    def action(client: PerdureClient) -> int:
        out = Output(args)
        if args.is_async or out.json:
            response = strip_metadata(client.lambda_client.invoke(**request))
        else:
            followed = _invoke_following(client, request, name or "", args, out)
            if followed is None:
                return 130
            response = followed
        body = response.pop("Payload", None)
        raw = body.read() if body is not None else b""
        response["Payload"] = decode_payload(raw)
        failed = bool(response.get("FunctionError"))
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
                rows.append(("Error" if failed else "Result", display_payload(raw.decode("utf-8", "replace")) or payload_display(raw)))
            out.key_values([(k, v) for k, v in rows if v is not None])
            if failed and isinstance(response["Payload"], dict):
                stack = response["Payload"].get("stackTrace")
                if isinstance(stack, list) and stack:
                    out.note("stack trace:")
                    for line in stack:
                        out.note(f"  {str(line).rstrip()}")
            arn = response.get("DurableExecutionArn")
            if args.is_async and arn:
                out.note(f"follow it with: perdure executions get {arn.rsplit('/', 1)[-1]}")
        return 1 if failed else 0

    return call_server(args, action, read_timeout=INVOKE_READ_TIMEOUT_S, attempts=1)


def _invoke_following(client: PerdureClient, request: dict[str, Any], name: str, args: argparse.Namespace, out: Output) -> dict[str, Any] | None:
    """A synchronous invoke, run in the background while the foreground prints the
    execution's ARN and then what it waits on, as it changes. None after Ctrl-C."""
    from perdure.http import PerdureError

    result: dict[str, Any] = {}

    def call() -> None:
        try:
            result["response"] = strip_metadata(client.lambda_client.invoke(**request))
        except BaseException as exc:  # handed to the foreground, which reports it
            result["error"] = exc

    worker = threading.Thread(target=call, name="perdure-invoke", daemon=True)
    worker.start()
    arn: str | None = None
    durable = True
    shown: list[str] | None = None
    try:
        while worker.is_alive():
            worker.join(POLL_S)
            if not worker.is_alive() or not durable:
                continue
            try:
                if arn is None:
                    found = client.resolve(name, args.function)
                    arn = str(found["DurableExecutionArn"])
                    durable = bool(found.get("Durable", True))
                    if durable:
                        out.note(f"execution {arn}")
                    continue
                state = client.pending(arn)
            except PerdureError as exc:
                if exc.status is None:
                    raise
                continue  # not started yet (or gone): the invoke itself reports
            lines = pending_lines(state, arn) or (["running"] if state.get("Invoking") else [])
            if lines != shown:
                shown = lines
                for line in lines:
                    out.note(f"  {line}")
    except KeyboardInterrupt:
        target = arn.rsplit("/", 1)[-1] if arn else f"{name} --function {args.function}"
        out.note(
            "\ninterrupted: the execution continues on the server (Ctrl-C stops only this command).\n"
            f"follow it:  perdure executions get {target}\n"
            f"stop it:    perdure executions stop {target}"
        )
        return None
    if "error" in result:
        raise result["error"]
    response: dict[str, Any] = result["response"]
    return response
