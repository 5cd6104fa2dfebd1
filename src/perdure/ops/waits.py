"""What an execution waits for, and skipping ahead of it in development.

``pending`` reads an execution's open operations: waits with the time they are due,
callbacks with their ids, step retries with their next attempt, chained invokes with
the execution they wait on, and the back-off after a failed invocation.

``advance`` fires a pending wait or retry timer now (``perdure executions advance``,
the console's button). The history records a ``TimerAdvanced`` event (a perdure
event type, not one of AWS's) just before the operation completes, so the early
completion is never mistaken for what production would do.
"""

from __future__ import annotations

import time
from typing import Any

from perdure.core import OPEN, Batch, Engine, require_execution, scaled_due
from perdure.errors import InvalidParameterValue, ResourceConflict
from perdure.store import ExecutionRow, Timer, Transaction

ADVANCED_EVENT = "TimerAdvanced"
POLL_S = 0.05


def pending(engine: Engine, arn: str) -> dict[str, Any]:
    """``{"Status", "Invoking", "Waits", "Callbacks", "Retries", "Invokes", "Steps",
    "InvocationRetry"?}``: everything the execution is waiting on now."""
    with engine.store.read() as tx:
        row = require_execution(tx, arn, lock=False)
        ops = tx.open_operations(arn) if row.status in OPEN else []
    return describe(row, ops)


def describe(row: ExecutionRow, ops: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "DurableExecutionArn": row.arn, "Status": row.status,
        "Invoking": row.invocation_id is not None,
        "Waits": [], "Callbacks": [], "Retries": [], "Invokes": [], "Steps": [],
    }
    for op in ops:
        base = {"Id": op["Id"], "Name": op.get("Name")}
        if op["Type"] == "WAIT" and op["Status"] == "STARTED":
            scheduled = int((op.get("WaitDetails") or {}).get("ScheduledEndTimestamp") or 0)
            out["Waits"].append(dict(base, ScheduledEndTimestamp=scheduled,
                                     DueTimestamp=scaled_due(int(op["StartTimestamp"]), scheduled)))
        elif op["Type"] == "CALLBACK" and op["Status"] == "STARTED":
            out["Callbacks"].append(dict(base, CallbackId=(op.get("CallbackDetails") or {}).get("CallbackId")))
        elif op["Type"] == "STEP" and op["Status"] in ("PENDING", "READY"):
            details = op.get("StepDetails") or {}
            retry = dict(base, Attempt=int(details.get("Attempt") or 0), Status=op["Status"])
            if details.get("NextAttemptTimestamp"):
                retry["NextAttemptTimestamp"] = int(details["NextAttemptTimestamp"])
            if details.get("Error"):
                retry["Error"] = details["Error"]
            out["Retries"].append(retry)
        elif op["Type"] == "STEP" and op["Status"] == "STARTED":
            out["Steps"].append(base)
        elif op["Type"] == "CHAINED_INVOKE" and op["Status"] == "STARTED":
            out["Invokes"].append(dict(base, DurableExecutionArn=op.get("_child")))
    if row.failures and row.ready_ms is not None and row.invocation_id is None:
        out["InvocationRetry"] = {"FailedInvocations": row.failures, "NextInvocationTimestamp": row.ready_ms}
    return out


def advance(engine: Engine, arn: str, operation: str | None = None) -> list[dict[str, Any]]:
    """Fire now the pending wait or retry timers of an execution (those of the operation
    named or with id ``operation`` only, when given), and the back-off before re-invoking
    after a failed invocation. Returns what was advanced."""
    with engine.transaction() as tx:
        row = require_execution(tx, arn)
        if row.status not in OPEN:
            raise ResourceConflict(f"Durable execution {arn} is {row.status}: nothing to advance")
        now = engine.clock.now_ms()
        state = describe(row, tx.open_operations(arn))
        timers: list[tuple[dict[str, Any], str, int]] = [
            (w, "wait", int(w["DueTimestamp"])) for w in state["Waits"]
        ] + [
            (r, "retry", int(r["NextAttemptTimestamp"])) for r in state["Retries"]
            if r["Status"] == "PENDING" and r.get("NextAttemptTimestamp")
        ]
        if operation is not None:
            timers = [t for t in timers if operation in (t[0]["Id"], t[0]["Name"])]
        advanced: list[dict[str, Any]] = []
        for op, kind, due in timers:
            _record(engine, tx, arn, now, op, kind, due)
            engine.fire_timer(tx, Timer(arn, op["Id"], kind, due), now)
            advanced.append({"Id": op["Id"], "Name": op["Name"], "Timer": kind, "DueTimestamp": due})
        retry = state.get("InvocationRetry")
        if operation is None and retry and retry["NextInvocationTimestamp"] > now:
            _record(engine, tx, arn, now, None, "invocation_retry", retry["NextInvocationTimestamp"])
            tx.update_execution(arn, {"ready_ms": now})
            engine.notify("ready", arn)
            advanced.append({"Id": None, "Name": None, "Timer": "invocation_retry",
                             "DueTimestamp": retry["NextInvocationTimestamp"]})
        if not advanced:
            what = f"operation {operation!r}" if operation else "it"
            waiting = [c["Name"] or c["Id"] for c in state["Callbacks"]]
            hint = f" (it waits on callback(s) {', '.join(waiting)}: complete them with perdure callback succeed ID)" if waiting else ""
            raise InvalidParameterValue(f"No pending wait or retry timer for {what} in {arn}{hint}")
    return advanced


def _record(engine: Engine, tx: Transaction, arn: str, now: int, op: dict[str, Any] | None, kind: str, due: int) -> None:
    row = tx.get_execution(arn)
    assert row is not None
    batch = Batch(tx, row, now, engine.notify)
    details = {"Timer": kind, "ScheduledTimestamp": due, "AdvancedBy": "perdure executions advance (development)"}
    target = {"Id": op["Id"], "Type": "WAIT" if kind == "wait" else "STEP", "Name": op.get("Name")} if op else None
    batch.event(ADVANCED_EVENT, target, details)
    batch.flush()


def _poll(engine: Engine, arn: str, found: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        state = pending(engine, arn)
        value = found(state)
        if value:
            return value
        if state["Status"] not in OPEN:
            raise ResourceConflict(f"Durable execution {arn} is {state['Status']}: it has no {what}")
        if time.monotonic() >= deadline:
            raise InvalidParameterValue(f"Durable execution {arn} has no {what} after {timeout_s:g} s")
        time.sleep(POLL_S)


def advance_when_pending(engine: Engine, arn: str, operation: str | None = None, timeout_s: float = 30.0) -> list[dict[str, Any]]:
    """``advance``, once the execution has reached a wait or retry to advance."""

    def due(state: dict[str, Any]) -> bool:
        timers = state["Waits"] + [r for r in state["Retries"] if r["Status"] == "PENDING"]
        return any(operation in (None, t["Id"], t["Name"]) for t in timers) or (
            operation is None and "InvocationRetry" in state
        )

    _poll(engine, arn, due, timeout_s, "pending wait or retry")
    return advance(engine, arn, operation)


def callback_id(engine: Engine, arn: str, name: str, timeout_s: float = 30.0) -> str:
    """The id of the execution's callback ``name`` (or operation id), once it is started."""

    def find(state: dict[str, Any]) -> str | None:
        for callback in state["Callbacks"]:
            if name in (callback["Name"], callback["Id"]):
                return str(callback["CallbackId"])
        return None

    found: str = _poll(engine, arn, find, timeout_s, f"pending callback {name!r}")
    return found
