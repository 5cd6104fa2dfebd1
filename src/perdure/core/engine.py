"""The service side of the durable-execution contract.

Every state change happens here, inside one store transaction: starting executions,
applying checkpoint batches, firing timers, completing callbacks, claiming and
completing invocations. The engine is shared by the HTTP API (control plane) and
the worker processes (data plane: the SDK's checkpoints go straight to the store).
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

from perdure.clock import SYSTEM_CLOCK, Clock
from perdure.core import pausing
from perdure.core import transitions as tr
from perdure.core.batch import (
    OPEN,
    Batch,
    Listener,
    execution_not_found,
    issued_to,
    make_token,
    require_execution,
)
from perdure.core.history import error_payload, payload, strip_payloads
from perdure.deploy import (
    DEFAULT_ACCOUNT,
    DEFAULT_REGION,
    MAX_EXECUTION_TIMEOUT_S,
    FunctionSpec,
    Target,
    Versions,
    cache_dir_for,
    function_arn,
)
from perdure.errors import (
    CallbackTimeout,
    InvalidParameterValue,
    ResourceConflict,
    ResourceNotFound,
)
from perdure.store import ANY_VERSION, ExecutionRow, Store, Timer, Transaction, open_store

REGION = DEFAULT_REGION
ACCOUNT = DEFAULT_ACCOUNT
VERSION = "$LATEST"
STATE_PAGE = 1000
MAX_INVOCATION_FAILURES = 6
MAX_CHECKPOINT_UPDATES = 250
MAX_CHECKPOINT_BYTES = 750 * 1024
MAX_INPUT_BYTES = 6 * 1024 * 1024
TIMER_BATCH = 200
NO_DETAIL: Mapping[str, Any] = {}


def execution_arn(function_name: str, name: str, execution_id: str, qualifier: str = VERSION) -> str:
    return f"{function_arn(function_name)}:{qualifier}/durable-execution/{name}/{execution_id}"


def invocation_failure_delay_s(failures: int) -> float:
    """Backoff before re-invoking after a crashed or timed-out invocation."""
    return float(min(30.0, 0.25 * 2 ** (failures - 1)))


@dataclass(frozen=True)
class Invocation:
    """A claimed invocation: what a worker needs to run the handler once."""

    arn: str
    function_name: str
    invocation_id: str
    token: str
    deadline_ms: int
    operations: list[dict[str, Any]]
    next_marker: str
    version: int | None = None  # the function version the execution is pinned to
    caller: str | None = None  # the execution that chained-invoked this one, if any


    def event(self) -> dict[str, Any]:
        return {
            "DurableExecutionArn": self.arn,
            "CheckpointToken": self.token,
            "InitialExecutionState": {"Operations": self.operations, "NextMarker": self.next_marker},
        }


@dataclass(frozen=True)
class Outcome:
    """How an invocation ended: the handler's output, or an error the platform saw."""

    status: str  # SUCCEEDED | FAILED | PENDING | ERROR (crash, timeout, unhandled raise)
    result: str | None = None
    error: dict[str, Any] | None = None


def open_engine(db_url: str, functions: dict[str, FunctionSpec] | None = None, *, clock: Clock = SYSTEM_CLOCK) -> Engine:
    """An engine over the database ``db_url`` names (``sqlite:///PATH`` or
    ``postgresql://...``), created and migrated if needed: for programs that start,
    inspect or complete executions without running handlers (``Runtime`` runs them)."""
    return Engine(open_store(db_url), functions, clock=clock)


class Engine:
    def __init__(self, store: Store, functions: dict[str, FunctionSpec] | None = None, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.store = store
        self.clock = clock  # the one source of "now" for the engine and all that works on it
        self.functions: dict[str, FunctionSpec] = dict(functions or {})
        self.versions = Versions(self.functions, cache_dir_for(store.url), clock)
        self._listeners: list[Listener] = []
        self._local = threading.local()

    # -- notifications -------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        """Called after each commit for what it changed: see ``Listener`` for the
        kinds. Observers (metrics, traces, the runtime) subscribe here."""
        self._listeners.append(listener)

    def _emit(self, kind: str, arn: str, row: ExecutionRow | None, detail: Mapping[str, Any]) -> None:
        for listener in self._listeners:
            listener(kind, arn, row, detail)

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """A store transaction whose notifications go out only once it has committed."""
        if getattr(self._local, "pending", None) is not None:
            raise RuntimeError("engine transactions do not nest")
        pending: dict[tuple[str, str], ExecutionRow | None] = {}
        happened: list[tuple[str, str, ExecutionRow | None, Mapping[str, Any]]] = []
        self._local.pending, self._local.happened = pending, happened
        try:
            with self.store.transaction() as tx:
                yield tx
        finally:
            self._local.pending = self._local.happened = None
        for (kind, arn), row in pending.items():
            self._emit(kind, arn, row, NO_DETAIL)
        for kind, arn, row, detail in happened:
            self._emit(kind, arn, row, detail)

    def notify(self, kind: str, arn: str, row: ExecutionRow | None = None) -> None:
        """Queue a "ready" or "closed" notification for after the current transaction
        commits (once per kind and execution, with the latest row given)."""
        pending = self._local.pending
        pending[(kind, arn)] = row if row is not None else pending.get((kind, arn))

    def _record(self, kind: str, arn: str, row: ExecutionRow | None, detail: Mapping[str, Any]) -> None:
        """Queue an event for listeners after the current transaction commits (each one)."""
        self._local.happened.append((kind, arn, row, detail))

    def function(self, name: str) -> FunctionSpec:
        """The spec a (qualified) function name or ARN runs; raises ResourceNotFound."""
        return self.resolve(name).spec

    def resolve(self, name: str) -> Target:
        """The function and version a (qualified) name or ARN means (``perdure.deploy.versions``)."""
        with self.store.read() as tx:
            return self.versions.resolve(tx, name)

    # -- control plane -------------------------------------------------------------

    def start_execution(self, function_name: str, input_payload: str | None, name: str | None = None) -> tuple[ExecutionRow, bool]:
        """Start (or, for a known execution name with the same input, find) an execution.

        A function without DurableConfig is run once as a plain Lambda handler."""
        if input_payload is not None and len(input_payload.encode()) > MAX_INPUT_BYTES:
            raise InvalidParameterValue(f"Input payload is larger than {MAX_INPUT_BYTES} bytes")
        with self.transaction() as tx:
            target = self.versions.resolve(tx, function_name)
            function_name = target.spec.name
            row = self.new_execution(tx, target.spec, input_payload, name, self.clock.now_ms(), version=target.version)
            if row is None:
                assert name is not None
                existing = tx.find_execution(function_name, name)
                assert existing is not None
                if existing.input != input_payload:
                    raise ResourceConflict(
                        f"Durable execution {name} of {function_name} already exists with a different input"
                    )
                return existing, False
            self._record("started", row.arn, row, NO_DETAIL)
        return row, True

    def new_execution(
        self, tx: Transaction, spec: FunctionSpec, input_payload: str | None, name: str | None, now: int,
        parent: tuple[str, str] | None = None, version: int | None = None,
    ) -> ExecutionRow | None:
        """Insert an execution with its EXECUTION operation; None if the name is taken.
        ``version``: the function version it is pinned to (its ARN names it)."""
        execution_id = uuid.uuid4().hex
        name = name or execution_id
        timeout_s = int(spec.execution_timeout_s) if spec.execution_timeout_s else None
        arn = execution_arn(spec.name, name, execution_id, VERSION if version is None else str(version))
        row = ExecutionRow(
            arn=arn, function_name=spec.name, name=name, status="RUNNING",
            input=input_payload, result=None, error=None, start_ms=now, end_ms=None,
            # A chained invoke's target starts once the caller's invocation has ended
            # (see _release_children), so its result arrives between invocations.
            timeout_s=timeout_s, retention_days=spec.retention_days, ready_ms=None if parent else now,
            parent_arn=parent[0] if parent else None, parent_op=parent[1] if parent else None,
            plain=0 if spec.durable else 1, version=version,
        )
        if not tx.insert_execution(row):
            return None
        batch = Batch(tx, row, now, self.notify)
        op = {
            "Id": execution_id, "Type": "EXECUTION", "Status": "STARTED", "Name": name,
            "StartTimestamp": now, "ExecutionDetails": {"InputPayload": input_payload or ""},
        }
        batch.put(op)
        batch.event("ExecutionStarted", op, {
            "Input": payload(input_payload), "ExecutionTimeout": timeout_s or MAX_EXECUTION_TIMEOUT_S,
        })
        if timeout_s:
            tx.set_timer(Timer(arn, execution_id, "execution_timeout", now + timeout_s * 1000))
        batch.flush()
        self.notify("ready", arn)
        return row

    def get_execution(self, arn: str) -> ExecutionRow:
        with self.store.read() as tx:
            row = require_execution(tx, arn, lock=False)
        return row

    def history(self, arn: str, marker: str | None, max_items: int | None, reverse: bool, include_data: bool) -> tuple[list[dict[str, Any]], str | None]:
        limit = _page_size(max_items, 1000)
        with self.store.read() as tx:
            row = require_execution(tx, arn, lock=False)
            start = _int_marker(marker) if marker else (row.next_event_id if reverse else 0)
            events = tx.events_page(arn, start, limit + 1, reverse)
        next_marker = None
        if len(events) > limit:
            events = events[:limit]
            next_marker = str(events[-1]["EventId"])
        if not include_data:
            events = [strip_payloads(e) for e in events]
        return events, next_marker

    def list_executions(self, function_name: str, statuses: Sequence[str], started_after_ms: int | None, started_before_ms: int | None, name: str | None, marker: str | None, max_items: int | None, reverse: bool) -> tuple[list[ExecutionRow], str | None]:
        function_name = self.function(function_name).name
        limit = _page_size(max_items, 1000)
        after: tuple[int, str] | None = None
        if marker:
            try:
                start, arn = base64.urlsafe_b64decode(marker.encode()).decode().split("|", 1)
                after = (int(start), arn)
                if not 0 <= after[0] < 2**63:
                    raise ValueError("out of range")
            except ValueError as exc:
                raise InvalidParameterValue("Invalid Marker") from exc
        with self.store.read() as tx:
            rows = tx.list_executions(function_name, statuses, started_after_ms, started_before_ms, name, after, limit + 1, reverse)
        next_marker = None
        if len(rows) > limit:
            rows = rows[:limit]
            last = rows[-1]
            next_marker = base64.urlsafe_b64encode(f"{last.start_ms}|{last.arn}".encode()).decode()
        return rows, next_marker

    def callback(self, callback_id: str, outcome: str, *, result: str | None = None, error: dict[str, Any] | None = None) -> None:
        """Complete (SUCCEEDED / FAILED) a callback, or record a heartbeat (HEARTBEAT)."""
        if result is not None and len(result.encode()) > tr.MAX_PAYLOAD_BYTES:
            raise InvalidParameterValue(f"Callback result is larger than {tr.MAX_PAYLOAD_BYTES} bytes")
        if error is not None and tr.error_size(error) > tr.MAX_PAYLOAD_BYTES:
            raise InvalidParameterValue(f"Callback error is larger than {tr.MAX_PAYLOAD_BYTES} bytes")
        with self.transaction() as tx:
            found = tx.get_callback(callback_id)
            if found is None:
                raise ResourceNotFound(f"Callback not found: {callback_id}")
            arn, op_id = found
            row = self._lock_top_down(tx, arn)
            if row is None:
                raise ResourceNotFound(f"Callback not found: {callback_id}")
            if row.status not in OPEN:
                raise InvalidParameterValue(
                    f"Callback {callback_id} belongs to execution {arn}, which is {row.status}"
                )
            batch = Batch(tx, row, self.clock.now_ms(), self.notify)
            batch.load([op_id])
            op = batch.ops[op_id]
            if op["Status"] != "STARTED":
                if op["Status"] == "TIMED_OUT":
                    raise CallbackTimeout(f"Callback {callback_id} has timed out")
                raise InvalidParameterValue(f"Callback {callback_id} is already {op['Status']}")
            if outcome == "HEARTBEAT":
                heartbeat = int(op.get("_heartbeat_s") or 0)
                if heartbeat:
                    tx.set_timer(Timer(arn, op_id, "heartbeat", batch.now + heartbeat * 1000))
                return
            fx = tr.Effects()
            batch.put(tr.complete_callback(op, outcome, batch.now, fx, result=result, error=error))
            batch.apply(fx)
            batch.flush()

    def stop_execution(self, arn: str, error: dict[str, Any] | None) -> int:
        """Stop an execution: revoke its invocation, cancel what it waits on, stop the
        executions its chained invokes started, and record ExecutionStopped."""
        with self.transaction() as tx:
            row = require_execution(tx, arn)
            if row.status not in OPEN:
                raise ResourceConflict(f"Durable execution {arn} is already {row.status}")
            now = self.clock.now_ms()
            self._stop(tx, row, error, now)
        return now

    def _stop(self, tx: Transaction, row: ExecutionRow, error: dict[str, Any] | None, now: int) -> None:
        error = error or {"ErrorType": "Execution.Stopped", "ErrorMessage": "Execution stopped"}
        for op in tx.open_operations(row.arn):
            child_arn = op.get("_child")
            child = tx.get_execution(child_arn) if child_arn else None
            if child is not None and child.status in OPEN:
                self._stop(tx, child, error, now)  # reports ChainedInvokeStopped to us
        row = tx.get_execution(row.arn) or row
        batch = Batch(tx, row, now, self.notify)
        if row.invocation_id is not None:
            self._record_invocation_end(batch, {"ErrorType": "Execution.Stopped", "ErrorMessage": "Execution stopped"})
        for op in tx.open_operations(row.arn):
            fx = tr.Effects()
            if op["Type"] == "WAIT":
                stopped = dict(op, Status="CANCELLED", EndTimestamp=now)
                fx.event("WaitCancelled", stopped, {"Error": error_payload(error)})
            elif op["Type"] == "CHAINED_INVOKE":
                stopped = tr.complete_invoke(op, "STOPPED", now, fx, error=error)
            elif op["Type"] == "CALLBACK" or op["Type"] in ("STEP", "CONTEXT"):
                stopped = dict(op, Status="STOPPED", EndTimestamp=now)
            else:
                continue
            batch.put(stopped)
            batch.apply(fx)
        self._finish(batch, "STOPPED", error=error)
        batch.flush()

    def pause_execution(self, arn: str, reason: str | None, timeout_paused: bool = True) -> None:
        """Stop invoking an execution; its waits and callbacks keep completing
        (``perdure.core.pausing``)."""
        pausing.pause(self, arn, reason, timeout_paused)

    def resume_execution(self, arn: str, reason: str | None) -> None:
        """Invoke a paused execution again if anything happened meanwhile (``perdure.core.pausing``)."""
        pausing.resume(self, arn, reason)

    def delete_execution(self, arn: str) -> int:
        """Delete a closed execution and everything recorded about it."""
        with self.transaction() as tx:
            row = require_execution(tx, arn)
            if row.status in OPEN:
                raise ResourceConflict(f"Durable execution {arn} is {row.status}: stop it before deleting it")
            tx.delete_execution(arn)
        return self.clock.now_ms()

    def delete_expired(self, limit: int = 500) -> int:
        """Delete up to ``limit`` closed executions past their retention period, in one
        short transaction; returns how many (call again while it returns ``limit``)."""
        with self.transaction() as tx:
            arns = tx.expired_executions(self.clock.now_ms(), limit)  # locked, skipping rows others hold
            tx.delete_executions(arns, locked=True)
        return len(arns)

    # -- data plane: what the SDK calls -------------------------------------------

    def checkpoint(self, arn: str, token: str, updates: list[Any], client_token: str | None) -> dict[str, Any]:
        if not isinstance(updates, list):
            raise InvalidParameterValue("Updates must be a list")
        if len(updates) > MAX_CHECKPOINT_UPDATES:
            raise InvalidParameterValue(f"A checkpoint may carry at most {MAX_CHECKPOINT_UPDATES} updates, got {len(updates)}")
        for index, update in enumerate(updates):
            tr.validate_update(update, index)
        size = sum(len((u.get("Payload") or "").encode()) + tr.error_size(u.get("Error")) for u in updates)
        if size > MAX_CHECKPOINT_BYTES:
            raise InvalidParameterValue(f"Checkpoint payloads total {size} bytes; the limit is {MAX_CHECKPOINT_BYTES}")
        ids = list(dict.fromkeys([u["Id"] for u in updates] + [u["ParentId"] for u in updates if u.get("ParentId")]))
        with self.transaction() as tx:
            row, stored = tx.get_execution_and_operations(arn, ids)
            if row is None:
                raise execution_not_found(arn)
            if client_token and client_token == row.last_client_token and token == row.last_token and row.last_response:
                cached: dict[str, Any] = json.loads(row.last_response)
                return cached
            if row.token is None or token != row.token:
                raise InvalidParameterValue("Invalid checkpoint token: it is stale, revoked or not for this execution")
            batch = Batch(tx, row, self.clock.now_ms(), self.notify)
            batch.ops.update(stored)
            fx = tr.Effects()
            try:
                for update in updates:
                    parent = update.get("ParentId")
                    if parent and parent not in batch.ops:
                        raise InvalidParameterValue(f"Operation {update['Id']}: parent {parent} does not exist")
                    new_op = tr.apply_update(update, batch.ops.get(update["Id"]), batch.now, fx)
                    if new_op is not None:
                        batch.put(new_op)
            except tr.NonDeterminism as exc:
                return self._fail_nondeterministic(batch, str(exc))
            batch.apply(fx)
            for op in fx.invokes:
                self._start_chained_invoke(batch, op)
            if fx.closing is not None:
                batch.set(closing=json.dumps(fx.closing))
                new_token = None
            elif row.status == "PAUSING":
                # Paused at this checkpoint: the batch is kept, the token is not renewed,
                # so the SDK ends the invocation (PENDING) and it runs again on resume.
                pause = json.loads(row.pause or "{}")
                batch.set(pause=json.dumps(dict(pause, interrupted=True)))
                new_token = None
            else:
                new_token = make_token(row.invocation_id or "", row.token_seq + 1, row.token)
            external_changes = row.op_seq != row.seen_seq
            batch.set(token=new_token, token_seq=row.token_seq + 1)
            batch.set(last_client_token=client_token, last_token=token)
            changed_here = list(batch.dirty.values())
            if external_changes:
                # Something else (a timer, a callback) changed operations since the
                # handler last looked: send everything it has not seen.
                batch.write_operations()
                changed = tx.operations_changed_since(arn, row.seen_seq)
            else:
                batch.number_operations()  # written by flush, with the events and the execution
                # Echo what this batch changed, finished steps included: the SDK records
                # the end hook of its instrumentation plugins from the terminal
                # operations a response reports (conformance 10-2, 10-4).
                changed = sorted(changed_here, key=lambda op: op["_pos"])
            response: dict[str, Any] = {"NewExecutionState": {"Operations": [tr.public_operation(op) for op in changed]}}
            if new_token is not None:
                response["CheckpointToken"] = new_token
            batch.set(seen_seq=row.op_seq, last_response=json.dumps(response) if client_token else None)
            batch.flush()
        return response

    def _fail_nondeterministic(self, batch: Batch, message: str) -> dict[str, Any]:
        """Fail the execution; the handler's token is revoked so it stops at once."""
        error = {"ErrorType": "NonDeterministicExecutionError", "ErrorMessage": message}
        batch.dirty.clear()
        batch.events = []
        batch.set(closing=json.dumps({"Status": "FAILED", "Error": error}), token=None)
        batch.flush()
        return {"NewExecutionState": {"Operations": []}}

    def _start_chained_invoke(self, batch: Batch, op: dict[str, Any]) -> None:
        """Start the execution a CHAINED_INVOKE names, in the caller's transaction."""
        request = op.pop("_invoke")
        target = request["FunctionName"]
        resolved: Target | None = None
        with suppress(ResourceNotFound, InvalidParameterValue):  # reported as not found
            resolved = self.versions.resolve(batch.tx, target)
        spec = resolved.spec if resolved else None
        fx = tr.Effects()
        started: dict[str, Any] = {
            "FunctionName": target, "Input": payload(request.get("Input")),
            "ExecutedVersion": resolved.qualifier if resolved else VERSION,
        }
        if request.get("TenantId"):
            started["TenantId"] = request["TenantId"]
        if spec is None:
            error = {"ErrorType": "ResourceNotFoundException", "ErrorMessage": f"Function not found: {target}"}
            fx.event("ChainedInvokeStarted", op, started)
            batch.put(tr.complete_invoke(op, "FAILED", batch.now, fx, error=error))
            batch.apply(fx)
            return
        assert resolved is not None
        child = self.new_execution(
            batch.tx, spec, request.get("Input"), None, batch.now, parent=(batch.row.arn, op["Id"]), version=resolved.version,
        )
        assert child is not None  # a fresh uuid name cannot be taken
        started["DurableExecutionArn"] = child.arn
        op["_child"] = child.arn
        fx.event("ChainedInvokeStarted", op, started)
        batch.put(op)
        batch.apply(fx)

    @staticmethod
    def _lock_top_down(tx: Transaction, arn: str) -> ExecutionRow | None:
        """Lock an execution after the caller that chained-invoked it, if any."""
        Engine._lock_caller_of(tx, arn)
        return tx.get_execution(arn)

    @staticmethod
    def _lock_caller_of(tx: Transaction, arn: str) -> None:
        """Lock the caller that chained-invoked an execution, if any, before the
        execution itself: closing it completes the caller's operation, and stopping the
        caller stops it, so both paths take the two rows in the same order (no
        deadlock on PostgreSQL)."""
        peek = tx.get_execution(arn, lock=False)
        if peek is not None and peek.parent_arn is not None:
            tx.get_execution(peek.parent_arn)

    def _report_to_parent(self, tx: Transaction, child: ExecutionRow, now: int) -> None:
        """A chained-invoke target closed: complete the caller's CHAINED_INVOKE operation."""
        if child.parent_arn is None or child.parent_op is None:
            return
        parent = tx.get_execution(child.parent_arn)
        if parent is None or parent.status not in OPEN:
            return
        batch = Batch(tx, parent, now, self.notify)
        batch.load([child.parent_op])
        op = batch.ops.get(child.parent_op)
        if op is None or op["Status"] != "STARTED":
            return
        fx = tr.Effects()
        error = json.loads(child.error) if child.error else None
        batch.put(tr.complete_invoke(op, child.status, now, fx, result=child.result, error=error))
        batch.apply(fx)
        batch.flush()

    def get_state(self, arn: str, token: str, marker: str | None, max_items: int | None) -> dict[str, Any]:
        limit = _page_size(max_items, STATE_PAGE)
        with self.store.read() as tx:
            row = require_execution(tx, arn, lock=False)
            if not issued_to(token, row):
                raise InvalidParameterValue("Invalid checkpoint token: it is stale, revoked or not for this execution")
            page = tx.operations_page(arn, _int_marker(marker) if marker else 0, limit + 1)
        response: dict[str, Any] = {"Operations": [tr.public_operation(op) for _, op in page[:limit]]}
        if len(page) > limit:
            response["NextMarker"] = str(page[limit - 1][0])
        return response

    # -- scheduling ----------------------------------------------------------------

    def claim(self, functions: Sequence[str] | None, limit: int, owner: str, lease_ms: int | None = None, version: int | None = ANY_VERSION) -> list[Invocation]:
        """Take up to ``limit`` executions that are due for an invocation (of one function
        ``version`` only, when given). With ``lease_ms`` the owner must renew its lease
        within that time, or lose the invocation."""
        claimed: list[Invocation] = []
        if limit <= 0:
            return claimed
        now = self.clock.now_ms()
        with self.transaction() as tx:
            for row in tx.ready_executions(now, functions, limit, version):
                spec = self.versions.spec(tx, row.function_name, row.version)
                if spec is None:
                    continue
                invocation_id = uuid.uuid4().hex
                token = make_token(invocation_id, row.token_seq + 1)
                timeout_ms = int(spec.timeout_s * 1000)
                deadline = now + timeout_ms
                page = tx.update_execution_and_read_operations(row.arn, {
                    "invocation_id": invocation_id, "token": token, "token_seq": row.token_seq + 1,
                    "invocation_start_ms": now, "invocation_deadline_ms": deadline, "owner": owner,
                    "lease_expires_ms": now + lease_ms if lease_ms else None,
                    "ready_ms": None, "seen_seq": row.op_seq,
                }, STATE_PAGE + 1)
                claimed.append(Invocation(
                    arn=row.arn, function_name=row.function_name, invocation_id=invocation_id,
                    token=token, deadline_ms=now + timeout_ms,
                    operations=[tr.public_operation(op) for _, op in page[:STATE_PAGE]],
                    next_marker=str(page[STATE_PAGE - 1][0]) if len(page) > STATE_PAGE else "",
                    version=row.version, caller=row.parent_arn,
                ))
        return claimed

    def complete_invocation(
        self, arn: str, invocation_id: str, outcome: Outcome, *, invocation: Invocation | None = None
    ) -> None:
        """Record how an invocation ended and decide what happens next. Given the
        ``invocation`` (a worker has it), its caller is known without a read: an
        execution's caller never changes."""
        with self.transaction() as tx:
            if invocation is None:
                self._lock_caller_of(tx, arn)
            elif invocation.caller is not None:
                tx.get_execution(invocation.caller)  # the caller first, as everywhere
            row, open_ops = tx.get_execution_and_open_operations(arn)
            if row is None or row.invocation_id != invocation_id:
                return  # a late report from an invocation already timed out or stopped
            batch = Batch(tx, row, self.clock.now_ms(), self.notify)
            # Read with the execution: the EXECUTION operation (closing it) and the
            # chained invokes to release are among them.
            batch.open_ops = open_ops
            batch.ops.update((op["Id"], op) for op in open_ops)
            if outcome.status == "ERROR":
                self._apply_failure(batch, outcome.error or {"ErrorType": "Runtime.Unknown", "ErrorMessage": "invocation failed"})
            else:
                closing = json.loads(row.closing) if row.closing else None
                self._record_invocation_end(batch, None)
                if closing is not None:
                    self._finish(batch, closing["Status"], result=closing.get("Result"), error=closing.get("Error"))
                elif outcome.status == "SUCCEEDED":
                    self._finish(batch, "SUCCEEDED", result=outcome.result)
                elif outcome.status == "FAILED":
                    self._finish(batch, "FAILED", error=outcome.error or {})
                else:
                    batch.set(failures=0)
            pausing.settle(batch)
            batch.flush()

    def _record_invocation_end(self, batch: Batch, error: dict[str, Any] | None) -> None:
        row = batch.row
        details: dict[str, Any] = {
            "StartTimestamp": row.invocation_start_ms, "EndTimestamp": batch.now,
            "RequestId": row.invocation_id,
        }
        if error is not None:
            details["Error"] = error_payload(error)
        batch.event("InvocationCompleted", None, details)
        batch.set(invocation_id=None, token=None, owner=None, invocation_start_ms=None, invocation_deadline_ms=None)
        self._release_children(batch)

    def _release_children(self, batch: Batch) -> None:
        """Let the targets of chained invokes started by the ended invocation run."""
        open_ops = batch.open_ops if batch.open_ops is not None else batch.tx.open_operations(batch.row.arn)
        for op in open_ops:
            child_arn = op.get("_child")
            if op["Type"] != "CHAINED_INVOKE" or not child_arn:
                continue
            child = batch.tx.get_execution(child_arn)
            if child and child.status in OPEN and child.ready_ms is None and child.invocation_id is None and child.op_seq <= 1:
                batch.tx.update_execution(child_arn, {"ready_ms": batch.now})
                self.notify("ready", child_arn)

    def _finish(self, batch: Batch, status: str, *, result: str | None = None, error: dict[str, Any] | None = None) -> None:
        row = batch.row
        execution_id = row.arn.rsplit("/", 1)[-1]
        batch.load([execution_id])
        op = dict(batch.ops[execution_id], Status=status, EndTimestamp=batch.now)
        batch.put(op)
        if status == "SUCCEEDED":
            batch.event("ExecutionSucceeded", op, {"Result": payload(result)})
        elif status == "FAILED":
            batch.event("ExecutionFailed", op, {"Error": error_payload(error)})
        elif status == "TIMED_OUT":
            batch.event("ExecutionTimedOut", op, {"Error": error_payload(error)})
        else:
            batch.event("ExecutionStopped", op, {"Error": error_payload(error)})
        batch.set(
            status=status, end_ms=batch.now, ready_ms=None, closing=None, token=None,
            result=result, error=json.dumps(error) if error is not None else None,
        )
        batch.tx.delete_timers(row.arn)
        self._report_to_parent(batch.tx, row, batch.now)

    def fire_due(self, limit: int = TIMER_BATCH) -> int:
        """Fire due timers and expire overdue invocations; returns how many fired."""
        now = self.clock.now_ms()
        with self.store.read() as tx:  # the scheduler asks on every wake-up; mostly nothing is due
            if not tx.anything_due(now):
                return 0
        with self.transaction() as tx:
            timers = tx.due_timers(now, limit)
            for timer in timers:
                self.fire_timer(tx, timer, now)
            overdue = tx.expired_leases(now, limit)
            for row in overdue:
                self._expire_invocation(tx, row, now)
        return len(timers) + len(overdue)

    def fire_timer(self, tx: Transaction, timer: Timer, now: int) -> None:
        """Fire one timer inside an engine transaction (``transaction()``): complete the
        wait, retry the step, time out the callback or the execution it belongs to."""
        tx.delete_timers(timer.arn, timer.op_id, timer.kind)
        row = tx.get_execution(timer.arn)
        if row is None or row.status not in OPEN:
            return
        self._record("timer_fired", timer.arn, None, {"timer": timer.kind, "due_ms": timer.due_ms, "fired_ms": now})
        batch = Batch(tx, row, now, self.notify)
        if timer.kind == "execution_timeout":
            if row.invocation_id is not None:
                self._record_invocation_end(batch, {"ErrorType": "Execution.Timeout", "ErrorMessage": "Execution timed out"})
            self._finish(batch, "TIMED_OUT", error={"ErrorType": "Execution.Timeout", "ErrorMessage": f"Execution timed out after {row.timeout_s} seconds"})
            batch.flush()
            return
        batch.load([timer.op_id])
        op = batch.ops.get(timer.op_id)
        if op is None:
            return
        fx = tr.Effects()
        if timer.kind == "wait" and op["Status"] == "STARTED":
            batch.put(tr.complete_wait(op, now, fx))
        elif timer.kind == "retry" and op["Status"] == "PENDING":
            batch.put(tr.step_ready(op))
            fx.wake = True
        elif timer.kind in ("timeout", "heartbeat") and op["Status"] == "STARTED":
            error_type = "Callback.Timeout" if timer.kind == "timeout" else "Callback.Heartbeat"
            message = "Callback timed out" if timer.kind == "timeout" else "Callback heartbeat timed out"
            batch.put(tr.complete_callback(op, "TIMED_OUT", now, fx, error={"ErrorType": error_type, "ErrorMessage": message}))
        else:
            return
        batch.apply(fx)
        batch.flush()

    def _expire_invocation(self, tx: Transaction, row: ExecutionRow, now: int) -> None:
        """The invocation ran past its function's timeout, or its runtime stopped renewing
        its lease (the process or its machine died): recorded as failed, as on AWS."""
        batch = Batch(tx, row, now, self.notify)
        if row.invocation_deadline_ms is not None and row.invocation_deadline_ms <= now:
            spec = self.versions.spec(tx, row.function_name, row.version)
            timeout = spec.timeout_s if spec else 0
            error = {"ErrorType": "Sandbox.Timedout", "ErrorMessage": f"Task timed out after {timeout:.2f} seconds"}
        else:
            error = {
                "ErrorType": "Runtime.ExitError",
                "ErrorMessage": f"RequestId: {row.invocation_id} Error: Runtime exited: its worker ({row.owner}) stopped renewing its lease",
            }
        self._apply_failure(batch, error)
        batch.flush()

    def recover_orphans(self, is_dead: Callable[[str], bool], limit: int = 1000) -> int:
        """Record as crashed the running invocations whose owner ``is_dead`` says is gone
        (a process of this machine killed with everything it ran), so they are re-run
        now rather than when their deadline passes."""
        recovered = 0
        with self.transaction() as tx:
            # Every running invocation: its deadline is before the end of time.
            for row in tx.expired_leases(2**62, limit):
                if row.owner is None or not is_dead(row.owner):
                    continue
                batch = Batch(tx, row, self.clock.now_ms(), self.notify)
                self._apply_failure(batch, {
                    "ErrorType": "Runtime.ExitError",
                    "ErrorMessage": f"RequestId: {row.invocation_id} Error: the process running it ({row.owner}) exited",
                })
                pausing.settle(batch)
                batch.flush()
                recovered += 1
        return recovered

    def fail_invocation(self, arn: str, invocation_id: str, error: dict[str, Any]) -> None:
        """The platform saw an invocation die (process exit, unhandled error)."""
        self.complete_invocation(arn, invocation_id, Outcome("ERROR", error=error))

    def _apply_failure(self, batch: Batch, error: dict[str, Any]) -> None:
        row = batch.row
        closing = json.loads(row.closing) if row.closing else None
        self._record_invocation_end(batch, error)
        if closing is not None:
            self._finish(batch, closing["Status"], result=closing.get("Result"), error=closing.get("Error"))
            return
        failures = row.failures + 1
        if failures >= MAX_INVOCATION_FAILURES:
            self._finish(batch, "FAILED", error=dict(error, ErrorMessage=f"{error['ErrorMessage']} (gave up after {failures} failed invocations)"))
        else:
            batch.set(failures=failures)
            batch.wake(batch.now + int(invocation_failure_delay_s(failures) * 1000))

    def ready_functions(self) -> list[str]:
        with self.store.read() as tx:
            return tx.ready_functions(self.clock.now_ms())

    def ready_function_versions(self) -> list[tuple[str, int | None]]:
        """(function, version) pairs with executions due for an invocation."""
        with self.store.read() as tx:
            return tx.ready_function_versions(self.clock.now_ms())

    def next_wakeup_ms(self, functions: Sequence[str] | None = None) -> int | None:
        with self.store.read() as tx:
            return tx.next_wakeup_ms(functions)


def _page_size(max_items: int | None, default: int) -> int:
    if max_items is None or max_items == 0:
        return default
    if max_items < 0 or max_items > 1000:
        raise InvalidParameterValue("MaxItems must be between 0 and 1000")
    return max_items


def _int_marker(marker: str) -> int:
    try:
        value = int(marker)
        if not 0 <= value < 2**63:
            raise ValueError("out of range")
        return value
    except ValueError as exc:
        raise InvalidParameterValue(f"Invalid Marker {marker!r}") from exc
