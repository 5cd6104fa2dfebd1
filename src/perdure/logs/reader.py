"""Reading stored records the way CloudWatch Logs presents them: log groups (one per
function: ``/aws/lambda/<name>``, or the template's ``LoggingConfig.LogGroup``), log
streams (one per execution) and events (one per record, its ``message`` the record's
JSON line). The HTTP API (``perdure.http.cloudwatch_logs``) and anything else reading logs call
these functions."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from perdure.deploy import FunctionSpec, function_arn
from perdure.logs.filters import Pattern
from perdure.store import LogRow, Store

MAX_EVENTS = 10_000
SCAN_ROWS = 2_000  # rows read per store query
MAX_SCAN_ROWS = 50_000  # rows one FilterLogEvents call looks at before answering with a nextToken
END_OF_TIME_MS = 2**62


class LogsError(ValueError):
    """A client mistake; ``code`` is the CloudWatch Logs exception name."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def group_name(spec: FunctionSpec) -> str:
    custom = getattr(spec, "log_group", None)
    return custom if isinstance(custom, str) and custom else f"/aws/lambda/{spec.name}"


def groups(functions: Mapping[str, FunctionSpec]) -> dict[str, str]:
    """Log group name -> function name (both the default and any configured name)."""
    out: dict[str, str] = {}
    for name, spec in functions.items():
        out[f"/aws/lambda/{name}"] = name
        out[group_name(spec)] = name
    return out


def function_for_group(functions: Mapping[str, FunctionSpec], group: str | None) -> str:
    if not group:
        raise LogsError("InvalidParameterException", "logGroupName or logGroupIdentifier is required")
    if group.startswith("arn:"):  # logGroupIdentifier may be the group's ARN
        group = group.split(":log-group:", 1)[-1].removesuffix(":*")
    found = groups(functions).get(group)
    if found is None:
        raise LogsError("ResourceNotFoundException", "The specified log group does not exist.")
    return found


def stream_name(row_arn: str, execution_name: str, start_ms: int) -> str:
    day = dt.datetime.fromtimestamp(start_ms / 1000, dt.UTC).strftime("%Y/%m/%d")
    return f"{day}/[$LATEST]{execution_name}"


def execution_of_stream(name: str) -> str:
    """The execution name a stream name carries."""
    marker = "[$LATEST]"
    if marker not in name:
        raise LogsError("ResourceNotFoundException", "The specified log stream does not exist.")
    return name.split(marker, 1)[1]


def event_id(row: LogRow) -> str:
    return f"{row.ts_ms:013d}{zlib.crc32(row.arn.encode()):010d}{row.seq:09d}"


def message_of(row: LogRow) -> str:
    return json.dumps(row.body, separators=(",", ":"), default=str)


def _encode(data: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode()


def _decode(token: str, what: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise LogsError("InvalidParameterException", f"The specified {what} is not valid.") from None


@dataclass
class FilterResult:
    events: list[dict[str, Any]]
    next_token: str | None


def filter_events(
    store: Store,
    function_name: str,
    pattern: Pattern,
    *,
    start_ms: int | None = None,
    end_ms: int | None = None,
    streams: Sequence[str] | None = None,
    stream_prefix: str | None = None,
    next_token: str | None = None,
    limit: int | None = None,
    include_replay: bool = True,
) -> FilterResult:
    """FilterLogEvents: a function's records in time order that match ``pattern``."""
    limit = min(limit or MAX_EVENTS, MAX_EVENTS)
    after: tuple[int, str, int] | None = None
    if next_token:
        key = _decode(next_token, "nextToken")
        if not (isinstance(key, list) and len(key) == 3):
            raise LogsError("InvalidParameterException", "The specified nextToken is not valid.")
        after = (int(key[0]), str(key[1]), int(key[2]))
    start = start_ms if start_ms is not None else 0
    end = end_ms + 1 if end_ms is not None else END_OF_TIME_MS  # endTime is inclusive
    arns = sorted(pattern.arns) if pattern.arns is not None else None
    names: dict[str, str] = {}
    wanted_streams = set(streams) if streams else None
    events: list[dict[str, Any]] = []
    scanned = 0
    while True:
        with store.read() as tx:
            rows = tx.function_logs(function_name, start, end, arns, after, SCAN_ROWS)
            missing = {r.arn for r in rows} - names.keys()
            for arn in missing:
                execution = tx.get_execution(arn, lock=False)
                names[arn] = stream_name(arn, execution.name, execution.start_ms) if execution else arn
        for row in rows:
            after = (row.ts_ms, row.arn, row.seq)
            scanned += 1
            stream = names[row.arn]
            if wanted_streams is not None and stream not in wanted_streams:
                continue
            if stream_prefix and not stream.startswith(stream_prefix):
                continue
            if row.replay and not include_replay:
                continue
            message = message_of(row)
            if not pattern.match(row.body, message):
                continue
            events.append({
                "logStreamName": stream, "timestamp": row.ts_ms, "message": message,
                "ingestionTime": row.ts_ms, "eventId": event_id(row),
            })
            if len(events) >= limit:
                return FilterResult(events, _encode(list(after)))
        if len(rows) < SCAN_ROWS:
            return FilterResult(events, None)
        if scanned >= MAX_SCAN_ROWS:
            return FilterResult(events, _encode(list(after)) if after else None)


def execution_rows(store: Store, arn: str) -> list[LogRow]:
    """Every stored record of one execution, in order."""
    rows: list[LogRow] = []
    after = 0
    while True:
        with store.read() as tx:
            page = tx.execution_logs(arn, after, SCAN_ROWS)
        rows.extend(page)
        if len(page) < SCAN_ROWS:
            return rows
        after = page[-1].seq


def tail_text(store: Store, arn: str, max_bytes: int = 4096) -> str:
    """The last ``max_bytes`` of an execution's log as lines of JSON (Invoke's LogType=Tail)."""
    lines: list[str] = []
    size = 0
    for row in reversed(execution_rows(store, arn)):
        line = message_of(row) + "\n"
        size += len(line.encode())
        lines.append(line)
        if size >= max_bytes:
            break
    text = "".join(reversed(lines)).encode()
    return text[-max_bytes:].decode(errors="ignore")


def get_events(
    store: Store,
    function_name: str,
    stream: str,
    *,
    start_ms: int | None = None,
    end_ms: int | None = None,
    next_token: str | None = None,
    limit: int | None = None,
    start_from_head: bool = False,
) -> dict[str, Any]:
    """GetLogEvents over one stream (one execution), paged by record number."""
    execution_name = execution_of_stream(stream)
    with store.transaction() as tx:
        execution = tx.find_execution(function_name, execution_name)
    if execution is None:
        raise LogsError("ResourceNotFoundException", "The specified log stream does not exist.")
    rows = [
        r for r in execution_rows(store, execution.arn)
        if (start_ms is None or r.ts_ms >= start_ms) and (end_ms is None or r.ts_ms < end_ms)
    ]
    limit = min(limit or MAX_EVENTS, MAX_EVENTS)
    # Tokens hold a position in this list: "f/<index>" reads forward from it, "b/<index>" backward.
    if next_token:
        direction, _, index_text = next_token.partition("/")
        if direction not in ("f", "b") or not index_text.isdigit():
            raise LogsError("InvalidParameterException", "The specified nextToken is not valid.")
        index = int(index_text)
        lo, hi = (index, index + limit) if direction == "f" else (max(0, index - limit), index)
    elif start_from_head:
        lo, hi = 0, limit
    else:
        lo, hi = max(0, len(rows) - limit), len(rows)
    hi = min(hi, len(rows))
    lo = min(lo, hi)
    page = rows[lo:hi]
    return {
        "events": [{"timestamp": r.ts_ms, "message": message_of(r), "ingestionTime": r.ts_ms} for r in page],
        "nextForwardToken": f"f/{hi}",
        "nextBackwardToken": f"b/{lo}",
    }


def describe_groups(
    functions: Mapping[str, FunctionSpec], store: Store, prefix: str | None = None, pattern: str | None = None
) -> list[dict[str, Any]]:
    with store.transaction() as tx:
        counts = tx.log_functions()
    out = []
    for name in sorted(functions):
        group = group_name(functions[name])
        if prefix and not group.startswith(prefix):
            continue
        if pattern and pattern.lower() not in group.lower():
            continue
        arn = f"{function_arn(name).replace(':lambda:', ':logs:').split(':function:')[0]}:log-group:{group}"
        out.append({
            "logGroupName": group, "creationTime": 0, "metricFilterCount": 0,
            "arn": f"{arn}:*", "logGroupArn": arn, "storedBytes": 0,
            "logGroupClass": "STANDARD", "recordCount": counts.get(name, 0),
        })
    return out


def describe_streams(
    store: Store,
    function_name: str,
    *,
    prefix: str | None = None,
    order_by: str = "LogStreamName",
    descending: bool = False,
) -> list[dict[str, Any]]:
    with store.transaction() as tx:
        streams = tx.log_streams(function_name)
    out = []
    for s in streams:
        name = stream_name(s.arn, s.execution_name, s.start_ms)
        if prefix and not name.startswith(prefix):
            continue
        out.append({
            "logStreamName": name, "creationTime": s.start_ms, "firstEventTimestamp": s.first_ms,
            "lastEventTimestamp": s.last_ms, "lastIngestionTime": s.last_ms, "storedBytes": 0,
            "durableExecutionArn": s.arn,
        })
    if order_by == "LastEventTime":
        out.sort(key=lambda s: str(s["lastEventTimestamp"]).zfill(20), reverse=descending)
    else:
        out.sort(key=lambda s: str(s["logStreamName"]), reverse=descending)
    return out


def now_ms() -> int:
    return int(time.time() * 1000)
