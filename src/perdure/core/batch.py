"""The unit of change inside the engine: a ``Batch`` gathers one execution's changes
(its row, operations, events, timers, callbacks) inside a store transaction and writes
them at once; checkpoint tokens, which only the running invocation may use, are made
and checked here too."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

from perdure.core import transitions as tr
from perdure.core.devtime import scaled_due
from perdure.core.history import make_event
from perdure.errors import ResourceNotFound
from perdure.store import ExecutionRow, Timer, Transaction

# Statuses of an execution that is not closed; PAUSING/PAUSED ones are not invoked.
OPEN = frozenset({"RUNNING", "PAUSING", "PAUSED"})

# Called after commit with (kind, arn, row, detail):
# - "ready": the execution needs an invocation;
# - "closed": it closed (``row``: the execution as it closed);
# - "started": ``Engine.start_execution`` created it (``row``: the new execution);
# - "timer_fired": one of its timers fired (``detail``: ``timer`` kind, ``due_ms``, ``fired_ms``).
Listener = Callable[[str, str, ExecutionRow | None, Mapping[str, Any]], None]


class Notify(Protocol):
    """How a batch announces, after commit, that an execution is ready or closed."""

    def __call__(self, kind: str, arn: str, row: ExecutionRow | None = None) -> None: ...


def make_token(invocation_id: str, seq: int, previous: str | None = None) -> str:
    """A checkpoint token: invocation, sequence, and a secret drawn when the invocation
    started and kept while its tokens rotate (so only its own tokens ever carry it)."""
    secret = token_parts(previous)[2] if previous else None
    raw = f"{invocation_id}:{seq}:{secret or os.urandom(12).hex()}".encode()
    return base64.b64encode(raw).decode()


def token_parts(token: str | None) -> tuple[str | None, int, str | None]:
    try:
        invocation, seq, secret = base64.b64decode((token or "").encode(), validate=True).decode().split(":")
        return invocation, int(seq), secret
    except ValueError:  # also bad base64 and bad UTF-8
        return None, 0, None


def issued_to(token: str, row: ExecutionRow) -> bool:
    """Whether ``token`` was issued to the invocation running now (current or earlier)."""
    invocation, seq, secret = token_parts(token)
    current = token_parts(row.token)
    return (
        row.invocation_id is not None
        and invocation == row.invocation_id
        and secret is not None
        and secret == current[2]
        and 0 < seq <= current[1]
    )


class Batch:
    """Changes to one execution being assembled inside a transaction."""

    def __init__(self, tx: Transaction, row: ExecutionRow, now: int, notify: Notify) -> None:
        self.tx = tx
        self.notify = notify
        self.row = row
        self.now = now
        self.changes: dict[str, Any] = {}
        self.ops: dict[str, dict[str, Any]] = {}
        self.dirty: dict[str, dict[str, Any]] = {}
        self.numbered: list[tuple[dict[str, Any], int, int]] = []  # (op, pos, seq) to write
        self.events: list[dict[str, Any]] = []
        # The execution's open operations as stored when the batch began, when read
        # along with the execution (ending an invocation); None: not read.
        self.open_ops: list[dict[str, Any]] | None = None
        self.closed = False

    def load(self, ids: Sequence[str]) -> None:
        missing = [i for i in ids if i not in self.ops]
        if missing:
            self.ops.update(self.tx.get_operations(self.row.arn, missing))

    def set(self, **changes: Any) -> None:
        for key, value in changes.items():
            setattr(self.row, key, value)
        self.changes.update(changes)

    def put(self, op: dict[str, Any]) -> None:
        self.ops[op["Id"]] = op
        self.dirty[op["Id"]] = op

    def event(self, event_type: str, op: dict[str, Any] | None, details: dict[str, Any]) -> None:
        self.events.append(make_event(event_type, self.row.next_event_id, self.now, op, details))
        self.set(next_event_id=self.row.next_event_id + 1)

    def apply(self, fx: tr.Effects) -> None:
        for event_type, op, details in fx.events:
            self.event(event_type, op, details)
        for op_id, kind in fx.cancel_timers:
            self.tx.delete_timers(self.row.arn, op_id, kind)
        for op_id, kind, due in fx.timers:
            self.tx.set_timer(Timer(self.row.arn, op_id, kind, scaled_due(self.now, due)))
        if fx.timers:
            self.notify("ready", self.row.arn)  # the scheduler's next wake-up may be sooner
        for callback_id, op_id in fx.callbacks:
            self.tx.put_callback(callback_id, self.row.arn, op_id)
        if fx.wake:
            self.wake()

    def wake(self, at_ms: int | None = None) -> None:
        """Ask for an invocation (now, or at ``at_ms``), unless one is already asked for sooner."""
        due = self.now if at_ms is None else at_ms
        if self.row.status in OPEN and (self.row.ready_ms is None or due < self.row.ready_ms):
            self.set(ready_ms=due)

    def flush(self) -> None:
        """Write everything gathered (one statement where the store allows)."""
        self.number_operations()
        if self.row.ready_ms is not None and ("ready_ms" in self.changes or "invocation_id" in self.changes):
            self.notify("ready", self.row.arn)
        if "status" in self.changes and self.row.status not in OPEN:
            # The closed execution travels with the notice: whoever waits for it (a
            # synchronous Invoke, metrics) need not read it back.
            self.notify("closed", self.row.arn, replace(self.row))
        self.tx.write_changes(self.row.arn, self.numbered, self.events, self.changes)
        self.numbered, self.events, self.changes = [], [], {}

    def number_operations(self) -> None:
        """Give the changed operations their position (new ones) and change sequence,
        to be written by ``flush``."""
        for op in self.dirty.values():
            if "_pos" not in op:
                op["_pos"] = self.row.op_pos + 1
                self.set(op_pos=op["_pos"])
            self.set(op_seq=self.row.op_seq + 1)
            self.numbered.append((op, int(op["_pos"]), self.row.op_seq))
        self.dirty.clear()

    def write_operations(self) -> None:
        """Write the changed operations now, for a read in the same transaction."""
        self.number_operations()
        for op, pos, seq in self.numbered:
            self.tx.put_operation(self.row.arn, op, pos, seq)
        self.numbered = []


def execution_not_found(arn: str) -> ResourceNotFound:
    """The error for an execution that does not exist (as the Lambda API words it)."""
    return ResourceNotFound(f"Durable execution not found: {arn}")


def require_execution(tx: Transaction, arn: str, *, lock: bool = True) -> ExecutionRow:
    """The execution (locked unless ``lock`` is False), or ``ResourceNotFound``."""
    row = tx.get_execution(arn, lock=lock)
    if row is None:
        raise execution_not_found(arn)
    return row
