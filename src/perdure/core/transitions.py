"""Operation transitions: how one OperationUpdate (or a service-side event) changes
an operation, and which history events and timers that produces.

Pure Python over wire-shaped dicts; the engine loads the rows, calls these inside a
transaction and writes the results back. Internal bookkeeping lives under keys
starting with ``_`` and never leaves the service.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from perdure.core.history import error_payload, payload
from perdure.errors import InvalidParameterValue

MAX_PAYLOAD_BYTES = 256 * 1024
MAX_NAME_LEN = 256
MAX_ID_LEN = 64
MAX_WAIT_SECONDS = 366 * 86400
ID_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")

TYPES = {"EXECUTION", "CONTEXT", "STEP", "WAIT", "CALLBACK", "CHAINED_INVOKE"}
ACTIONS = {"START", "SUCCEED", "FAIL", "RETRY", "CANCEL"}
TERMINAL = {"SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT", "STOPPED"}

# The actions each operation type accepts from a handler.
ALLOWED_ACTIONS = {
    "EXECUTION": {"SUCCEED", "FAIL"},
    "CONTEXT": {"START", "SUCCEED", "FAIL"},
    "STEP": {"START", "SUCCEED", "FAIL", "RETRY"},
    "WAIT": {"START", "CANCEL"},
    "CALLBACK": {"START", "CANCEL"},
    "CHAINED_INVOKE": {"START", "CANCEL"},
}


class NonDeterminism(Exception):
    """A START that contradicts the stored operation: the handler's code changed."""


@dataclass
class Effects:
    """What applying updates produced, for the engine to persist."""

    events: list[tuple[str, dict[str, Any] | None, dict[str, Any]]] = field(default_factory=list)
    timers: list[tuple[str, str, int]] = field(default_factory=list)  # (op_id, kind, due_ms)
    cancel_timers: list[tuple[str, str | None]] = field(default_factory=list)  # (op_id, kind)
    callbacks: list[tuple[str, str]] = field(default_factory=list)  # (callback_id, op_id)
    invokes: list[dict[str, Any]] = field(default_factory=list)  # chained invokes to start
    closing: dict[str, Any] | None = None
    wake: bool = False  # the execution must be invoked again

    def event(self, event_type: str, op: dict[str, Any] | None, details: dict[str, Any]) -> None:
        self.events.append((event_type, op, details))


def error_size(error: Any) -> int:
    """Bytes an ErrorObject takes (0 for none), counted towards the payload limits."""
    return len(json.dumps(error).encode()) if error else 0


def validate_update(update: Any, index: int) -> dict[str, Any]:
    """Check an update's shape and limits the way the service does."""
    where = f"Updates[{index}]"
    if not isinstance(update, dict):
        raise InvalidParameterValue(f"{where} must be an object")
    op_id, op_type, action = update.get("Id"), update.get("Type"), update.get("Action")
    if not isinstance(op_id, str) or not ID_RE.match(op_id):
        raise InvalidParameterValue(f"{where}.Id must be 1-{MAX_ID_LEN} characters of [a-zA-Z0-9_-]")
    if op_type not in TYPES:
        raise InvalidParameterValue(f"{where}.Type must be one of {sorted(TYPES)}")
    if action not in ACTIONS:
        raise InvalidParameterValue(f"{where}.Action must be one of {sorted(ACTIONS)}")
    if action not in ALLOWED_ACTIONS[op_type]:
        raise InvalidParameterValue(f"{where}: action {action} is not valid for a {op_type} operation")
    name = update.get("Name")
    if name is not None and (not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME_LEN):
        raise InvalidParameterValue(f"{where}.Name must be 1-{MAX_NAME_LEN} characters")
    parent = update.get("ParentId")
    if parent is not None and (not isinstance(parent, str) or not ID_RE.match(parent)):
        raise InvalidParameterValue(f"{where}.ParentId is not a valid operation id")
    body = update.get("Payload")
    if body is not None:
        if not isinstance(body, str):
            raise InvalidParameterValue(f"{where}.Payload must be a string")
        if len(body.encode()) > MAX_PAYLOAD_BYTES:
            raise InvalidParameterValue(
                f"{where}.Payload is {len(body.encode())} bytes; the limit is {MAX_PAYLOAD_BYTES}"
            )
    error = update.get("Error")
    if error is not None:
        if not isinstance(error, dict):
            raise InvalidParameterValue(f"{where}.Error must be an object")
        if error_size(error) > MAX_PAYLOAD_BYTES:
            raise InvalidParameterValue(f"{where}.Error is larger than {MAX_PAYLOAD_BYTES} bytes")
    return update


def _base_op(update: dict[str, Any], now_ms: int, status: str) -> dict[str, Any]:
    op: dict[str, Any] = {
        "Id": update["Id"],
        "Type": update["Type"],
        "Status": status,
        "StartTimestamp": now_ms,
    }
    for key in ("ParentId", "Name", "SubType"):
        if update.get(key):
            op[key] = update[key]
    return op


def check_deterministic(update: dict[str, Any], stored: dict[str, Any]) -> None:
    """A START must match the stored operation exactly; other actions in what they carry."""
    strict = update["Action"] == "START"
    for key, label in (("Type", "type"), ("SubType", "subtype"), ("Name", "name"), ("ParentId", "parent")):
        if not strict and key != "Type" and key not in update:
            continue
        if (update.get(key) or None) != (stored.get(key) or None):
            raise NonDeterminism(
                f"Non-deterministic execution: operation {stored['Id']} "
                f"(name {stored.get('Name')!r}, type {stored['Type']}) was started again with "
                f"{label} {update.get(key)!r} where the recorded history has {stored.get(key)!r}. "
                "The handler's code or input changed between invocations; operations must be "
                "called in the same order with the same names."
            )


def apply_update(update: dict[str, Any], stored: dict[str, Any] | None, now_ms: int, fx: Effects) -> dict[str, Any] | None:
    """Apply one handler update; return the new operation (None when nothing changes)."""
    action = update["Action"]
    if stored is not None:
        check_deterministic(update, stored)
    if stored is not None and stored["Status"] in TERMINAL:
        raise InvalidParameterValue(
            f"Cannot {action} operation {update['Id']}: it is already {stored['Status']}"
        )
    handler = _HANDLERS[update["Type"]]
    return handler(update, stored, now_ms, fx)


def _step(update: dict[str, Any], stored: dict[str, Any] | None, now: int, fx: Effects) -> dict[str, Any] | None:
    action = update["Action"]
    if stored is None:
        op = _base_op(update, now, "STARTED")
        op["StepDetails"] = {"Attempt": 0}
        fx.event("StepStarted", op, {})
        if action == "START":
            return op
    else:
        op = dict(stored)
        op["StepDetails"] = dict(stored.get("StepDetails") or {"Attempt": 0})
        if action == "START":
            if op["Status"] in ("READY", "PENDING"):
                op["Status"] = "STARTED"
                op["StepDetails"].pop("NextAttemptTimestamp", None)
                fx.cancel_timers.append((op["Id"], "retry"))
                fx.event("StepStarted", op, {})
                return op
            return None  # already STARTED: an at-least-once step re-run after a crash
    details = op["StepDetails"]
    attempt = int(details.get("Attempt", 0)) + 1
    if action == "SUCCEED":
        op["Status"] = "SUCCEEDED"
        op["EndTimestamp"] = now
        details.pop("NextAttemptTimestamp", None)
        details.pop("Error", None)
        _set_result(details, update.get("Payload"))
        fx.event("StepSucceeded", op, {"Result": payload(update.get("Payload")), "RetryDetails": {"CurrentAttempt": attempt}})
    elif action == "FAIL":
        op["Status"] = "FAILED"
        op["EndTimestamp"] = now
        details.pop("NextAttemptTimestamp", None)
        details["Error"] = update.get("Error") or {}
        fx.event("StepFailed", op, {"Error": error_payload(update.get("Error")), "RetryDetails": {"CurrentAttempt": attempt}})
    elif action == "RETRY":
        delay = int((update.get("StepOptions") or {}).get("NextAttemptDelaySeconds") or 0)
        if delay < 0 or delay > MAX_WAIT_SECONDS:
            raise InvalidParameterValue(f"NextAttemptDelaySeconds must be 0-{MAX_WAIT_SECONDS}")
        due = now + delay * 1000
        op["Status"] = "PENDING"
        details["Attempt"] = attempt
        details["NextAttemptTimestamp"] = due
        retry = {"CurrentAttempt": attempt, "NextAttemptDelaySeconds": delay}
        if update.get("Error") is not None:
            details["Error"] = update["Error"]
            fx.event("StepFailed", op, {"Error": error_payload(update["Error"]), "RetryDetails": retry})
        else:
            # wait_for_condition: a retry without an error carries the new state.
            details.pop("Error", None)
            _set_result(details, update.get("Payload"))
            fx.event("StepSucceeded", op, {"Result": payload(update.get("Payload")), "RetryDetails": retry})
        fx.timers.append((op["Id"], "retry", due))
    return op


def _set_result(details: dict[str, Any], value: str | None) -> None:
    if value is None:
        details.pop("Result", None)
    else:
        details["Result"] = value


def _wait(update: dict[str, Any], stored: dict[str, Any] | None, now: int, fx: Effects) -> dict[str, Any] | None:
    if update["Action"] == "START":
        if stored is not None:
            return None
        seconds = (update.get("WaitOptions") or {}).get("WaitSeconds")
        if not isinstance(seconds, int) or not 1 <= seconds <= MAX_WAIT_SECONDS:
            raise InvalidParameterValue(f"WaitOptions.WaitSeconds must be an integer 1-{MAX_WAIT_SECONDS}")
        op = _base_op(update, now, "STARTED")
        due = now + seconds * 1000
        op["WaitDetails"] = {"ScheduledEndTimestamp": due}
        fx.event("WaitStarted", op, {"Duration": seconds, "ScheduledEndTimestamp": due})
        fx.timers.append((op["Id"], "wait", due))
        return op
    # CANCEL
    op = dict(stored) if stored is not None else _base_op(update, now, "CANCELLED")
    op["Status"] = "CANCELLED"
    op["EndTimestamp"] = now
    fx.event("WaitCancelled", op, {})
    fx.cancel_timers.append((op["Id"], None))
    return op


def complete_wait(stored: dict[str, Any], now: int, fx: Effects) -> dict[str, Any]:
    op = dict(stored)
    op["Status"] = "SUCCEEDED"
    op["EndTimestamp"] = now
    scheduled = int((op.get("WaitDetails") or {}).get("ScheduledEndTimestamp", now))
    duration = round((scheduled - int(op["StartTimestamp"])) / 1000)
    fx.event("WaitSucceeded", op, {"Duration": duration})
    fx.wake = True
    return op


def step_ready(stored: dict[str, Any]) -> dict[str, Any]:
    op = dict(stored)
    op["Status"] = "READY"
    return op


def new_callback_id() -> str:
    # Unguessable (192 bits) and within the service's pattern [A-Za-z0-9+/]+.
    return secrets.token_hex(24)


def _callback(update: dict[str, Any], stored: dict[str, Any] | None, now: int, fx: Effects) -> dict[str, Any] | None:
    if update["Action"] == "START":
        if stored is not None:
            return None
        options = update.get("CallbackOptions") or {}
        timeout = int(options.get("TimeoutSeconds") or 0)
        heartbeat = int(options.get("HeartbeatTimeoutSeconds") or 0)
        if timeout < 0 or heartbeat < 0:
            raise InvalidParameterValue("CallbackOptions timeouts must not be negative")
        op = _base_op(update, now, "STARTED")
        callback_id = new_callback_id()
        op["CallbackDetails"] = {"CallbackId": callback_id}
        op["_heartbeat_s"] = heartbeat
        started: dict[str, Any] = {"CallbackId": callback_id}
        if heartbeat:
            started["HeartbeatTimeout"] = heartbeat
            fx.timers.append((op["Id"], "heartbeat", now + heartbeat * 1000))
        if timeout:
            started["Timeout"] = timeout
            fx.timers.append((op["Id"], "timeout", now + timeout * 1000))
        fx.event("CallbackStarted", op, started)
        fx.callbacks.append((callback_id, op["Id"]))
        return op
    op = dict(stored) if stored is not None else _base_op(update, now, "CANCELLED")
    op["Status"] = "CANCELLED"
    op["EndTimestamp"] = now
    fx.cancel_timers.append((op["Id"], None))
    return op


def complete_callback(stored: dict[str, Any], outcome: str, now: int, fx: Effects, *, result: str | None = None, error: dict[str, Any] | None = None) -> dict[str, Any]:
    """A callback finished from outside: SUCCEEDED, FAILED or TIMED_OUT."""
    op = dict(stored)
    op["Status"] = outcome
    op["EndTimestamp"] = now
    details = dict(op.get("CallbackDetails") or {})
    if outcome == "SUCCEEDED":
        if result is not None:
            details["Result"] = result
        fx.event("CallbackSucceeded", op, {"Result": payload(result)})
    elif outcome == "FAILED":
        details["Error"] = error or {}
        fx.event("CallbackFailed", op, {"Error": error_payload(error)})
    else:
        details["Error"] = error or {}
        fx.event("CallbackTimedOut", op, {"Error": error_payload(error)})
    op["CallbackDetails"] = details
    fx.cancel_timers.append((op["Id"], None))
    fx.wake = True
    return op


def _context(update: dict[str, Any], stored: dict[str, Any] | None, now: int, fx: Effects) -> dict[str, Any] | None:
    action = update["Action"]
    if stored is None:
        op = _base_op(update, now, "STARTED")
        fx.event("ContextStarted", op, {})
        if action == "START":
            return op
    elif action == "START":
        return None
    else:
        op = dict(stored)
    details: dict[str, Any] = {}
    if (update.get("ContextOptions") or {}).get("ReplayChildren"):
        details["ReplayChildren"] = True
    op["EndTimestamp"] = now
    if action == "SUCCEED":
        op["Status"] = "SUCCEEDED"
        if update.get("Payload") is not None:
            details["Result"] = update["Payload"]
        fx.event("ContextSucceeded", op, {"Result": payload(update.get("Payload"))})
    else:
        op["Status"] = "FAILED"
        details["Error"] = update.get("Error") or {}
        fx.event("ContextFailed", op, {"Error": error_payload(update.get("Error"))})
    op["ContextDetails"] = details
    return op


def _execution(update: dict[str, Any], stored: dict[str, Any] | None, now: int, fx: Effects) -> dict[str, Any] | None:
    # The execution's outcome becomes final when the invocation that reported it ends,
    # so that InvocationCompleted precedes the Execution* event as on AWS.
    if update["Action"] == "SUCCEED":
        fx.closing = {"Status": "SUCCEEDED", "Result": update.get("Payload")}
    else:
        fx.closing = {"Status": "FAILED", "Error": update.get("Error") or {}}
    return None


def _chained_invoke(update: dict[str, Any], stored: dict[str, Any] | None, now: int, fx: Effects) -> dict[str, Any] | None:
    if update["Action"] == "CANCEL":
        if stored is None:
            return None
        op = dict(stored)
        op["Status"] = "CANCELLED"
        op["EndTimestamp"] = now
        return op
    if stored is not None:
        return None
    options = update.get("ChainedInvokeOptions") or {}
    if not options.get("FunctionName"):
        raise InvalidParameterValue("ChainedInvokeOptions.FunctionName is required")
    op = _base_op(update, now, "STARTED")
    op["ChainedInvokeDetails"] = {}
    op["_invoke"] = {"FunctionName": options["FunctionName"], "TenantId": options.get("TenantId"), "Input": update.get("Payload")}
    fx.invokes.append(op)
    return op


def complete_invoke(stored: dict[str, Any], outcome: str, now: int, fx: Effects, *, result: str | None = None, error: dict[str, Any] | None = None) -> dict[str, Any]:
    """The execution a CHAINED_INVOKE started has closed with ``outcome``."""
    op = {k: v for k, v in stored.items() if k != "_child"}
    op["_child_closed"] = stored.get("_child")
    op["Status"] = outcome
    op["EndTimestamp"] = now
    details: dict[str, Any] = {}
    if outcome == "SUCCEEDED":
        if result is not None:
            details["Result"] = result
        fx.event("ChainedInvokeSucceeded", op, {"Result": payload(result)})
    else:
        details["Error"] = error or {}
        event = {"FAILED": "ChainedInvokeFailed", "TIMED_OUT": "ChainedInvokeTimedOut"}.get(outcome, "ChainedInvokeStopped")
        fx.event(event, op, {"Error": error_payload(error)})
    op["ChainedInvokeDetails"] = details
    fx.wake = True
    return op


_HANDLERS = {
    "STEP": _step,
    "WAIT": _wait,
    "CALLBACK": _callback,
    "CONTEXT": _context,
    "EXECUTION": _execution,
    "CHAINED_INVOKE": _chained_invoke,
}


def public_operation(op: dict[str, Any]) -> dict[str, Any]:
    """The operation as the service returns it (internal keys removed)."""
    return {k: v for k, v in op.items() if not k.startswith("_")}
