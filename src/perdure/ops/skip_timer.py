"""Skipping time for one execution, for tests against a live server.

``skip_next_timer`` makes the earliest timer of an idle execution (a wait, a step
retry, a callback or heartbeat timeout, the execution timeout) due now, so the
runtime fires it at once through the normal path. Called repeatedly by the testing
kit while the execution only waits on time, it runs an execution's timers in due
order without waiting for them: the live-server twin of ``perdure.testing``'s
virtual clock. It is never called by the runtime itself.
"""

from __future__ import annotations

from typing import Any

from perdure.core import OPEN, Engine, require_execution
from perdure.store import Timer


def skip_next_timer(engine: Engine, arn: str, unless_open: str | None = None) -> dict[str, Any]:
    """Make the execution's earliest timer due now, if the execution is idle (no
    invocation runs or is due) and, with ``unless_open``, no operation of that name is
    open yet (the caller waits for it). ``State`` says which: ``closed``, ``busy``,
    ``ready`` (the named operation is open), ``idle`` (nothing to fire: it waits on
    something only the outside can give) or ``fired`` (``Fired`` tells what)."""
    now = engine.clock.now_ms()
    with engine.store.transaction() as tx:
        row = require_execution(tx, arn)
        if row.status not in OPEN:
            return {"State": "closed", "Status": row.status}
        if row.invocation_id is not None or row.ready_ms is not None:
            return {"State": "busy", "Status": row.status}
        if unless_open is not None and any(op.get("Name") == unless_open for op in tx.open_operations(arn)):
            return {"State": "ready", "Status": row.status}
        timers = tx.execution_timers(arn)
        if not timers:
            return {"State": "idle", "Status": row.status}
        first = timers[0]
        if first.due_ms > now:
            tx.set_timer(Timer(arn, first.op_id, first.kind, now))
    return {"State": "fired", "Status": row.status,
            "Fired": {"OperationId": first.op_id, "Kind": first.kind, "DueTimestamp": first.due_ms}}
