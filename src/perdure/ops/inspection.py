"""Read-only views of the store that the Lambda API has no call for: executions of
every function at once with a substring search, counts by status, and an execution's
operations in creation order. The console (and any other reader) uses these beside the
Engine's own calls; none of them changes anything."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from perdure.core import Engine
from perdure.errors import InvalidParameterValue
from perdure.store import ExecutionRow

MAX_PAGE = 500
OPERATIONS_PAGE = 1000


@dataclass(frozen=True)
class ExecutionQuery:
    """What the executions page filters on; empty fields do not filter."""

    functions: Sequence[str] | None = None
    statuses: Sequence[str] = ()
    started_after_ms: int | None = None
    started_before_ms: int | None = None
    text: str | None = None


def encode_marker(row: ExecutionRow) -> str:
    return base64.urlsafe_b64encode(f"{row.start_ms}|{row.arn}".encode()).decode()


def decode_marker(marker: str) -> tuple[int, str]:
    try:
        start, arn = base64.urlsafe_b64decode(marker.encode()).decode().split("|", 1)
        return int(start), arn
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidParameterValue("Invalid marker") from exc


def search_executions(
    engine: Engine, query: ExecutionQuery, marker: str | None = None, limit: int = 50
) -> tuple[list[ExecutionRow], str | None]:
    """Executions matching ``query``, newest first, one page; the marker of the next."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidParameterValue(f"limit must be between 1 and {MAX_PAGE}")
    after = decode_marker(marker) if marker else None
    with engine.store.read() as tx:
        rows = tx.search_executions(
            query.functions, query.statuses, query.started_after_ms, query.started_before_ms,
            query.text or None, after, limit + 1,
        )
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, encode_marker(rows[-1])
    return rows, None


def execution_counts(engine: Engine) -> dict[str, dict[str, int]]:
    """``{function: {status: count}}`` for every function that has executions."""
    with engine.store.read() as tx:
        found = tx.count_executions()
    out: dict[str, dict[str, int]] = {}
    for function, status, count in found:
        out.setdefault(function, {})[status] = count
    return out


def operations(engine: Engine, arn: str) -> list[dict[str, Any]]:
    """Every operation of an execution in creation order (wire-shaped, ms timestamps)."""
    engine.get_execution(arn)  # ResourceNotFound for an unknown ARN
    out: list[dict[str, Any]] = []
    after = 0
    with engine.store.read() as tx:
        while True:
            page = tx.operations_page(arn, after, OPERATIONS_PAGE)
            out.extend(op for _, op in page)
            if len(page) < OPERATIONS_PAGE:
                return out
            after = page[-1][0]


def all_events(engine: Engine, arn: str, include_data: bool = True) -> list[dict[str, Any]]:
    """The whole history of an execution, through the Engine's paginated call."""
    events: list[dict[str, Any]] = []
    marker: str | None = None
    while True:
        page, marker = engine.history(arn, marker, 1000, False, include_data)
        events.extend(page)
        if not marker:
            return events
