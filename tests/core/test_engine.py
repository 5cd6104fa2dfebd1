"""The engine driven directly, as a worker would drive it: claims, checkpoints, fencing.
Every test runs on each backend (SQLite and PostgreSQL, see ``db_url``)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from perdure.core.engine import Engine, Outcome
from perdure.deploy.functions import FunctionSpec
from perdure.errors import InvalidParameterValue, ResourceConflict
from perdure.store import open_store


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    spec = FunctionSpec(name="Fn", handler="x.y", timeout_s=30, execution_timeout_s=600)
    engine = Engine(open_store(db_url), {"Fn": spec})
    yield engine
    engine.store.close()


def _events(engine: Engine, arn: str) -> list[str]:
    return [e["EventType"] for e in engine.history(arn, None, None, False, True)[0]]


def test_one_invocation_at_a_time_and_stale_tokens_are_fenced(engine: Engine) -> None:
    row, created = engine.start_execution("Fn", '"in"')
    assert created
    [inv] = engine.claim(None, 10, "w1")
    assert engine.claim(None, 10, "w2") == []  # already being invoked
    step = {"Id": "s1", "Type": "STEP", "SubType": "Step", "Action": "START", "Name": "one"}
    out = engine.checkpoint(row.arn, inv.token, [step], None)
    token2 = out["CheckpointToken"]
    with pytest.raises(InvalidParameterValue, match=r"^Invalid checkpoint token"):
        engine.checkpoint(row.arn, inv.token, [dict(step, Action="SUCCEED", Payload="1")], None)
    engine.checkpoint(row.arn, token2, [dict(step, Action="SUCCEED", Payload="1")], None)
    engine.complete_invocation(row.arn, inv.invocation_id, Outcome("SUCCEEDED", result='"done"'))
    assert engine.get_execution(row.arn).status == "SUCCEEDED"
    # Reports from an invocation that is no longer current change nothing.
    engine.complete_invocation(row.arn, inv.invocation_id, Outcome("FAILED", error={"ErrorType": "X"}))
    assert engine.get_execution(row.arn).status == "SUCCEEDED"
    assert _events(engine, row.arn) == [
        "ExecutionStarted", "StepStarted", "StepSucceeded", "InvocationCompleted", "ExecutionSucceeded",
    ]


def test_client_token_makes_a_retried_checkpoint_idempotent(engine: Engine) -> None:
    row, _ = engine.start_execution("Fn", None)
    [inv] = engine.claim(None, 1, "w")
    update = {"Id": "s1", "Type": "STEP", "Action": "START", "Name": "a"}
    first = engine.checkpoint(row.arn, inv.token, [update], "client-token-1")
    again = engine.checkpoint(row.arn, inv.token, [update], "client-token-1")
    assert again == first
    assert _events(engine, row.arn).count("StepStarted") == 1


def test_start_that_contradicts_history_fails_the_execution(engine: Engine) -> None:
    row, _ = engine.start_execution("Fn", None)
    [inv] = engine.claim(None, 1, "w")
    wait = {"Id": "op1", "Type": "WAIT", "SubType": "Wait", "Action": "START", "WaitOptions": {"WaitSeconds": 1}}
    engine.checkpoint(row.arn, inv.token, [wait], None)
    engine.complete_invocation(row.arn, inv.invocation_id, Outcome("PENDING"))
    time.sleep(1.05)
    engine.fire_due()
    [inv2] = engine.claim(None, 1, "w")
    # The new code calls a step where the history has a wait.
    out = engine.checkpoint(row.arn, inv2.token, [{"Id": "op1", "Type": "STEP", "Action": "SUCCEED", "Name": "pay", "Payload": "1"}], None)
    assert "CheckpointToken" not in out  # revoked: the SDK stops and reports PENDING
    engine.complete_invocation(row.arn, inv2.invocation_id, Outcome("PENDING"))
    execution = engine.get_execution(row.arn)
    assert execution.status == "FAILED"
    assert execution.error is not None
    assert "Non-deterministic execution: operation op1" in execution.error
    assert "type WAIT" in execution.error and "'STEP'" in execution.error


def test_terminal_operations_cannot_change(engine: Engine) -> None:
    row, _ = engine.start_execution("Fn", None)
    [inv] = engine.claim(None, 1, "w")
    step = {"Id": "s", "Type": "STEP", "Action": "SUCCEED", "Name": "a", "Payload": "1"}
    token = engine.checkpoint(row.arn, inv.token, [step], None)["CheckpointToken"]
    with pytest.raises(InvalidParameterValue, match="already SUCCEEDED"):
        engine.checkpoint(row.arn, token, [dict(step, Action="FAIL")], None)


def test_execution_name_is_idempotent(engine: Engine) -> None:
    first, created = engine.start_execution("Fn", '{"a": 1}', "order-7")
    again, created_again = engine.start_execution("Fn", '{"a": 1}', "order-7")
    assert created and not created_again and again.arn == first.arn
    with pytest.raises(ResourceConflict):
        engine.start_execution("Fn", '{"a": 2}', "order-7")


def test_callback_timeout_and_heartbeat_timeout(engine: Engine) -> None:
    row, _ = engine.start_execution("Fn", None)
    [inv] = engine.claim(None, 1, "w")
    updates = [
        {"Id": "cb1", "Type": "CALLBACK", "Action": "START", "CallbackOptions": {"TimeoutSeconds": 1}},
        {"Id": "cb2", "Type": "CALLBACK", "Action": "START", "CallbackOptions": {"HeartbeatTimeoutSeconds": 1, "TimeoutSeconds": 60}},
    ]
    engine.checkpoint(row.arn, inv.token, updates, None)
    engine.complete_invocation(row.arn, inv.invocation_id, Outcome("PENDING"))
    time.sleep(1.1)
    assert engine.fire_due() == 2
    events, _ = engine.history(row.arn, None, None, False, True)
    timed_out = [e for e in events if e["EventType"] == "CallbackTimedOut"]
    assert [e["CallbackTimedOutDetails"]["Error"]["Payload"]["ErrorType"] for e in timed_out] == [
        "Callback.Timeout", "Callback.Heartbeat",
    ]
    assert engine.get_execution(row.arn).ready_ms is not None  # the handler is re-invoked


def test_wait_survives_a_new_engine_on_the_same_database(db_url: str) -> None:
    spec = {"Fn": FunctionSpec(name="Fn", handler="x.y")}
    first = Engine(open_store(db_url), spec)
    row, _ = first.start_execution("Fn", None)
    [inv] = first.claim(None, 1, "w")
    first.checkpoint(row.arn, inv.token, [{"Id": "w", "Type": "WAIT", "Action": "START", "WaitOptions": {"WaitSeconds": 1}}], None)
    first.complete_invocation(row.arn, inv.invocation_id, Outcome("PENDING"))
    first.store.close()
    second = Engine(open_store(db_url), spec)  # "restart"
    due = second.next_wakeup_ms()
    assert due is not None and due > time.time() * 1000
    time.sleep(1.05)
    second.fire_due()
    assert [i.arn for i in second.claim(None, 1, "w")] == [row.arn]
    second.store.close()


def test_a_chained_invoke_target_knows_its_caller_and_completes_the_callers_operation(engine: Engine) -> None:
    """A claimed invocation carries the execution that chained-invoked it (it never
    changes), so ending it locks the caller first without reading the execution first."""
    parent, _ = engine.start_execution("Fn", None)
    [inv] = engine.claim(None, 1, "w")
    assert inv.caller is None
    invoke = {"Id": "i1", "Type": "CHAINED_INVOKE", "Action": "START", "Name": "child",
              "Payload": '"x"', "ChainedInvokeOptions": {"FunctionName": "Fn"}}
    engine.checkpoint(parent.arn, inv.token, [invoke], None)
    engine.complete_invocation(parent.arn, inv.invocation_id, Outcome("PENDING"), invocation=inv)
    [child] = engine.claim(None, 1, "w")
    assert child.arn != parent.arn and child.caller == parent.arn
    engine.complete_invocation(child.arn, child.invocation_id, Outcome("SUCCEEDED", result='"y"'), invocation=child)
    assert engine.get_execution(child.arn).status == "SUCCEEDED"
    assert "ChainedInvokeSucceeded" in _events(engine, parent.arn)
    [again] = engine.claim(None, 1, "w")  # the caller runs again to take the result
    assert again.arn == parent.arn
