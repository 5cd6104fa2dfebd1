"""The transition rules on their own: one OperationUpdate (or a service-side event: a
timer, a callback, a child execution closing) applied to a stored operation gives the
new operation, the history events to record and the timers to set or cancel. Pure
functions over wire-shaped dicts, so every rule is checked value by value."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from perdure.core import transitions as tr
from perdure.core.engine import Engine
from perdure.deploy.functions import FunctionSpec
from perdure.errors import InvalidParameterValue
from perdure.store import open_store

NOW = 1_700_000_000_000
LATER = NOW + 2_500
WEEK_S = 7 * 86400
ERR = {"ErrorType": "ValueError", "ErrorMessage": "boom"}


def update(op_id: str, op_type: str, action: str, **fields: Any) -> dict[str, Any]:
    return {"Id": op_id, "Type": op_type, "Action": action, **fields}


def apply(upd: dict[str, Any], stored: dict[str, Any] | None = None, now: int = NOW) -> tuple[dict[str, Any] | None, tr.Effects]:
    fx = tr.Effects()
    return tr.apply_update(upd, stored, now, fx), fx


def event_types(fx: tr.Effects) -> list[str]:
    return [event_type for event_type, _, _ in fx.events]


# -- validation ---------------------------------------------------------------------------

# The (type, action) pairs a handler may send, written out so that a change to the
# service's rules shows here; every other pairing is refused.
ACCEPTED = {
    ("EXECUTION", "SUCCEED"), ("EXECUTION", "FAIL"),
    ("CONTEXT", "START"), ("CONTEXT", "SUCCEED"), ("CONTEXT", "FAIL"),
    ("STEP", "START"), ("STEP", "SUCCEED"), ("STEP", "FAIL"), ("STEP", "RETRY"),
    ("WAIT", "START"), ("WAIT", "CANCEL"),
    ("CALLBACK", "START"), ("CALLBACK", "CANCEL"),
    ("CHAINED_INVOKE", "START"), ("CHAINED_INVOKE", "CANCEL"),
}


@pytest.mark.parametrize("op_type", ["CALLBACK", "CHAINED_INVOKE", "CONTEXT", "EXECUTION", "STEP", "WAIT"])
@pytest.mark.parametrize("action", ["START", "SUCCEED", "FAIL", "RETRY", "CANCEL"])
def test_each_type_accepts_only_its_actions(op_type: str, action: str) -> None:
    upd = update("op-1", op_type, action)
    if (op_type, action) in ACCEPTED:
        assert tr.validate_update(upd, 0) is upd
    else:
        with pytest.raises(InvalidParameterValue) as info:
            tr.validate_update(upd, 2)
        assert str(info.value) == f"Updates[2]: action {action} is not valid for a {op_type} operation"


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("not an object", r"^Updates\[4\] must be an object$"),
        (update("has space", "STEP", "START"), r"^Updates\[4\]\.Id must be 1-64 characters of \[a-zA-Z0-9_-\]$"),
        (update("", "STEP", "START"), r"^Updates\[4\]\.Id must be"),
        (update("x" * 65, "STEP", "START"), r"^Updates\[4\]\.Id must be"),
        ({"Type": "STEP", "Action": "START"}, r"^Updates\[4\]\.Id must be"),
        (update("a", "TIMER", "START"), r"^Updates\[4\]\.Type must be one of \['CALLBACK', 'CHAINED_INVOKE', 'CONTEXT', 'EXECUTION', 'STEP', 'WAIT'\]$"),
        (update("a", "step", "START"), r"^Updates\[4\]\.Type must be one of"),
        (update("a", "STEP", "PAUSE"), r"^Updates\[4\]\.Action must be one of \['CANCEL', 'FAIL', 'RETRY', 'START', 'SUCCEED'\]$"),
        (update("a", "STEP", "START", Name=""), r"^Updates\[4\]\.Name must be 1-256 characters$"),
        (update("a", "STEP", "START", Name="n" * 257), r"^Updates\[4\]\.Name must be 1-256 characters$"),
        (update("a", "STEP", "START", Name=7), r"^Updates\[4\]\.Name must be"),
        (update("a", "STEP", "START", ParentId="not/an/id"), r"^Updates\[4\]\.ParentId is not a valid operation id$"),
        (update("a", "STEP", "START", ParentId=12), r"^Updates\[4\]\.ParentId is not a valid operation id$"),
        (update("a", "STEP", "START", ParentId="p" * 65), r"^Updates\[4\]\.ParentId is not a valid operation id$"),
        (update("a", "STEP", "SUCCEED", Payload={"x": 1}), r"^Updates\[4\]\.Payload must be a string$"),
        (update("a", "STEP", "FAIL", Error="boom"), r"^Updates\[4\]\.Error must be an object$"),
    ],
)
def test_malformed_updates_are_refused_with_where_and_why(bad: Any, message: str) -> None:
    with pytest.raises(InvalidParameterValue, match=message):
        tr.validate_update(bad, 4)


def test_limits_are_inclusive_and_payloads_count_bytes_not_characters() -> None:
    longest = update("i" * 64, "STEP", "SUCCEED", Name="n" * 256, ParentId="p" * 64, Payload="x" * tr.MAX_PAYLOAD_BYTES)
    assert tr.validate_update(longest, 0) is longest
    with pytest.raises(InvalidParameterValue, match=r"^Updates\[1\]\.Payload is 262145 bytes; the limit is 262144$"):
        tr.validate_update(update("a", "STEP", "SUCCEED", Payload="x" * (tr.MAX_PAYLOAD_BYTES + 1)), 1)
    # 131,073 characters, but two bytes each in UTF-8: over the limit.
    with pytest.raises(InvalidParameterValue, match=r"Payload is 262146 bytes"):
        tr.validate_update(update("a", "STEP", "SUCCEED", Payload="é" * 131_073), 0)


def test_error_objects_count_towards_the_payload_limit() -> None:
    assert tr.error_size(None) == 0
    assert tr.error_size(ERR) == len(json.dumps(ERR).encode())
    huge = {"ErrorType": "E", "ErrorMessage": "m" * tr.MAX_PAYLOAD_BYTES}
    with pytest.raises(InvalidParameterValue, match=r"^Updates\[0\]\.Error is larger than 262144 bytes$"):
        tr.validate_update(update("a", "STEP", "FAIL", Error=huge), 0)


def test_a_parent_must_exist_before_a_child_names_it(tmp_path: Path) -> None:
    """Whether ``ParentId`` names a stored operation is checked where the rows are: in
    the engine's checkpoint, before any transition applies."""
    engine = Engine(open_store(f"sqlite:///{tmp_path / 'db.sqlite'}"), {"Fn": FunctionSpec(name="Fn", handler="x.y")})
    try:
        row, _ = engine.start_execution("Fn", None)
        [inv] = engine.claim(None, 1, "w")
        orphan = update("child", "STEP", "START", Name="c", ParentId="ctx")
        with pytest.raises(InvalidParameterValue, match=r"^Operation child: parent ctx does not exist$"):
            engine.checkpoint(row.arn, inv.token, [orphan], None)
        # The parent may come first in the same checkpoint.
        parent = update("ctx", "CONTEXT", "START", Name="group")
        out = engine.checkpoint(row.arn, inv.token, [parent, orphan], None)
        ops = {op["Id"]: op for op in out["NewExecutionState"]["Operations"]}
        assert ops["child"]["ParentId"] == "ctx" and ops["ctx"]["Type"] == "CONTEXT"
    finally:
        engine.store.close()


# -- STEP ---------------------------------------------------------------------------------


def test_step_start_creates_a_started_operation_at_attempt_zero() -> None:
    op, fx = apply(update("s1", "STEP", "START", Name="charge", ParentId="ctx", SubType="Step"))
    assert op == {
        "Id": "s1", "Type": "STEP", "Status": "STARTED", "StartTimestamp": NOW,
        "ParentId": "ctx", "Name": "charge", "SubType": "Step", "StepDetails": {"Attempt": 0},
    }
    assert fx.events == [("StepStarted", op, {})]
    assert (fx.timers, fx.cancel_timers, fx.wake, fx.closing) == ([], [], False, None)


def test_step_start_again_while_started_changes_nothing() -> None:
    stored, _ = apply(update("s1", "STEP", "START", Name="charge"))
    assert stored is not None
    again, fx = apply(update("s1", "STEP", "START", Name="charge"), stored, LATER)
    assert again is None
    assert fx.events == [] and fx.cancel_timers == []


def test_step_succeed_records_result_and_attempt_without_touching_the_stored_row() -> None:
    stored, _ = apply(update("s1", "STEP", "START", Name="charge"))
    assert stored is not None
    snapshot = json.loads(json.dumps(stored))
    op, fx = apply(update("s1", "STEP", "SUCCEED", Payload='{"ok": true}'), stored, LATER)
    assert op is not None
    assert (op["Status"], op["StartTimestamp"], op["EndTimestamp"]) == ("SUCCEEDED", NOW, LATER)
    assert op["StepDetails"] == {"Attempt": 0, "Result": '{"ok": true}'}
    assert fx.events == [
        ("StepSucceeded", op, {"Result": {"Payload": '{"ok": true}', "Truncated": False}, "RetryDetails": {"CurrentAttempt": 1}}),
    ]
    assert stored == snapshot


def test_step_succeed_in_one_update_both_starts_and_ends_it() -> None:
    op, fx = apply(update("s1", "STEP", "SUCCEED", Name="quick"))
    assert op is not None
    assert op["Status"] == "SUCCEEDED" and op["StartTimestamp"] == op["EndTimestamp"] == NOW
    assert "Result" not in op["StepDetails"]
    assert event_types(fx) == ["StepStarted", "StepSucceeded"]
    assert fx.events[1][2] == {"Result": {"Truncated": False}, "RetryDetails": {"CurrentAttempt": 1}}


def test_step_fail_keeps_the_error() -> None:
    stored, _ = apply(update("s1", "STEP", "START"))
    op, fx = apply(update("s1", "STEP", "FAIL", Error=ERR), stored, LATER)
    assert op is not None
    assert (op["Status"], op["EndTimestamp"], op["StepDetails"]) == ("FAILED", LATER, {"Attempt": 0, "Error": ERR})
    assert fx.events == [("StepFailed", op, {"Error": {"Payload": ERR, "Truncated": False}, "RetryDetails": {"CurrentAttempt": 1}})]
    assert fx.timers == []


def test_step_retry_with_an_error_sets_the_next_attempt_and_its_timer() -> None:
    stored, _ = apply(update("s1", "STEP", "START", Name="charge"))
    op, fx = apply(update("s1", "STEP", "RETRY", Error=ERR, StepOptions={"NextAttemptDelaySeconds": 5}), stored, LATER)
    assert op is not None
    assert op["Status"] == "PENDING" and "EndTimestamp" not in op
    assert op["StepDetails"] == {"Attempt": 1, "NextAttemptTimestamp": LATER + 5000, "Error": ERR}
    assert fx.events == [
        ("StepFailed", op, {"Error": {"Payload": ERR, "Truncated": False},
                            "RetryDetails": {"CurrentAttempt": 1, "NextAttemptDelaySeconds": 5}}),
    ]
    assert fx.timers == [("s1", "retry", LATER + 5000)]


def test_step_retry_without_an_error_carries_new_state() -> None:
    """wait_for_condition: each check is a retry whose payload is the state so far."""
    stored: dict[str, Any] = {"Id": "c", "Type": "STEP", "Status": "STARTED", "StartTimestamp": NOW,
                              "StepDetails": {"Attempt": 2, "Error": ERR, "Result": '"old"'}}
    op, fx = apply(update("c", "STEP", "RETRY", Payload='"polling"'), stored, LATER)
    assert op is not None
    assert op["StepDetails"] == {"Attempt": 3, "Result": '"polling"', "NextAttemptTimestamp": LATER}
    assert fx.events == [
        ("StepSucceeded", op, {"Result": {"Payload": '"polling"', "Truncated": False},
                               "RetryDetails": {"CurrentAttempt": 3, "NextAttemptDelaySeconds": 0}}),
    ]
    assert fx.timers == [("c", "retry", LATER)]


@pytest.mark.parametrize("delay", [-1, tr.MAX_WAIT_SECONDS + 1])
def test_step_retry_delay_must_be_within_a_year(delay: int) -> None:
    stored, _ = apply(update("s1", "STEP", "START"))
    with pytest.raises(InvalidParameterValue, match=r"^NextAttemptDelaySeconds must be 0-31622400$"):
        apply(update("s1", "STEP", "RETRY", StepOptions={"NextAttemptDelaySeconds": delay}), stored)


def test_step_retried_then_ready_then_started_again_then_succeeds_on_attempt_two() -> None:
    started, _ = apply(update("s1", "STEP", "START", Name="charge"))
    pending, _ = apply(update("s1", "STEP", "RETRY", Error=ERR, StepOptions={"NextAttemptDelaySeconds": 2}), started)
    assert pending is not None
    ready = tr.step_ready(pending)
    assert ready["Status"] == "READY" and pending["Status"] == "PENDING"
    restarted, fx = apply(update("s1", "STEP", "START", Name="charge"), ready, LATER)
    assert restarted is not None
    assert restarted["Status"] == "STARTED"
    assert restarted["StepDetails"] == {"Attempt": 1, "Error": ERR}  # next attempt time gone
    assert fx.cancel_timers == [("s1", "retry")]
    assert fx.events == [("StepStarted", restarted, {})]
    done, fx = apply(update("s1", "STEP", "SUCCEED", Payload="1"), restarted, LATER + 1)
    assert done is not None
    assert done["StepDetails"] == {"Attempt": 1, "Result": "1"}  # the error of attempt 1 is cleared
    assert fx.events[0][2]["RetryDetails"] == {"CurrentAttempt": 2}


@pytest.mark.parametrize("status", ["SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT", "STOPPED"])
def test_nothing_changes_a_closed_operation(status: str) -> None:
    stored = {"Id": "s1", "Type": "STEP", "Status": status, "StartTimestamp": NOW, "StepDetails": {"Attempt": 0}}
    with pytest.raises(InvalidParameterValue, match=rf"^Cannot SUCCEED operation s1: it is already {status}$"):
        apply(update("s1", "STEP", "SUCCEED", Payload="1"), stored)


# -- WAIT ---------------------------------------------------------------------------------


def test_wait_start_schedules_its_end_and_a_timer() -> None:
    op, fx = apply(update("w1", "WAIT", "START", Name="week", WaitOptions={"WaitSeconds": WEEK_S}))
    due = NOW + WEEK_S * 1000
    assert op == {"Id": "w1", "Type": "WAIT", "Status": "STARTED", "StartTimestamp": NOW, "Name": "week",
                  "WaitDetails": {"ScheduledEndTimestamp": due}}
    assert fx.events == [("WaitStarted", op, {"Duration": WEEK_S, "ScheduledEndTimestamp": due})]
    assert fx.timers == [("w1", "wait", due)]
    assert fx.wake is False


def test_wait_start_again_is_a_replay() -> None:
    stored, _ = apply(update("w1", "WAIT", "START", WaitOptions={"WaitSeconds": 10}))
    again, fx = apply(update("w1", "WAIT", "START", WaitOptions={"WaitSeconds": 99}), stored, LATER)
    assert again is None
    assert fx.events == [] and fx.timers == []


@pytest.mark.parametrize("seconds", [0, -5, tr.MAX_WAIT_SECONDS + 1, "10", 1.5, None])
def test_wait_seconds_must_be_an_integer_from_one_second_to_a_year(seconds: Any) -> None:
    options = {} if seconds is None else {"WaitSeconds": seconds}
    with pytest.raises(InvalidParameterValue, match=r"^WaitOptions\.WaitSeconds must be an integer 1-31622400$"):
        apply(update("w1", "WAIT", "START", WaitOptions=options))


def test_wait_of_exactly_a_year_is_allowed() -> None:
    op, fx = apply(update("w1", "WAIT", "START", WaitOptions={"WaitSeconds": tr.MAX_WAIT_SECONDS}))
    assert op is not None and fx.timers == [("w1", "wait", NOW + 366 * 86400 * 1000)]


def test_wait_cancel_ends_it_and_drops_its_timers() -> None:
    stored, _ = apply(update("w1", "WAIT", "START", WaitOptions={"WaitSeconds": 60}))
    op, fx = apply(update("w1", "WAIT", "CANCEL"), stored, LATER)
    assert op is not None
    assert (op["Status"], op["StartTimestamp"], op["EndTimestamp"]) == ("CANCELLED", NOW, LATER)
    assert fx.events == [("WaitCancelled", op, {})]
    assert fx.cancel_timers == [("w1", None)]


def test_wait_cancel_of_an_unknown_wait_records_it_cancelled() -> None:
    op, fx = apply(update("w9", "WAIT", "CANCEL", Name="never"))
    assert op == {"Id": "w9", "Type": "WAIT", "Status": "CANCELLED", "StartTimestamp": NOW, "Name": "never", "EndTimestamp": NOW}
    assert event_types(fx) == ["WaitCancelled"]


def test_wait_completes_with_its_scheduled_duration_and_wakes_the_execution() -> None:
    stored, _ = apply(update("w1", "WAIT", "START", WaitOptions={"WaitSeconds": WEEK_S}))
    assert stored is not None
    fired_late = NOW + WEEK_S * 1000 + 4_000  # a timer that fires late does not lengthen the wait
    fx = tr.Effects()
    op = tr.complete_wait(stored, fired_late, fx)
    assert (op["Status"], op["EndTimestamp"]) == ("SUCCEEDED", fired_late)
    assert fx.events == [("WaitSucceeded", op, {"Duration": WEEK_S})]
    assert fx.wake is True
    assert stored["Status"] == "STARTED"


# -- CALLBACK -----------------------------------------------------------------------------


def test_callback_start_draws_an_id_and_sets_timeout_and_heartbeat_timers() -> None:
    op, fx = apply(update("cb", "CALLBACK", "START", Name="approve",
                          CallbackOptions={"TimeoutSeconds": 3600, "HeartbeatTimeoutSeconds": 60}))
    assert op is not None
    callback_id = op["CallbackDetails"]["CallbackId"]
    assert re.fullmatch(r"[0-9a-f]{48}", callback_id)
    assert (op["Status"], op["_heartbeat_s"]) == ("STARTED", 60)
    assert fx.events == [("CallbackStarted", op, {"CallbackId": callback_id, "HeartbeatTimeout": 60, "Timeout": 3600})]
    assert fx.timers == [("cb", "heartbeat", NOW + 60_000), ("cb", "timeout", NOW + 3_600_000)]
    assert fx.callbacks == [(callback_id, "cb")]
    assert tr.public_operation(op) == {k: v for k, v in op.items() if k != "_heartbeat_s"}


def test_callback_without_timeouts_sets_no_timer_and_ids_differ() -> None:
    first, fx = apply(update("cb", "CALLBACK", "START"))
    second, _ = apply(update("cb", "CALLBACK", "START"))
    assert first is not None and second is not None
    assert fx.timers == []
    assert fx.events[0][2] == {"CallbackId": first["CallbackDetails"]["CallbackId"]}
    assert first["CallbackDetails"]["CallbackId"] != second["CallbackDetails"]["CallbackId"]


def test_callback_start_again_is_a_replay_and_negative_timeouts_are_refused() -> None:
    stored, _ = apply(update("cb", "CALLBACK", "START"))
    again, fx = apply(update("cb", "CALLBACK", "START"), stored)
    assert again is None and fx.callbacks == []
    with pytest.raises(InvalidParameterValue, match=r"^CallbackOptions timeouts must not be negative$"):
        apply(update("cb2", "CALLBACK", "START", CallbackOptions={"HeartbeatTimeoutSeconds": -1}))


def test_callback_cancel_drops_its_timers_without_an_event() -> None:
    stored, _ = apply(update("cb", "CALLBACK", "START", CallbackOptions={"TimeoutSeconds": 10}))
    op, fx = apply(update("cb", "CALLBACK", "CANCEL"), stored, LATER)
    assert op is not None
    assert (op["Status"], op["EndTimestamp"]) == ("CANCELLED", LATER)
    assert fx.cancel_timers == [("cb", None)]
    assert fx.events == []


@pytest.mark.parametrize(
    ("outcome", "event", "details_key"),
    [("SUCCEEDED", "CallbackSucceeded", "Result"), ("FAILED", "CallbackFailed", "Error"), ("TIMED_OUT", "CallbackTimedOut", "Error")],
)
def test_callback_completed_from_outside(outcome: str, event: str, details_key: str) -> None:
    stored, _ = apply(update("cb", "CALLBACK", "START"))
    assert stored is not None
    callback_id = stored["CallbackDetails"]["CallbackId"]
    fx = tr.Effects()
    op = tr.complete_callback(stored, outcome, LATER, fx, result='"yes"', error=ERR)
    assert (op["Status"], op["EndTimestamp"]) == (outcome, LATER)
    if details_key == "Result":
        assert op["CallbackDetails"] == {"CallbackId": callback_id, "Result": '"yes"'}
        assert fx.events == [(event, op, {"Result": {"Payload": '"yes"', "Truncated": False}})]
    else:
        assert op["CallbackDetails"] == {"CallbackId": callback_id, "Error": ERR}
        assert fx.events == [(event, op, {"Error": {"Payload": ERR, "Truncated": False}})]
    assert fx.cancel_timers == [("cb", None)]
    assert fx.wake is True


# -- CONTEXT ------------------------------------------------------------------------------


def test_context_start_then_succeed_with_replay_children() -> None:
    started, fx = apply(update("ctx", "CONTEXT", "START", Name="batch", SubType="Map"))
    assert started == {"Id": "ctx", "Type": "CONTEXT", "Status": "STARTED", "StartTimestamp": NOW, "Name": "batch", "SubType": "Map"}
    assert fx.events == [("ContextStarted", started, {})]
    again, fx = apply(update("ctx", "CONTEXT", "START", Name="batch", SubType="Map"), started)
    assert again is None and fx.events == []
    done, fx = apply(update("ctx", "CONTEXT", "SUCCEED", Payload="[1,2]", ContextOptions={"ReplayChildren": True}), started, LATER)
    assert done is not None
    assert (done["Status"], done["EndTimestamp"]) == ("SUCCEEDED", LATER)
    assert done["ContextDetails"] == {"ReplayChildren": True, "Result": "[1,2]"}
    assert fx.events == [("ContextSucceeded", done, {"Result": {"Payload": "[1,2]", "Truncated": False}})]


def test_context_fail_without_a_start_records_both_events() -> None:
    op, fx = apply(update("ctx", "CONTEXT", "FAIL", Error=ERR))
    assert op is not None
    assert (op["Status"], op["ContextDetails"]) == ("FAILED", {"Error": ERR})
    assert event_types(fx) == ["ContextStarted", "ContextFailed"]
    assert fx.events[1][2] == {"Error": {"Payload": ERR, "Truncated": False}}


# -- CHAINED_INVOKE -----------------------------------------------------------------------


def test_chained_invoke_start_asks_the_engine_to_start_the_child() -> None:
    options = {"FunctionName": "Child", "TenantId": "t1"}
    op, fx = apply(update("inv", "CHAINED_INVOKE", "START", Name="sub", Payload='{"n": 1}', ChainedInvokeOptions=options))
    assert op is not None
    assert op["Status"] == "STARTED" and op["ChainedInvokeDetails"] == {}
    assert op["_invoke"] == {"FunctionName": "Child", "TenantId": "t1", "Input": '{"n": 1}'}
    assert fx.invokes == [op]
    assert fx.events == []  # the engine records ChainedInvokeStarted once the child exists
    assert "_invoke" not in tr.public_operation(op)


def test_chained_invoke_needs_a_function_and_starts_once() -> None:
    with pytest.raises(InvalidParameterValue, match=r"^ChainedInvokeOptions\.FunctionName is required$"):
        apply(update("inv", "CHAINED_INVOKE", "START"))
    stored, _ = apply(update("inv", "CHAINED_INVOKE", "START", ChainedInvokeOptions={"FunctionName": "Child"}))
    again, fx = apply(update("inv", "CHAINED_INVOKE", "START", ChainedInvokeOptions={"FunctionName": "Child"}), stored)
    assert again is None and fx.invokes == []


def test_chained_invoke_cancel() -> None:
    assert apply(update("inv", "CHAINED_INVOKE", "CANCEL"))[0] is None
    stored, _ = apply(update("inv", "CHAINED_INVOKE", "START", ChainedInvokeOptions={"FunctionName": "Child"}))
    op, fx = apply(update("inv", "CHAINED_INVOKE", "CANCEL"), stored, LATER)
    assert op is not None and (op["Status"], op["EndTimestamp"]) == ("CANCELLED", LATER)
    assert fx.events == []


@pytest.mark.parametrize(
    ("outcome", "event"),
    [("FAILED", "ChainedInvokeFailed"), ("TIMED_OUT", "ChainedInvokeTimedOut"), ("STOPPED", "ChainedInvokeStopped")],
)
def test_chained_invoke_completes_when_its_child_closes(outcome: str, event: str) -> None:
    stored = {"Id": "inv", "Type": "CHAINED_INVOKE", "Status": "STARTED", "StartTimestamp": NOW, "_child": "arn:child"}
    fx = tr.Effects()
    op = tr.complete_invoke(stored, outcome, LATER, fx, error=ERR)
    assert (op["Status"], op["EndTimestamp"], op["ChainedInvokeDetails"]) == (outcome, LATER, {"Error": ERR})
    assert "_child" not in op and op["_child_closed"] == "arn:child"
    assert fx.events == [(event, op, {"Error": {"Payload": ERR, "Truncated": False}})]
    assert fx.wake is True
    fx = tr.Effects()
    ok = tr.complete_invoke(stored, "SUCCEEDED", LATER, fx, result='"r"')
    assert ok["ChainedInvokeDetails"] == {"Result": '"r"'}
    assert fx.events == [("ChainedInvokeSucceeded", ok, {"Result": {"Payload": '"r"', "Truncated": False}})]


# -- EXECUTION ----------------------------------------------------------------------------


def test_execution_outcome_is_held_until_the_invocation_ends() -> None:
    op, fx = apply(update("exec", "EXECUTION", "SUCCEED", Payload='"done"'))
    assert op is None
    assert fx.closing == {"Status": "SUCCEEDED", "Result": '"done"'}
    assert fx.events == [] and fx.wake is False
    _, fx = apply(update("exec", "EXECUTION", "FAIL", Error=ERR))
    assert fx.closing == {"Status": "FAILED", "Error": ERR}
    _, fx = apply(update("exec", "EXECUTION", "FAIL"))
    assert fx.closing == {"Status": "FAILED", "Error": {}}


# -- determinism --------------------------------------------------------------------------

STORED = {"Id": "s1", "Type": "STEP", "SubType": "Step", "Name": "charge", "ParentId": "ctx", "Status": "STARTED", "StartTimestamp": NOW}


def test_a_start_matching_the_history_passes() -> None:
    same = update("s1", "STEP", "START", SubType="Step", Name="charge", ParentId="ctx")
    tr.check_deterministic(same, STORED)  # no NonDeterminism
    # An empty name is no name.
    tr.check_deterministic(update("w", "WAIT", "START", Name=""), {"Id": "w", "Type": "WAIT"})


@pytest.mark.parametrize(
    ("change", "label", "new", "old"),
    [
        ({"Type": "WAIT"}, "type", "'WAIT'", "'STEP'"),
        ({"SubType": "WaitForCondition"}, "subtype", "'WaitForCondition'", "'Step'"),
        ({"Name": "refund"}, "name", "'refund'", "'charge'"),
        ({"Name": None}, "name", "None", "'charge'"),
        ({"ParentId": "other"}, "parent", "'other'", "'ctx'"),
        ({"ParentId": None}, "parent", "None", "'ctx'"),
    ],
)
def test_a_start_that_contradicts_the_history_is_non_deterministic(change: dict[str, Any], label: str, new: str, old: str) -> None:
    upd = {**update("s1", "STEP", "START", SubType="Step", Name="charge", ParentId="ctx"), **change}
    with pytest.raises(tr.NonDeterminism) as info:
        tr.check_deterministic(upd, STORED)
    message = str(info.value)
    assert message.startswith(
        f"Non-deterministic execution: operation s1 (name 'charge', type STEP) was started again with "
        f"{label} {new} where the recorded history has {old}. "
    )
    assert message.endswith("operations must be called in the same order with the same names.")


def test_other_actions_are_checked_only_in_what_they_carry() -> None:
    # No Name/ParentId/SubType: nothing to contradict.
    tr.check_deterministic(update("s1", "STEP", "SUCCEED"), STORED)
    with pytest.raises(tr.NonDeterminism, match="with name 'refund' where"):
        tr.check_deterministic(update("s1", "STEP", "SUCCEED", Name="refund"), STORED)
    # The type is always compared.
    with pytest.raises(tr.NonDeterminism, match="with type 'CONTEXT' where the recorded history has 'STEP'"):
        tr.check_deterministic(update("s1", "CONTEXT", "SUCCEED"), STORED)


def test_non_determinism_is_found_before_the_closed_check() -> None:
    closed = dict(STORED, Status="SUCCEEDED")
    with pytest.raises(tr.NonDeterminism):
        apply(update("s1", "WAIT", "START", WaitOptions={"WaitSeconds": 1}), closed)
    # A matching START is no contradiction, but the step is closed: nothing may change it.
    with pytest.raises(InvalidParameterValue, match=r"^Cannot START operation s1: it is already SUCCEEDED$"):
        apply(update("s1", "STEP", "START", SubType="Step", Name="charge", ParentId="ctx"), closed)
