"""``perdure executions``: list, inspect, stop, pause, resume and delete executions."""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from perdure.cli.options import (
    EXECUTION_STATUSES,
    add_error_options,
    add_execution_argument,
    call_server,
    error_object,
    fail,
    positive_int,
)
from perdure.cli.output import (
    Output,
    display_payload,
    epoch_time,
    error_text,
    event_details,
    event_label,
    fmt_days,
    fmt_seconds,
    fmt_time,
    pending_lines,
    short_id,
    strip_metadata,
    styled_status,
)

if TYPE_CHECKING:
    from perdure.http import PerdureClient


def register(commands: Any, client: argparse.ArgumentParser) -> None:
    executions = commands.add_parser(
        "executions", help="list and inspect durable executions"
    ).add_subparsers(dest="executions_command", metavar="ACTION", required=True)

    listing = executions.add_parser(
        "list", parents=[client], help="list executions, newest first"
    )
    listing.add_argument("--function", metavar="F", help="only this function's (default: every function's)")
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
    add_execution_argument(get)
    get.add_argument("--no-data", action="store_true", help="leave out input, result and error")
    get.set_defaults(handler=_cmd_get)

    history = executions.add_parser(
        "history", parents=[client], help="show the event history of an execution"
    )
    add_execution_argument(history)
    history.add_argument("--no-data", action="store_true", help="leave out payloads")
    history.add_argument("--reverse", action="store_true", help="newest event first")
    history.set_defaults(handler=_cmd_history)

    stop = executions.add_parser("stop", parents=[client], help="stop a running execution")
    add_execution_argument(stop)
    add_error_options(stop)
    stop.set_defaults(handler=_cmd_stop)
    pause = executions.add_parser(
        "pause", parents=[client], help="stop invoking an execution (waits and callbacks still complete)"
    )
    add_execution_argument(pause)
    pause.add_argument("--reason", help="recorded in the execution history")
    pause.add_argument(
        "--keep-timeout-running", action="store_true",
        help="let the execution timeout run on while paused (by default it is paused too)",
    )
    pause.set_defaults(handler=_cmd_pause)
    resume = executions.add_parser("resume", parents=[client], help="resume a paused execution")
    add_execution_argument(resume)
    resume.add_argument("--reason", help="recorded in the execution history")
    resume.set_defaults(handler=_cmd_resume)
    delete = executions.add_parser("delete", parents=[client], help="delete a closed execution and its history")
    add_execution_argument(delete)
    delete.set_defaults(handler=_cmd_delete)
    advance = executions.add_parser(
        "advance", parents=[client],
        help="development: fire a pending wait or retry timer now (recorded in the history)",
    )
    add_execution_argument(advance)
    advance.add_argument("--operation", metavar="NAME", help="only this operation (name or id)")
    advance.set_defaults(handler=_cmd_advance)


def _cmd_list(args: argparse.Namespace) -> int:
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

    def action(client: PerdureClient) -> int:
        executions: list[dict[str, Any]] = []
        if args.function:
            for page in client.pages("list_durable_executions_by_function", **request):
                executions.extend(page.get("DurableExecutions", []))
                if args.max_items and len(executions) >= args.max_items:
                    del executions[args.max_items :]
                    break
        else:
            executions = [
                e for e in client.list_executions(statuses, args.max_items or 100)
                if not args.name or e.get("DurableExecutionName") == args.name
            ]
            for e in executions:
                e.pop("FunctionName", None)
                for key in ("StartTimestamp", "EndTimestamp"):
                    if isinstance(e.get(key), int | float):
                        e[key] = dt.datetime.fromtimestamp(e[key], dt.UTC)
        out = Output(args)
        if out.json:
            out.print_json({"DurableExecutions": executions})
            return 0
        if not executions:
            out.note(f"no executions of {args.function}" if args.function else "no executions")
            return 0
        out.table(
            ["Name", "Status", "Started", "Ended", "Execution ARN"],  # ARN names the function
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
    def action(client: PerdureClient) -> int:
        arn = client.resolve_arn(args.arn, args.function)
        # Explicit either way, so the output does not depend on the server's default.
        request = {"DurableExecutionArn": arn, "IncludeExecutionData": not args.no_data}
        execution = strip_metadata(client.lambda_client.get_durable_execution(**request))
        out = Output(args)
        if out.json:
            out.print_json(execution)
            return 0
        state = client.pending(arn)
        config = execution.get("DurableConfig") or {}
        error = execution.get("Error")
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
            ("Input", display_payload(execution.get("InputPayload"))),
            ("Result", display_payload(execution.get("Result"))),
            ("Error", error_text(error)),
        ]
        out.key_values([(k, v) for k, v in rows if v not in (None, "")])
        _print_stack(out, error)
        lines = pending_lines(state, arn)
        if lines:
            out.note("waiting on:")
            for line in lines:
                out.note(f"  {line}")
        return 0

    return call_server(args, action)


def _print_stack(out: Output, error: Any, title: str = "stack trace") -> None:
    stack = error.get("StackTrace") if isinstance(error, Mapping) else None
    if isinstance(stack, list) and stack:
        out.note(f"{title}:")
        for line in stack:
            for part in str(line).rstrip("\n").split("\n"):
                out.note(f"  {part}")


def _cmd_history(args: argparse.Namespace) -> int:
    def action(client: PerdureClient) -> int:
        arn = client.resolve_arn(args.arn, args.function)
        # Explicit either way, so the output does not depend on the server's default.
        request: dict[str, Any] = {"DurableExecutionArn": arn, "IncludeExecutionData": not args.no_data}
        if args.reverse:
            request["ReverseOrder"] = True
        events: list[dict[str, Any]] = []
        for page in client.pages("get_durable_execution_history", **request):
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
        for event in events:
            details = event.get(f"{event.get('EventType')}Details") or {}
            error = (details.get("Error") or {}).get("Payload") if isinstance(details, Mapping) else None
            name = event.get("Name") or event.get("Id") or ""
            _print_stack(out, error, f"stack trace of event #{event.get('EventId')} {event_label(event)} {name}".rstrip())
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

    def action(client: PerdureClient) -> int:
        arn = client.resolve_arn(args.arn, args.function)
        response = strip_metadata(getattr(client.lambda_client, method)(**dict(request, DurableExecutionArn=arn)))
        out = Output(args)
        if out.json:
            out.print_json(response)
        else:
            when = response.get("StopTimestamp")
            out.note(f"{done} {arn}" + (f" at {fmt_time(when)}" if when else ""))
        return 0

    return call_server(args, action)


def _cmd_advance(args: argparse.Namespace) -> int:
    def action(client: PerdureClient) -> int:
        arn = client.resolve_arn(args.arn, args.function)
        advanced = client.advance(arn, args.operation)
        out = Output(args)
        if out.json:
            out.print_json({"Advanced": advanced})
            return 0
        for item in advanced:
            timer = str(item.get("Timer"))
            what = {"wait": "wait", "retry": "retry of step", "invocation_retry": "re-invoke"}.get(timer, timer)
            what += f" {item['Name']}" if item.get("Name") else ""
            out.note(f"advanced {what} (was due {epoch_time(item.get('DueTimestamp'))}); "
                     "recorded as TimerAdvanced in the history")
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

