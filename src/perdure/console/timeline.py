"""An execution's operations as a tree with Gantt bars (pure: operations and history
events in, rows out). Times are epoch milliseconds; bars carry their position on the
chart as percentages so that the page needs no script to draw them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT", "STOPPED"})


@dataclass
class Bar:
    """One stretch of time on a row: ``kind`` is attempt, retry (the delay before the
    next attempt), wait, callback, context, invoke or invocation."""

    kind: str
    start_ms: int
    end_ms: int
    label: str
    open: bool = False  # still going on (drawn up to "now")
    left: float = 0.0
    width: float = 0.0


@dataclass
class Row:
    op: dict[str, Any]
    depth: int
    bars: list[Bar] = field(default_factory=list)
    children: list[Row] = field(default_factory=list)
    attempts: int = 0

    @property
    def id(self) -> str:
        return str(self.op.get("Id", ""))

    @property
    def kind(self) -> str:
        return str(self.op.get("SubType") or self.op.get("Type", "")).replace("_", " ")

    @property
    def name(self) -> str:
        return str(self.op.get("Name") or self.op.get("Id", ""))

    @property
    def status(self) -> str:
        return str(self.op.get("Status", ""))

    @property
    def callback_id(self) -> str | None:
        details = self.op.get("CallbackDetails") or {}
        return details.get("CallbackId")

    @property
    def pending_callback(self) -> bool:
        return self.op.get("Type") == "CALLBACK" and self.status not in TERMINAL

    def count(self) -> int:
        return 1 + sum(c.count() for c in self.children)


@dataclass
class Timeline:
    rows: list[Row]
    invocations: list[Bar]
    start_ms: int
    end_ms: int
    ticks: list[tuple[float, int]]  # (percent, epoch ms)

    @property
    def span_ms(self) -> int:
        return self.end_ms - self.start_ms


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) else None


def _step_bars(op: dict[str, Any], events: Sequence[dict[str, Any]], now_ms: int) -> tuple[list[Bar], int]:
    """Attempts (StepStarted .. StepSucceeded/StepFailed) and the retry delays between."""
    bars: list[Bar] = []
    started: int | None = None
    attempts = 0
    for event in events:
        kind = event["EventType"]
        at = int(event["EventTimestamp"])
        if kind == "StepStarted":
            if bars and bars[-1].kind == "retry":
                bars[-1].end_ms = at
                bars[-1].open = False
            started = at
        elif kind in ("StepSucceeded", "StepFailed"):
            attempts += 1
            retry = (event.get(f"{kind}Details") or {}).get("RetryDetails") or {}
            outcome = "succeeded" if kind == "StepSucceeded" else "failed"
            bars.append(Bar("attempt", started if started is not None else at, at, f"attempt {attempts} {outcome}"))
            started = None
            delay = retry.get("NextAttemptDelaySeconds")
            if delay is not None:
                due = at + int(delay) * 1000
                bars.append(Bar("retry", at, due, f"retry delay {delay}s", open=True))
    if started is not None:  # an attempt in progress
        bars.append(Bar("attempt", started, max(now_ms, started), f"attempt {attempts + 1} running", open=True))
    if bars and bars[-1].kind == "retry" and op.get("Status") in TERMINAL:
        bars[-1].open = False
    if not bars:
        start = _int(op.get("StartTimestamp")) or now_ms
        end = _int(op.get("EndTimestamp"))
        bars.append(Bar("attempt", start, end if end is not None else now_ms, op.get("Status", ""), open=end is None))
    return bars, attempts


def _bars(op: dict[str, Any], events: Sequence[dict[str, Any]], now_ms: int) -> tuple[list[Bar], int]:
    kind = op.get("Type")
    if kind == "STEP":
        return _step_bars(op, events, now_ms)
    start = _int(op.get("StartTimestamp")) or now_ms
    end = _int(op.get("EndTimestamp"))
    status = str(op.get("Status", "")).lower()
    if kind == "WAIT":
        due = _int((op.get("WaitDetails") or {}).get("ScheduledEndTimestamp"))
        label = f"wait {status}"
        stop = end if end is not None else (due or now_ms)
        return [Bar("wait", start, max(stop, start), label, open=end is None)], 0
    if kind == "CALLBACK":
        return [Bar("callback", start, end if end is not None else max(now_ms, start), f"callback {status}", open=end is None)], 0
    bar_kind = {"CONTEXT": "context", "CHAINED_INVOKE": "invoke"}.get(str(kind), "context")
    return [Bar(bar_kind, start, end if end is not None else max(now_ms, start), status, open=end is None)], 0


def invocation_bars(events: Iterable[dict[str, Any]], running_since_ms: int | None, now_ms: int) -> list[Bar]:
    """One bar per handler invocation, from InvocationCompleted events (and the one
    running now, if any)."""
    bars: list[Bar] = []
    for event in events:
        if event["EventType"] != "InvocationCompleted":
            continue
        details = event.get("InvocationCompletedDetails") or {}
        start = _int(details.get("StartTimestamp")) or int(event["EventTimestamp"])
        end = _int(details.get("EndTimestamp")) or int(event["EventTimestamp"])
        label = "invocation failed" if details.get("Error") else "invocation"
        bars.append(Bar("invocation", start, end, label))
    if running_since_ms is not None:
        bars.append(Bar("invocation", running_since_ms, max(now_ms, running_since_ms), "invocation running", open=True))
    return bars


def _ticks(start: int, end: int, count: int = 6) -> list[tuple[float, int]]:
    span = max(end - start, 1)
    return [(100.0 * i / count, start + span * i // count) for i in range(count + 1)]


def build(
    operations: Sequence[dict[str, Any]],
    events: Sequence[dict[str, Any]],
    now_ms: int,
    *,
    execution_end_ms: int | None = None,
    running_since_ms: int | None = None,
) -> Timeline:
    """The operation tree (children under their ParentId, in creation order) with bars
    placed on one shared time axis. The EXECUTION operation itself is not a row."""
    by_op: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        if "Id" in event and str(event["EventType"]).startswith("Step"):
            by_op.setdefault(str(event["Id"]), []).append(event)
    rows: dict[str, Row] = {}
    roots: list[Row] = []
    pending: list[tuple[Row, str | None]] = []
    for op in operations:
        if op.get("Type") == "EXECUTION":
            continue
        bars, attempts = _bars(op, by_op.get(str(op.get("Id")), []), execution_end_ms or now_ms)
        row = Row(op=op, depth=0, bars=bars, attempts=attempts)
        rows[row.id] = row
        pending.append((row, op.get("ParentId")))
    for row, parent_id in pending:
        parent = rows.get(parent_id) if parent_id else None
        if parent is None:
            roots.append(row)
        else:
            parent.children.append(row)
    invocations = invocation_bars(events, running_since_ms, execution_end_ms or now_ms)
    all_bars = [b for r in rows.values() for b in r.bars] + invocations
    if all_bars:
        start = min(b.start_ms for b in all_bars)
        end = max(b.end_ms for b in all_bars)
    else:
        start = end = now_ms
    end = max(end, start + 1)
    span = end - start
    for bar in all_bars:
        bar.left = round(100.0 * (bar.start_ms - start) / span, 3)
        bar.width = round(max(100.0 * (bar.end_ms - bar.start_ms) / span, 0.15), 3)

    def set_depth(row: Row, depth: int) -> None:
        row.depth = depth
        for child in row.children:
            set_depth(child, depth + 1)

    for root in roots:
        set_depth(root, 0)
    return Timeline(rows=roots, invocations=invocations, start_ms=start, end_ms=end, ticks=_ticks(start, end))


def flatten(rows: Iterable[Row]) -> list[Row]:
    out: list[Row] = []
    for row in rows:
        out.append(row)
        out.extend(flatten(row.children))
    return out
