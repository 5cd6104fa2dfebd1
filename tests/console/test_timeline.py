"""The operation tree and Gantt bars, from operations and history events (pure)."""

from __future__ import annotations

from typing import Any

from perdure.console import timeline
from perdure.console.formatting import duration, pretty


def _ev(kind: str, at: int, op_id: str, **details: Any) -> dict[str, Any]:
    return {"EventType": kind, "EventTimestamp": at, "Id": op_id, f"{kind}Details": details}


def test_tree_bars_attempts_and_retry_delays() -> None:
    ops = [
        {"Id": "exec", "Type": "EXECUTION", "Status": "STARTED", "StartTimestamp": 0},
        {"Id": "s1", "Type": "STEP", "Name": "charge", "Status": "SUCCEEDED", "StartTimestamp": 1000, "EndTimestamp": 9000},
        {"Id": "m", "Type": "CONTEXT", "SubType": "Map", "Name": "pack", "Status": "STARTED", "StartTimestamp": 9000},
        {"Id": "m0", "Type": "CONTEXT", "SubType": "MapIteration", "ParentId": "m", "Status": "SUCCEEDED", "StartTimestamp": 9000, "EndTimestamp": 9500},
        {"Id": "w", "Type": "WAIT", "Name": "cool", "ParentId": "m", "Status": "STARTED", "StartTimestamp": 9500,
         "WaitDetails": {"ScheduledEndTimestamp": 15000}},
        {"Id": "cb", "Type": "CALLBACK", "Name": "approve", "Status": "STARTED", "StartTimestamp": 9600,
         "CallbackDetails": {"CallbackId": "cb-123"}},
    ]
    events = [
        _ev("StepStarted", 1000, "s1"),
        _ev("StepFailed", 1500, "s1", RetryDetails={"CurrentAttempt": 1, "NextAttemptDelaySeconds": 2}),
        _ev("StepStarted", 3600, "s1"),
        _ev("StepFailed", 4000, "s1", RetryDetails={"CurrentAttempt": 2, "NextAttemptDelaySeconds": 4}),
        _ev("StepStarted", 8100, "s1"),
        _ev("StepSucceeded", 9000, "s1", RetryDetails={"CurrentAttempt": 3}),
        {"EventType": "InvocationCompleted", "EventTimestamp": 1600,
         "InvocationCompletedDetails": {"StartTimestamp": 900, "EndTimestamp": 1600, "Error": {"Payload": {"ErrorType": "X"}}}},
    ]
    tl = timeline.build(ops, events, now_ms=10_000, running_since_ms=9400)
    assert [r.name for r in tl.rows] == ["charge", "pack", "approve"]
    step, mapped, callback = tl.rows
    assert [(b.kind, b.start_ms, b.end_ms) for b in step.bars] == [
        ("attempt", 1000, 1500), ("retry", 1500, 3600), ("attempt", 3600, 4000),
        ("retry", 4000, 8100), ("attempt", 8100, 9000),
    ]
    assert step.attempts == 3 and "failed" in step.bars[0].label and "succeeded" in step.bars[-1].label
    assert [c.id for c in mapped.children] == ["m0", "w"] and mapped.children[1].depth == 1
    wait = mapped.children[1].bars[0]
    assert (wait.kind, wait.end_ms, wait.open) == ("wait", 15000, True)  # drawn up to its due time
    assert callback.pending_callback and callback.callback_id == "cb-123" and callback.bars[0].open
    assert [b.label for b in tl.invocations] == ["invocation failed", "invocation running"]
    # One axis from the first to the last moment; bars placed in percent of it.
    assert (tl.start_ms, tl.end_ms) == (900, 15000)
    assert step.bars[0].left == round(100 * 100 / 14100, 3)
    assert all(0 <= b.left <= 100 and b.width > 0 for r in timeline.flatten(tl.rows) for b in r.bars)
    assert len(timeline.flatten(tl.rows)) == 5


def test_closed_execution_stops_the_clock_and_empty_is_fine() -> None:
    ops = [{"Id": "s", "Type": "STEP", "Name": "x", "Status": "STARTED", "StartTimestamp": 0}]
    tl = timeline.build(ops, [_ev("StepStarted", 0, "s")], now_ms=99_000, execution_end_ms=5000)
    assert tl.rows[0].bars[0].end_ms == 5000
    empty = timeline.build([], [], now_ms=1000)
    assert empty.rows == [] and empty.span_ms == 1


def test_formatting() -> None:
    assert [duration(v) for v in (None, 5, 1500, 75_000, 7_500_000, 200_000_000)] == [
        "-", "5 ms", "1.50 s", "1 min 15 s", "2 h 5 min", "2 d 7 h"]
    assert pretty('{"a":1}') == ('{\n  "a": 1\n}', False)
    assert pretty("not json") == ("not json", False)
    text, cut = pretty('"' + "x" * 40_000 + '"')
    assert cut and len(text) == 32 * 1024
