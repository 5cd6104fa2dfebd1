"""``perdure callback``: complete or heartbeat a callback an execution waits on."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from perdure.cli.options import (
    add_error_options,
    call_server,
    error_object,
    json_payload,
    payload_text,
)
from perdure.cli.output import Output, strip_metadata

if TYPE_CHECKING:
    from perdure.http import PerdureClient


def register(commands: Any, client: argparse.ArgumentParser) -> None:
    callback = commands.add_parser(
        "callback", help="complete or heartbeat a callback an execution waits on"
    ).add_subparsers(dest="callback_command", metavar="ACTION", required=True)

    succeed = callback.add_parser(
        "succeed", parents=[client], help="complete a callback with a result"
    )
    succeed.add_argument("callback_id", metavar="CALLBACK_ID", help="callback id (or, with --execution, its name)")
    _add_execution_option(succeed)
    succeed.add_argument(
        "--payload",
        metavar="JSON",
        help="result as JSON; file://PATH reads a file, - reads stdin (default: no result)",
    )
    succeed.add_argument(
        "--raw", action="store_true", help="send --payload as is, without checking it is JSON"
    )
    succeed.set_defaults(handler=_cmd_callback_succeed)

    fail = callback.add_parser("fail", parents=[client], help="fail a callback")
    fail.add_argument("callback_id", metavar="CALLBACK_ID", help="callback id (or, with --execution, its name)")
    _add_execution_option(fail)
    add_error_options(fail)
    fail.set_defaults(handler=_cmd_callback_fail)

    heartbeat = callback.add_parser(
        "heartbeat", parents=[client], help="tell a callback its worker is still alive"
    )
    heartbeat.add_argument("callback_id", metavar="CALLBACK_ID", help="callback id (or, with --execution, its name)")
    _add_execution_option(heartbeat)
    heartbeat.set_defaults(handler=_cmd_callback_heartbeat)


def _cmd_callback_succeed(args: argparse.Namespace) -> int:
    request: dict[str, Any] = {"CallbackId": args.callback_id}
    if args.payload is not None:
        if args.raw:
            request["Result"] = payload_text(args.payload).encode("utf-8")
        else:
            request["Result"] = json_payload(args.payload)
    return _callback(args, "send_durable_execution_callback_success", request, "succeeded")


def _cmd_callback_fail(args: argparse.Namespace) -> int:
    request: dict[str, Any] = {"CallbackId": args.callback_id}
    error = error_object(args)
    if error:
        request["Error"] = error
    return _callback(args, "send_durable_execution_callback_failure", request, "failed")


def _cmd_callback_heartbeat(args: argparse.Namespace) -> int:
    request = {"CallbackId": args.callback_id}
    return _callback(args, "send_durable_execution_callback_heartbeat", request, "heartbeat sent")


def _add_execution_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--execution", metavar="EXECUTION",
        help="the execution (ARN, name or id prefix) waiting on the callback named CALLBACK_ID",
    )
    parser.add_argument("--function", metavar="F", help="with --execution: the execution's function")


def _callback(args: argparse.Namespace, operation: str, request: dict[str, Any], done: str) -> int:
    def action(client: PerdureClient) -> int:
        if args.execution:
            request["CallbackId"] = args.callback_id = client.callback_id(
                args.execution, args.callback_id, args.function
            )
        response = strip_metadata(getattr(client.lambda_client, operation)(**request))
        out = Output(args)
        if out.json:
            out.print_json(response)
        else:
            out.note(f"callback {args.callback_id}: {done}")
        return 0

    return call_server(args, action)

