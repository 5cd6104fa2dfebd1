"""``perdure executions``: list, inspect, stop, pause, resume and delete executions."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import Any

from perdure.cli.common import (
    EXECUTION_STATUSES,
    Output,
    add_error_options,
    call_server,
    error_object,
    error_text,
    event_details,
    event_label,
    fail,
    fmt_days,
    fmt_seconds,
    fmt_time,
    pages,
    positive_int,
    short_id,
    strip_metadata,
    styled_status,
)


def register(commands: Any, client: argparse.ArgumentParser) -> None:
    executions = commands.add_parser(
        "executions", help="list and inspect durable executions"
    ).add_subparsers(dest="executions_command", metavar="ACTION", required=True)

    listing = executions.add_parser(
        "list", parents=[client], help="list the executions of a function"
    )
    listing.add_argument("--function", metavar="F", help="function name or ARN (required)")
    listing.add_argument(
        "--status",
        action="append",
        metavar="S",
        type=str.upper,
        help=f"only executions in this status (repeatable): {', '.join(EXECUTION_STATUSES)}",
    )
    listing.add_argument("--name", metavar="NAME", help="only executions with this name")
    listing.add_argument(
        "--max-items", type=positive_int, metavar="N", help="stop after N executions"
    )
    listing.set_defaults(handler=_cmd_list)

    get = executions.add_parser("get", parents=[client], help="show one execution")
    get.add_argument("arn", metavar="ARN", help="durable execution ARN")
    get.add_argument("--no-data", action="store_true", help="leave out input, result and error")
    get.set_defaults(handler=_cmd_get)

    history = executions.add_parser(
        "history", parents=[client], help="show the event history of an execution"
    )
    history.add_argument("arn", metavar="ARN", help="durable execution ARN")
    history.add_argument("--no-data", action="store_true", help="leave out payloads")
    history.add_argument("--reverse", action="store_true", help="newest event first")
    history.set_defaults(handler=_cmd_history)

    stop = executions.add_parser("stop", parents=[client], help="stop a running execution")
    stop.add_argument("arn", metavar="ARN", help="durable execution ARN")
    add_error_options(stop)
    stop.set_defaults(handler=_cmd_stop)
    pause = executions.add_parser(
        "pause", parents=[client], help="stop invoking an execution (waits and callbacks still complete)"
    )
    pause.add_argument("arn", metavar="ARN", help="durable execution ARN")
    pause.add_argument("--reason", help="recorded in the execution history")
    pause.add_argument(
        "--keep-timeout-running", action="store_true",
        help="let the execution timeout run on while paused (by default it is paused too)",
    )
    pause.set_defaults(handler=_cmd_pause)
    resume = executions.add_parser("resume", parents=[client], help="resume a paused execution")
    resume.add_argument("arn", metavar="ARN", help="durable execution ARN")
    resume.add_argument("--reason", help="recorded in the execution history")
    resume.set_defaults(handler=_cmd_resume)
    delete = executions.add_parser("delete", parents=[client], help="delete a closed execution and its history")
    delete.add_argument("arn", metavar="ARN", help="durable execution ARN")
    delete.set_defaults(handler=_cmd_delete)


def _cmd_list(args: argparse.Namespace) -> int:
    if not args.function:
        fail(
            "executions list needs --function NAME "
            "(listing across all functions is not supported yet)"
        )
    statuses: list[str] = []
    for item in args.status or []:
        for status in item.split(","):
            status = status.strip()
            if status not in EXECUTION_STATUSES:
                fail(f"--status {status!r}: expected one of {', '.join(EXECUTION_STATUSES)}")
            if status not in statuses:
                statuses.append(status)
    request: dict[str, Any] = {"FunctionName": args.function}
    if statuses:
        request["Statuses"] = statuses
    if args.name:
        request["DurableExecutionName"] = args.name

    def action(client: Any) -> int:
        executions: list[dict[str, Any]] = []
        for page in pages(client.list_durable_executions_by_function, request):
            executions.extend(page.get("DurableExecutions", []))
            if args.max_items and len(executions) >= args.max_items:
                del executions[args.max_items :]
                break
        out = Output(args)
        if out.json:
            out.print_json({"DurableExecutions": executions})
            return 0
        if not executions:
            out.note(f"no executions of {args.function}")
            return 0
        out.table(
            ["Name", "Status", "Started", "Ended", "Execution ARN"],
            [
                [
                    e.get("DurableExecutionName"),
                    styled_status(e.get("Status")),
                    fmt_time(e.get("StartTimestamp")),
                    fmt_time(e.get("EndTimestamp")),
                    e.get("DurableExecutionArn"),
                ]
                for e in executions
            ],
            no_wrap=("Status", "Started", "Ended"),
        )
        return 0

    return call_server(args, action)


def _cmd_get(args: argparse.Namespace) -> int:
    request: dict[str, Any] = {"DurableExecutionArn": args.arn}
    # Explicit either way, so the output does not depend on the server's default.
    request["IncludeExecutionData"] = not args.no_data

    def action(client: Any) -> int:
        execution = strip_metadata(client.get_durable_execution(**request))
        out = Output(args)
        if out.json:
            out.print_json(execution)
            return 0
        config = execution.get("DurableConfig") or {}
        rows: list[tuple[str, Any]] = [
            ("Name", execution.get("DurableExecutionName")),
            ("Status", styled_status(execution.get("Status"))),
            ("Execution ARN", execution.get("DurableExecutionArn")),
            ("Function", execution.get("FunctionArn")),
            ("Version", execution.get("Version")),
            ("Started", fmt_time(execution.get("StartTimestamp"))),
            ("Ended", fmt_time(execution.get("EndTimestamp"))),
            ("Times out", fmt_time(execution.get("ExpectedExecutionTimeoutTimestamp"))),
            ("Execution timeout", fmt_seconds(config.get("ExecutionTimeout"))),
            ("Retention", fmt_days(config.get("RetentionPeriodInDays"))),
            ("Input", execution.get("InputPayload")),
            ("Result", execution.get("Result")),
            ("Error", error_text(execution.get("Error"))),
        ]
        out.key_values([(k, v) for k, v in rows if v not in (None, "")])
        return 0

    return call_server(args, action)


def _cmd_history(args: argparse.Namespace) -> int:
    request: dict[str, Any] = {"DurableExecutionArn": args.arn}
    # Explicit either way, so the output does not depend on the server's default.
    request["IncludeExecutionData"] = not args.no_data
    if args.reverse:
        request["ReverseOrder"] = True

    def action(client: Any) -> int:
        events: list[dict[str, Any]] = []
        for page in pages(client.get_durable_execution_history, request):
            events.extend(page.get("Events", []))
        out = Output(args)
        if out.json:
            out.print_json({"Events": events})
            return 0
        out.table(
            ["#", "Time", "Event", "Name", "Id", "Details"],
            [
                [
                    event.get("EventId"),
                    fmt_time(event.get("EventTimestamp"), date=False),
                    event_label(event),
                    event.get("Name"),
                    short_id(event.get("Id")),
                    event_details(event),
                ]
                for event in events
            ],
            no_wrap=("#", "Time", "Event", "Id"),
        )
        waiting = _open_callbacks(events)
        if waiting:
            out.note("waiting on callbacks (complete with: perdure callback succeed ID):")
            for name, callback_id in waiting:
                out.note(f"  {name or '-'}  {callback_id}")
        return 0

    return call_server(args, action)


def _open_callbacks(events: Sequence[Mapping[str, Any]]) -> list[tuple[Any, str]]:
    """(name, callback id) of the callbacks started and not yet completed."""
    started: dict[Any, tuple[Any, str]] = {}
    for event in events:
        kind = event.get("EventType")
        if kind == "CallbackStarted":
            details = event.get("CallbackStartedDetails") or {}
            if details.get("CallbackId"):
                started[event.get("Id")] = (event.get("Name"), str(details["CallbackId"]))
        elif kind in ("CallbackSucceeded", "CallbackFailed", "CallbackTimedOut"):
            started.pop(event.get("Id"), None)
    return list(started.values())


def _simple_execution_call(args: argparse.Namespace, method: str, request: dict[str, Any], done: str) -> int:
    """Call one execution-level API (stop, pause, resume, delete) and say what happened."""

    def action(client: Any) -> int:
        response = strip_metadata(getattr(client, method)(**request))
        out = Output(args)
        if out.json:
            out.print_json(response)
        else:
            when = response.get("StopTimestamp")
            out.note(f"{done} {args.arn}" + (f" at {fmt_time(when)}" if when else ""))
        return 0

    return call_server(args, action)


def _cmd_stop(args: argparse.Namespace) -> int:
    request: dict[str, Any] = {"DurableExecutionArn": args.arn}
    error = error_object(args)
    if error:
        request["Error"] = error
    return _simple_execution_call(args, "stop_durable_execution", request, "stopped")


def _cmd_pause(args: argparse.Namespace) -> int:
    request: dict[str, Any] = {"DurableExecutionArn": args.arn, "ExecutionTimeoutPaused": not args.keep_timeout_running}
    if args.reason:
        request["Reason"] = args.reason
    return _simple_execution_call(args, "pause_durable_execution", request, "paused")


def _cmd_resume(args: argparse.Namespace) -> int:
    request: dict[str, Any] = {"DurableExecutionArn": args.arn}
    if args.reason:
        request["Reason"] = args.reason
    return _simple_execution_call(args, "resume_durable_execution", request, "resumed")


def _cmd_delete(args: argparse.Namespace) -> int:
    return _simple_execution_call(args, "delete_durable_execution", {"DurableExecutionArn": args.arn}, "deleted")

