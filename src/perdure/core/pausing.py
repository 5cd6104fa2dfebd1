"""Pausing and resuming an execution.

A paused execution is not invoked; its waits and callbacks keep completing, and (unless
asked otherwise) its execution timeout stops running, the time paused added to it on
resume. Asked while an invocation runs, the pause takes effect when that invocation
ends (its next checkpoint ends it): the execution is PAUSING until then, and the engine
calls ``settle`` there. The engine's ``pause_execution``/``resume_execution`` are the
doors; this module is what they do.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from perdure.core.batch import Batch, require_execution
from perdure.core.history import payload
from perdure.deploy import MAX_EXECUTION_TIMEOUT_S
from perdure.errors import ResourceConflict
from perdure.store import Timer

if TYPE_CHECKING:
    from perdure.core.engine import Engine


def pause(engine: Engine, arn: str, reason: str | None, timeout_paused: bool = True) -> None:
    """Stop invoking an execution. With an invocation in progress it is PAUSING until
    that invocation's next checkpoint."""
    with engine.transaction() as tx:
        row = require_execution(tx, arn)
        if row.status in ("PAUSING", "PAUSED"):
            return  # already asked: pausing again changes nothing
        if row.status != "RUNNING":
            raise ResourceConflict(f"Durable execution {arn} is {row.status}; only a running execution can be paused")
        now = engine.clock.now_ms()
        previous = json.loads(row.pause or "{}")
        state: dict[str, Any] = {
            "requested_ms": now, "reason": reason, "timeout_paused": timeout_paused,
            "extension_ms": previous.get("extension_ms", 0),
        }
        batch = Batch(tx, row, now, engine.notify)
        batch.set(pause=json.dumps(state), status="PAUSING")
        if row.invocation_id is None:
            enter(batch)
        batch.flush()


def settle(batch: Batch) -> None:
    """An invocation of the execution ended: a pause asked while it ran takes effect."""
    if batch.row.status == "PAUSING":
        enter(batch)


def enter(batch: Batch) -> None:
    row = batch.row
    state = json.loads(row.pause or "{}")
    if state.get("interrupted"):
        batch.wake()  # invoke again on resume: the pause cut an invocation short
    if state.get("timeout_paused") and row.timeout_s:
        batch.tx.delete_timers(row.arn, row.arn.rsplit("/", 1)[-1], "execution_timeout")
    details: dict[str, Any] = {
        "PauseRequestTimestamp": state.get("requested_ms", batch.now),
        "ExecutionTimeoutPaused": bool(state.get("timeout_paused")),
    }
    if state.get("reason"):
        details["Reason"] = payload(state["reason"])
    batch.set(status="PAUSED")
    batch.event("ExecutionPaused", None, details)


def resume(engine: Engine, arn: str, reason: str | None) -> None:
    """Invoke a paused execution again if anything happened meanwhile (or cancel a
    pause that has not taken effect yet)."""
    with engine.transaction() as tx:
        row = require_execution(tx, arn)
        if row.status not in ("PAUSING", "PAUSED"):
            raise ResourceConflict(f"Durable execution {arn} is {row.status}, not paused")
        now = engine.clock.now_ms()
        batch = Batch(tx, row, now, engine.notify)
        state = json.loads(row.pause or "{}")
        if row.status == "PAUSED":
            details: dict[str, Any] = {"ResumeRequestTimestamp": now}
            if reason:
                details["Reason"] = payload(reason)
            batch.event("ExecutionResumed", None, details)
            if state.get("timeout_paused") and row.timeout_s:
                extension = state.get("extension_ms", 0) + now - state.get("requested_ms", now)
                longest = row.start_ms + MAX_EXECUTION_TIMEOUT_S * 1000
                due = min(row.start_ms + row.timeout_s * 1000 + extension, longest)
                state["extension_ms"] = extension
                tx.set_timer(Timer(arn, arn.rsplit("/", 1)[-1], "execution_timeout", due))
        # Keep only what outlives the pause: how far the execution timeout moved.
        batch.set(status="RUNNING", pause=json.dumps({"extension_ms": state.get("extension_ms", 0)}))
        if row.ready_ms is not None:
            engine.notify("ready", arn)
        batch.flush()
