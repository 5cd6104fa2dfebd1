"""``perdure logs``: what a handler logged, for one execution or a whole function.

It reads through the server's CloudWatch Logs API (``FilterLogEvents``), so the same
lines are a boto3 ``logs`` client or ``aws logs filter-log-events --endpoint-url``
away. Lines a handler wrote again while its execution replayed are hidden unless
``--include-replay``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from typing import IO, TYPE_CHECKING, Any

from perdure.cli.options import call_server, fail

if TYPE_CHECKING:
    from perdure.http import PerdureClient

LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
LEVEL_ALIASES = {"WARNING": "WARN", "CRITICAL": "FATAL"}
LEVEL_COLOURS = {"TRACE": "2", "DEBUG": "2", "INFO": "36", "WARN": "33", "ERROR": "31", "FATAL": "1;31"}
FOLLOW_POLL_S = 1.0
CLOSED_STATUSES = ("SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED")


def register(commands: Any, client: argparse.ArgumentParser) -> None:
    logs = commands.add_parser(
        "logs",
        parents=[client],
        help="show what handlers logged (one execution, or a function)",
        description="Show the lines a handler logged: context.logger, logging and print, "
        "per execution, each once (lines written again during a replay are hidden "
        "unless --include-replay).",
    )
    logs.add_argument("arn", metavar="ARN", nargs="?", help="durable execution ARN")
    logs.add_argument("--function", metavar="NAME", help="all executions of this function instead of one")
    logs.add_argument("--since", metavar="AGE", help="only lines newer than this: 30s, 10m, 2h, 1d (default: all)")
    logs.add_argument("--follow", "-f", action="store_true", help="keep printing new lines (until the execution closes)")
    logs.add_argument("--operation", metavar="NAME", help="only lines logged inside this operation (name or id)")
    logs.add_argument("--level", metavar="LEVEL", help="only lines at this level or above: DEBUG, INFO, WARN, ERROR")
    logs.add_argument("--include-replay", action="store_true", help="also the lines written again during replays")
    logs.set_defaults(handler=_cmd_logs)


def parse_age(text: str) -> int:
    """``10m`` -> milliseconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*", text)
    if match is None:
        fail(f"--since must look like 30s, 10m, 2h or 1d, got {text!r}")
    unit = {"ms": 0.001, "s": 1, None: 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    return int(float(match.group(1)) * unit * 1000)


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def filter_pattern(arn: str | None, operation: str | None, level: str | None, include_replay: bool) -> str | None:
    """The CloudWatch filter pattern the options select."""
    terms: list[str] = []
    if arn:
        terms.append(f"($.durableExecutionArn = {_quote(arn)} || $.executionArn = {_quote(arn)})")
    if operation:
        terms.append(f"($.operationName = {_quote(operation)} || $.operationId = {_quote(operation)})")
    if level:
        wanted = LEVELS[LEVELS.index(level):]
        terms.append("(" + " || ".join(f"$.level = {_quote(name)}" for name in wanted) + ")")
    if not include_replay:
        terms.append("$.replay NOT EXISTS")
    return "{ " + " && ".join(terms) + " }" if terms else None


def function_of(arn: str) -> str:
    if ":function:" not in arn or "/durable-execution/" not in arn:
        fail(f"{arn!r} is not a durable execution ARN (arn:aws:lambda:...:function:NAME:$LATEST/durable-execution/...)")
    return arn.split(":function:", 1)[1].split(":", 1)[0].split("/", 1)[0]


def _cmd_logs(args: argparse.Namespace) -> int:
    if bool(args.arn) == bool(args.function):
        fail("give an execution ARN, or --function NAME")
    level = None
    if args.level:
        level = LEVEL_ALIASES.get(args.level.upper(), args.level.upper())
        if level not in LEVELS:
            fail(f"--level must be one of {', '.join(LEVELS)}, got {args.level!r}")
    function = function_of(args.arn) if args.arn else args.function
    pattern = filter_pattern(args.arn, args.operation, level, args.include_replay)
    start_ms = int(time.time() * 1000) - parse_age(args.since) if args.since else None
    printer = LinePrinter(sys.stdout, as_json=args.json)

    def action(client: PerdureClient) -> int:
        lambda_api = client.lambda_client
        logs_api = client.service_client("logs")
        if args.arn:  # an unknown execution is an error, not an empty log
            lambda_api.get_durable_execution(DurableExecutionArn=args.arn)
        seen: set[str] = set()
        since = start_ms
        while True:
            closed = False
            if args.follow and args.arn:  # read the status first: lines stored before it closed are all there
                status = lambda_api.get_durable_execution(DurableExecutionArn=args.arn)["Status"]
                closed = status in CLOSED_STATUSES
            for event in _events(logs_api, f"/aws/lambda/{function}", pattern, since):
                if event["eventId"] in seen:
                    continue
                seen.add(event["eventId"])
                since = max(since or 0, int(event["timestamp"]))
                printer.print(event)
            if not args.follow or closed:
                return 0
            time.sleep(FOLLOW_POLL_S)

    return call_server(args, action)


def _events(logs_api: Any, group: str, pattern: str | None, start_ms: int | None) -> list[dict[str, Any]]:
    kwargs: dict[str, Any] = {"logGroupName": group}
    if pattern:
        kwargs["filterPattern"] = pattern
    if start_ms is not None:
        kwargs["startTime"] = start_ms
    events: list[dict[str, Any]] = []
    while True:
        page = logs_api.filter_log_events(**kwargs)
        events.extend(page.get("events", []))
        token = page.get("nextToken")
        if not token:
            return events
        kwargs["nextToken"] = token


class LinePrinter:
    """One line per record: time, level, operation, message (coloured on a terminal),
    or the record's JSON with ``--json``."""

    def __init__(self, stream: IO[str], *, as_json: bool) -> None:
        self.stream = stream
        self.as_json = as_json
        self.colour = not as_json and stream.isatty()

    def _paint(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.colour and code else text

    def print(self, event: dict[str, Any]) -> None:
        message = str(event.get("message", ""))
        try:
            record = json.loads(message)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            record = {"message": message}
        if self.as_json:
            self.stream.write(json.dumps(record, ensure_ascii=False) + "\n")
            self.stream.flush()
            return
        stamp = time.strftime("%H:%M:%S", time.localtime(int(event["timestamp"]) / 1000))
        stamp += f".{int(event['timestamp']) % 1000:03d}"
        level = str(record.get("level", "INFO"))
        where = record.get("operationName") or (str(record["operationId"])[:12] if record.get("operationId") else "")
        if record.get("attempt") not in (None, 1) and where:
            where = f"{where}#{record['attempt']}"
        text = record.get("message")
        if text is None:  # a JSON line of the handler's own: show its fields
            text = json.dumps({k: v for k, v in record.items() if k not in _ENVELOPE}, ensure_ascii=False)
        replay = self._paint(" (replay)", "2") if record.get("replay") else ""
        line = (
            f"{self._paint(stamp, '2')} {self._paint(level.ljust(5), LEVEL_COLOURS.get(level, ''))} "
            f"{self._paint(str(where)[:24].ljust(24), '35')} {text}{replay}"
        )
        self.stream.write(line + "\n")
        self.stream.flush()


_ENVELOPE = frozenset({
    "timestamp", "level", "requestId", "durableExecutionArn", "executionArn", "operationId",
    "operationName", "attempt", "parentId", "replay",
})
