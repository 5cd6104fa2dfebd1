"""The execution lifecycle: chained invoke, stop, execution timeout, idempotent start,
listing and retention."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from perdure.core.engine import Engine, Outcome
from perdure.deploy.functions import FunctionSpec
from perdure.store import open_store
from tests.support import Server, history, wait_for_event, wait_for_status


def _types(events: list[dict[str, Any]]) -> list[str]:
    return [e["EventType"] for e in events]


def test_chained_invoke_of_a_durable_function_is_its_own_execution(server: Server) -> None:
    client = server.client()
    response = client.invoke(FunctionName="InvokeWaiter", Payload=json.dumps({"seconds": 1}))
    assert json.loads(response["Payload"].read()) == "after"
    events = history(client, response["DurableExecutionArn"])
    started = next(e for e in events if e["EventType"] == "ChainedInvokeStarted")
    details = started["ChainedInvokeStartedDetails"]
    # perdure serve published version 1 of every function: the target runs pinned to it.
    assert details["FunctionName"] == "Waiter" and details["ExecutedVersion"] == "1"
    assert ":function:Waiter:1/durable-execution/" in details["DurableExecutionArn"]
    assert json.loads(details["Input"]["Payload"]) == {"seconds": 1}
    child_arn = details["DurableExecutionArn"]
    # The target ran as an execution of its own: visible, listable, with its history.
    child = client.get_durable_execution(DurableExecutionArn=child_arn)
    assert child["Status"] == "SUCCEEDED" and child["Result"] == '"after"'
    listed = client.list_durable_executions_by_function(FunctionName="Waiter")["DurableExecutions"]
    assert child_arn in [e["DurableExecutionArn"] for e in listed]
    assert "WaitSucceeded" in _types(history(client, child_arn))
    # Its result reached the caller between invocations, as on AWS.
    succeeded = _types(events).index("ChainedInvokeSucceeded")
    assert _types(events)[succeeded - 1] == "InvocationCompleted"


def test_chained_invoke_of_a_plain_function_runs_it_once(server: Server) -> None:
    client = server.client()
    response = client.invoke(FunctionName="InvokePlain", Payload=json.dumps({"x": 1}))
    assert json.loads(response["Payload"].read()) == {"echo": {"x": 1}, "function": "PlainEcho"}
    # Not a durable execution: plain functions do not show up in the durable listing.
    assert client.list_durable_executions_by_function(FunctionName="PlainEcho")["DurableExecutions"] == []
    failed = client.invoke(FunctionName="InvokePlain", Payload=json.dumps({"fail": True}))
    assert failed["FunctionError"] == "Unhandled"
    events = history(client, failed["DurableExecutionArn"])
    error = next(e for e in events if e["EventType"] == "ChainedInvokeFailed")
    assert error["ChainedInvokeFailedDetails"]["Error"]["Payload"]["ErrorMessage"] == "asked to fail"


def test_chained_invoke_of_an_unknown_function_fails_clearly(server: Server) -> None:
    client = server.client()
    response = client.invoke(FunctionName="InvokeWaiter", Payload=json.dumps({"target": "NoSuchFunction"}))
    assert response["FunctionError"] == "Unhandled"
    events = history(client, response["DurableExecutionArn"])
    failed = next(e for e in events if e["EventType"] == "ChainedInvokeFailed")
    error = failed["ChainedInvokeFailedDetails"]["Error"]["Payload"]
    assert error["ErrorType"] == "ResourceNotFoundException"
    assert "NoSuchFunction" in error["ErrorMessage"]


def test_stop_during_a_wait(server: Server) -> None:
    client = server.client()
    arn = client.invoke(FunctionName="SlowWait", InvocationType="Event", Payload='{"seconds": 60}')["DurableExecutionArn"]
    wait_for_event(client, arn, "InvocationCompleted")
    stopped = client.stop_durable_execution(DurableExecutionArn=arn, Error={"ErrorType": "Ops", "ErrorMessage": "not needed"})
    assert "StopTimestamp" in stopped
    execution = client.get_durable_execution(DurableExecutionArn=arn)
    assert execution["Status"] == "STOPPED"
    events = history(client, arn)
    assert _types(events)[-2:] == ["WaitCancelled", "ExecutionStopped"]
    assert events[-1]["ExecutionStoppedDetails"]["Error"]["Payload"]["ErrorMessage"] == "not needed"
    with pytest.raises(ClientError) as err:
        client.stop_durable_execution(DurableExecutionArn=arn)
    assert err.value.response["Error"]["Code"] == "ResourceConflictException"


def test_stop_during_a_callback_then_the_callback_is_refused(server: Server) -> None:
    client = server.client()
    arn = client.invoke(FunctionName="Approval", InvocationType="Event", Payload="{}")["DurableExecutionArn"]
    callback_id = wait_for_event(client, arn, "CallbackStarted")["CallbackStartedDetails"]["CallbackId"]
    client.stop_durable_execution(DurableExecutionArn=arn)
    with pytest.raises(ClientError) as err:
        client.send_durable_execution_callback_success(CallbackId=callback_id, Result=b'"late"')
    assert err.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert "STOPPED" in err.value.response["Error"]["Message"]
    assert client.get_durable_execution(DurableExecutionArn=arn)["Status"] == "STOPPED"


def test_stop_during_a_chained_invoke_stops_the_child(server: Server) -> None:
    client = server.client()
    arn = client.invoke(FunctionName="InvokeWaiter", InvocationType="Event", Payload=json.dumps({"target": "SlowWait", "seconds": 60}))["DurableExecutionArn"]
    started = wait_for_event(client, arn, "ChainedInvokeStarted")
    child_arn = started["ChainedInvokeStartedDetails"]["DurableExecutionArn"]
    wait_for_event(client, child_arn, "WaitStarted")
    client.stop_durable_execution(DurableExecutionArn=arn)
    assert client.get_durable_execution(DurableExecutionArn=child_arn)["Status"] == "STOPPED"
    assert client.get_durable_execution(DurableExecutionArn=arn)["Status"] == "STOPPED"
    events = _types(history(client, arn))
    assert events[-2:] == ["ChainedInvokeStopped", "ExecutionStopped"]


def test_execution_timeout_fires_after_a_server_restart(tmp_path: Path) -> None:
    srv = Server(tmp_path / "perdure.db").start()
    client = srv.client()
    arn = client.invoke(FunctionName="ShortLived", InvocationType="Event", Payload='{"seconds": 60}')["DurableExecutionArn"]
    wait_for_event(client, arn, "InvocationCompleted")
    srv.kill()
    time.sleep(5)  # the 4 s execution timeout passes while nothing runs
    srv.start()
    client = srv.client()
    try:
        execution = wait_for_status(client, arn, timeout=10)
        events = history(client, arn)
    finally:
        srv.stop()
    assert execution["Status"] == "TIMED_OUT"
    assert _types(events)[-1] == "ExecutionTimedOut"
    assert events[-1]["ExecutionTimedOutDetails"]["Error"]["Payload"]["ErrorType"] == "Execution.Timeout"


def test_concurrent_starts_with_one_name_make_one_execution(server: Server) -> None:
    arns: list[str] = []
    errors: list[Exception] = []

    def start() -> None:
        try:
            response = server.client().invoke(
                FunctionName="Hello", InvocationType="Event", Payload='{"n": 1}', DurableExecutionName="order-42"
            )
            arns.append(response["DurableExecutionArn"])
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(arns) == 8 and len(set(arns)) == 1
    client = server.client()
    listed = client.list_durable_executions_by_function(FunctionName="Hello", DurableExecutionName="order-42")
    assert len(listed["DurableExecutions"]) == 1
    with pytest.raises(ClientError) as err:
        client.invoke(FunctionName="Hello", InvocationType="Event", Payload='{"n": 2}', DurableExecutionName="order-42")
    assert err.value.response["Error"]["Code"] == "ResourceConflictException"


def test_listing_filters_and_pages(server: Server) -> None:
    client = server.client()
    done = [client.invoke(FunctionName="Hello", Payload="{}")["DurableExecutionArn"] for _ in range(3)]
    running = client.invoke(FunctionName="SlowWait", InvocationType="Event", Payload='{"seconds": 60}')["DurableExecutionArn"]
    page = client.list_durable_executions_by_function(FunctionName="Hello", MaxItems=2)
    assert len(page["DurableExecutions"]) == 2
    rest = client.list_durable_executions_by_function(FunctionName="Hello", MaxItems=2, Marker=page["NextMarker"])
    assert [e["DurableExecutionArn"] for e in page["DurableExecutions"] + rest["DurableExecutions"]] == done
    assert "NextMarker" not in rest
    statuses = client.list_durable_executions_by_function(FunctionName="SlowWait", Statuses=["RUNNING"])
    assert [e["DurableExecutionArn"] for e in statuses["DurableExecutions"]] == [running]
    assert client.list_durable_executions_by_function(FunctionName="Hello", Statuses=["FAILED"])["DurableExecutions"] == []
    later = client.list_durable_executions_by_function(FunctionName="Hello", StartedAfter=time.time() + 60)
    assert later["DurableExecutions"] == []


def test_retention_removes_only_what_is_due(tmp_path: Path) -> None:
    spec = {"Fn": FunctionSpec(name="Fn", handler="x.y", retention_days=1)}
    engine = Engine(open_store(f"sqlite:///{tmp_path / 'r.db'}"), spec)
    arns = []
    for _ in range(3):
        row, _ = engine.start_execution("Fn", None)
        [inv] = engine.claim(None, 1, "w")
        engine.complete_invocation(row.arn, inv.invocation_id, Outcome("SUCCEEDED", result="1"))
        arns.append(row.arn)
    running, _ = engine.start_execution("Fn", None)
    day = 86_400_000
    with engine.store.transaction() as tx:  # age two of the closed executions past one day
        for arn in arns[:2]:
            tx.update_execution(arn, {"end_ms": int(time.time() * 1000) - day - 1000})
    assert engine.delete_expired(limit=1) == 1  # bounded batches
    assert engine.delete_expired(limit=10) == 1
    assert engine.delete_expired(limit=10) == 0
    for arn in arns[:2]:
        with pytest.raises(Exception, match="not found"):
            engine.get_execution(arn)
    assert engine.get_execution(arns[2]).status == "SUCCEEDED"
    assert engine.get_execution(running.arn).status == "RUNNING"


def test_pause_keeps_completing_waits_and_resume_invokes_again(server: Server) -> None:
    client = server.client()
    arn = client.invoke(FunctionName="Waiter", InvocationType="Event", Payload='{"seconds": 1}')["DurableExecutionArn"]
    wait_for_event(client, arn, "WaitStarted")
    wait_for_event(client, arn, "InvocationCompleted")
    client.pause_durable_execution(DurableExecutionArn=arn, Reason="maintenance")
    execution = client.get_durable_execution(DurableExecutionArn=arn)
    assert execution["Status"] == "PAUSED"
    assert execution["PauseDetails"]["Reason"] == "maintenance"
    wait_for_event(client, arn, "WaitSucceeded")  # the wait still completes while paused
    time.sleep(1.0)
    assert client.get_durable_execution(DurableExecutionArn=arn)["Status"] == "PAUSED"  # ...but nothing runs
    assert _types(history(client, arn)).count("InvocationCompleted") == 1
    client.resume_durable_execution(DurableExecutionArn=arn, Reason="done")
    execution = wait_for_status(client, arn)
    assert execution["Status"] == "SUCCEEDED" and execution["Result"] == '"after"'
    types = _types(history(client, arn))
    assert types.index("ExecutionPaused") < types.index("WaitSucceeded") < types.index("ExecutionResumed")
    with pytest.raises(ClientError) as err:
        client.pause_durable_execution(DurableExecutionArn=arn)
    assert err.value.response["Error"]["Code"] == "ResourceConflictException"


def test_delete_only_closed_executions(server: Server) -> None:
    client = server.client()
    done = client.invoke(FunctionName="Hello", Payload="{}")["DurableExecutionArn"]
    running = client.invoke(FunctionName="SlowWait", InvocationType="Event", Payload='{"seconds": 60}')["DurableExecutionArn"]
    with pytest.raises(ClientError) as err:
        client.delete_durable_execution(DurableExecutionArn=running)
    assert err.value.response["Error"]["Code"] == "ResourceConflictException"
    assert "DeletionRequestTimestamp" in client.delete_durable_execution(DurableExecutionArn=done)
    with pytest.raises(ClientError) as err:
        client.get_durable_execution(DurableExecutionArn=done)
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert client.get_durable_execution(DurableExecutionArn=running)["Status"] == "RUNNING"


@pytest.mark.parametrize("function", ["InvokeByArn", "InvokeByQualifiedArn"])
def test_chained_invoke_by_arn_from_template_environment(server: Server, function: str) -> None:
    client = server.client()
    response = client.invoke(FunctionName=function, Payload="{}")
    assert json.loads(response["Payload"].read()) == "after"
    started = next(e for e in history(client, response["DurableExecutionArn"]) if e["EventType"] == "ChainedInvokeStarted")
    assert started["ChainedInvokeStartedDetails"]["FunctionName"].startswith("arn:aws:lambda:us-east-1:000000000000:function:Waiter")


def test_chained_invoke_target_timing_out_is_reported_as_timed_out(server: Server) -> None:
    client = server.client()
    response = client.invoke(FunctionName="InvokeWaiter", Payload=json.dumps({"target": "ShortLived", "seconds": 60}))
    assert response["FunctionError"] == "Unhandled"
    events = history(client, response["DurableExecutionArn"])
    timed_out = next(e for e in events if e["EventType"] == "ChainedInvokeTimedOut")
    assert timed_out["ChainedInvokeTimedOutDetails"]["Error"]["Payload"]["ErrorType"] == "Execution.Timeout"


def test_cli_pauses_resumes_and_deletes(server: Server) -> None:
    import subprocess
    import sys

    client = server.client()
    arn = client.invoke(FunctionName="SlowWait", InvocationType="Event", Payload='{"seconds": 2}')["DurableExecutionArn"]
    wait_for_event(client, arn, "InvocationCompleted")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "perdure", *args, "--url", server.url],
                              capture_output=True, text=True, timeout=60)

    paused = cli("executions", "pause", arn, "--reason", "deploy")
    assert paused.returncode == 0, paused.stderr
    assert client.get_durable_execution(DurableExecutionArn=arn)["Status"] == "PAUSED"
    assert cli("executions", "resume", arn).returncode == 0
    assert wait_for_status(client, arn)["Status"] == "SUCCEEDED"
    deleted = cli("executions", "delete", arn)
    assert deleted.returncode == 0 and "deleted" in deleted.stdout + deleted.stderr
    again = cli("executions", "delete", arn)
    assert again.returncode == 1 and "ResourceNotFoundException" in again.stdout + again.stderr
