"""A Node function's executions through their lifecycle: chained invokes between Node
and Python, stop, pause and resume, callbacks, ``advance``, ``--time-scale`` and
retention, against real ``perdure serve`` processes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from perdure import PerdureClient
from perdure.store import open_store
from tests.logs.test_logs import client as aws_client
from tests.support import (
    NODE_TEMPLATE,
    Server,
    callback_ids,
    history,
    wait_for_event,
    wait_for_status,
)


@pytest.fixture(scope="module")
def node_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(tmp_path_factory.mktemp("node-lifecycle") / "perdure.db", template=NODE_TEMPLATE, workers=2)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["EventType"] for e in events]


def perdure(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "perdure", *args, "--url", server.url],
                          capture_output=True, text=True, timeout=60)


def chained(client: Any, arn: str) -> dict[str, Any]:
    details: dict[str, Any] = next(
        e for e in history(client, arn) if e["EventType"] == "ChainedInvokeStarted"
    )["ChainedInvokeStartedDetails"]
    return details


# --------------------------------------------------------------------------- chained invoke


def test_node_invokes_python_and_python_invokes_node(node_server: Server) -> None:
    client = node_server.client()
    response = client.invoke(FunctionName="NodeCallsPython", Payload=b'{"x": 5}')
    assert "FunctionError" not in response
    assert json.loads(response["Payload"].read()) == {"from": "node", "answer": {"echo": {"x": 5}, "runtime": "python"}}
    arn = response["DurableExecutionArn"]
    details = chained(client, arn)
    assert details["FunctionName"] == "PyEcho" and details["ExecutedVersion"] == "1"
    child = client.get_durable_execution(DurableExecutionArn=details["DurableExecutionArn"])
    assert child["Status"] == "SUCCEEDED" and json.loads(child["Result"])["runtime"] == "python"
    events = types(history(client, arn))
    assert events[events.index("ChainedInvokeSucceeded") - 1] == "InvocationCompleted"  # between invocations

    response = client.invoke(FunctionName="PyCallsNode", Payload=b'{"y": 3}')
    assert "FunctionError" not in response
    assert json.loads(response["Payload"].read()) == {"from": "python", "answer": {"echo": {"y": 3}, "runtime": "node"}}
    details = chained(client, response["DurableExecutionArn"])
    assert details["FunctionName"] == "NodeEcho" and details["ExecutedVersion"] == "1"
    child_arn = details["DurableExecutionArn"]
    assert ":function:NodeEcho:1/durable-execution/" in child_arn
    assert "StepSucceeded" in types(history(client, child_arn))
    listed = client.list_durable_executions_by_function(FunctionName="NodeEcho")["DurableExecutions"]
    assert child_arn in [e["DurableExecutionArn"] for e in listed]


# --------------------------------------------------------------------------- stop, pause, resume


def test_stop_a_node_execution_during_its_wait_and_its_callback(node_server: Server) -> None:
    client = node_server.client()
    arn = client.invoke(FunctionName="NodeWaiter", InvocationType="Event", Payload=b'{"seconds": 600}')["DurableExecutionArn"]
    wait_for_event(client, arn, "InvocationCompleted")
    stopped = client.stop_durable_execution(DurableExecutionArn=arn, Error={"ErrorType": "Ops", "ErrorMessage": "not needed"})
    assert "StopTimestamp" in stopped
    assert client.get_durable_execution(DurableExecutionArn=arn)["Status"] == "STOPPED"
    events = history(client, arn)
    assert types(events)[-2:] == ["WaitCancelled", "ExecutionStopped"]
    assert events[-1]["ExecutionStoppedDetails"]["Error"]["Payload"]["ErrorMessage"] == "not needed"

    arn = client.invoke(FunctionName="NodeApproval", InvocationType="Event", Payload=b"{}")["DurableExecutionArn"]
    [approve] = callback_ids(client, arn, 1)
    assert perdure(node_server, "executions", "stop", arn).returncode == 0
    with pytest.raises(ClientError) as err:
        client.send_durable_execution_callback_success(CallbackId=approve, Result=b'"late"')
    assert err.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert client.get_durable_execution(DurableExecutionArn=arn)["Status"] == "STOPPED"


def test_pause_and_resume_a_node_execution(node_server: Server) -> None:
    client = node_server.client()
    arn = client.invoke(FunctionName="NodeWaiter", InvocationType="Event", Payload=b'{"seconds": 1}')["DurableExecutionArn"]
    wait_for_event(client, arn, "WaitStarted")
    wait_for_event(client, arn, "InvocationCompleted")
    client.pause_durable_execution(DurableExecutionArn=arn, Reason="maintenance")
    execution = client.get_durable_execution(DurableExecutionArn=arn)
    assert execution["Status"] == "PAUSED" and execution["PauseDetails"]["Reason"] == "maintenance"
    wait_for_event(client, arn, "WaitSucceeded")  # the wait still completes while paused
    time.sleep(1.0)
    assert client.get_durable_execution(DurableExecutionArn=arn)["Status"] == "PAUSED"  # ...but nothing runs
    assert types(history(client, arn)).count("InvocationCompleted") == 1
    client.resume_durable_execution(DurableExecutionArn=arn, Reason="done")
    execution = wait_for_status(client, arn)
    assert execution["Status"] == "SUCCEEDED" and json.loads(execution["Result"]) == {"before": "v1", "after": "after", "ranBy": ""}
    events = types(history(client, arn))
    assert events.index("ExecutionPaused") < events.index("WaitSucceeded") < events.index("ExecutionResumed")

    # The CLI's pause and resume, on a Node execution in a wait.
    arn = client.invoke(FunctionName="NodeWaiter", InvocationType="Event", Payload=b'{"seconds": 2}')["DurableExecutionArn"]
    wait_for_event(client, arn, "InvocationCompleted")
    paused = perdure(node_server, "executions", "pause", arn, "--reason", "deploy")
    assert paused.returncode == 0, paused.stderr
    assert client.get_durable_execution(DurableExecutionArn=arn)["Status"] == "PAUSED"
    assert perdure(node_server, "executions", "resume", arn).returncode == 0
    assert wait_for_status(client, arn)["Status"] == "SUCCEEDED"


# --------------------------------------------------------------------------- callbacks, advance


def test_node_callbacks_through_the_api_and_advance(node_server: Server) -> None:
    client = node_server.client()
    arn = client.invoke(FunctionName="NodeApproval", InvocationType="Event", Payload=b'{"coolOffHours": 1}')["DurableExecutionArn"]
    wait_for_event(client, arn, "WaitStarted")
    wait_for_event(client, arn, "InvocationCompleted")  # suspended in its hour-long wait
    shown = perdure(node_server, "executions", "get", arn)
    assert "wait cool-off: due" in shown.stdout and "(in 60 min)" in shown.stdout, shown.stdout
    advanced = perdure(node_server, "executions", "advance", arn)
    assert advanced.returncode == 0 and "advanced wait cool-off" in advanced.stdout, advanced.stderr

    [approve] = callback_ids(client, arn, 1)  # createCallback
    client.send_durable_execution_callback_heartbeat(CallbackId=approve)
    client.send_durable_execution_callback_success(CallbackId=approve, Result=b'"dana"')
    confirm = callback_ids(client, arn, 2)[1]  # waitForCallback, its submitter logged the id
    answered = perdure(node_server, "callback", "succeed", confirm, "--payload", '{"ok": true}')
    assert answered.returncode == 0, answered.stderr
    execution = wait_for_status(client, arn)
    assert execution["Status"] == "SUCCEEDED", execution
    assert json.loads(execution["Result"]) == {"code": "v1", "prepared": "v1", "approvedBy": '"dana"', "confirmed": '{"ok": true}'}
    # perdure's client sees perdure's own TimerAdvanced event; the Lambda API leaves it out.
    assert "TimerAdvanced" not in types(history(client, arn))
    with PerdureClient(node_server.url) as own:
        events = history(own.lambda_client, arn)
    kinds = types(events)
    assert kinds.index("TimerAdvanced") < kinds.index("WaitSucceeded") < kinds.index("CallbackStarted")
    assert kinds.count("CallbackSucceeded") == 2
    logged = aws_client("logs", node_server.url).filter_log_events(
        logGroupName="/aws/lambda/NodeApproval", filterPattern=f'{{ $.durableExecutionArn = "{arn}" }}'
    )["events"]
    records = [json.loads(e["message"]) for e in logged]
    # Logged in the step that created the callback: once. Logged by the handler right after
    # createCallback: when the callback was created, and again when the handler resumed past
    # it (the SDK had replayed every operation it knew of, so it no longer held logs back).
    assert [r["message"] for r in records].count(f"confirm with callback {confirm}") == 1
    approving = [r for r in records if r["message"] == f"approve with callback {approve}"]
    assert len(approving) == 2 and approving[0]["requestId"] != approving[1]["requestId"], approving

    # A callback failed through the API fails the Node handler's await.
    arn = client.invoke(FunctionName="NodeApproval", InvocationType="Event", Payload=b"{}")["DurableExecutionArn"]
    [approve] = callback_ids(client, arn, 1)
    client.send_durable_execution_callback_failure(
        CallbackId=approve, Error={"ErrorType": "Rejected", "ErrorMessage": "over budget"}
    )
    execution = wait_for_status(client, arn)
    assert execution["Status"] == "FAILED", execution
    assert "over budget" in json.dumps(execution["Error"]), execution["Error"]
    failed = next(e for e in history(client, arn) if e["EventType"] == "CallbackFailed")
    assert failed["CallbackFailedDetails"]["Error"]["Payload"]["ErrorMessage"] == "over budget"


def test_time_scale_runs_node_waits_and_callback_timeouts_faster(tmp_path: Path) -> None:
    server = Server(tmp_path / "db.sqlite", template=NODE_TEMPLATE)
    server.args += ["--time-scale", "3600"]
    server.start()
    try:
        client = server.client()
        started = time.monotonic()
        arn = client.invoke(FunctionName="NodeApproval", InvocationType="Event", Payload=b'{"coolOffHours": 1}')["DurableExecutionArn"]
        wait_for_event(client, arn, "CallbackStarted", timeout=15)
        assert "WaitSucceeded" in types(history(client, arn))  # the hour took a second
        # The callback's four hours take four seconds: it times out, and so does the handler's await.
        execution = wait_for_status(client, arn, timeout=20)
        assert execution["Status"] == "FAILED", execution
        assert "CallbackTimedOut" in types(history(client, arn))
        assert time.monotonic() - started < 20
    finally:
        server.stop()


# --------------------------------------------------------------------------- retention


def test_expired_node_executions_are_deleted_like_python_ones(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    server = Server(db, template=NODE_TEMPLATE).start()
    try:
        client = server.client()
        node = client.invoke(FunctionName="NodeEcho", Payload=b'{"n": 1}')["DurableExecutionArn"]
        python = client.invoke(FunctionName="PyEcho", Payload=b'{"n": 2}')["DurableExecutionArn"]
        kept = client.invoke(FunctionName="NodeEcho", Payload=b'{"n": 3}')["DurableExecutionArn"]
        running = client.invoke(FunctionName="NodeWaiter", InvocationType="Event", Payload=b'{"seconds": 600}')["DurableExecutionArn"]
        wait_for_event(client, running, "InvocationCompleted")
    finally:
        server.stop()
    store = open_store(f"sqlite:///{db}")
    day = 86_400_000
    with store.transaction() as tx:  # the functions keep executions one day: two of them closed two days ago
        for arn in (node, python):
            tx.update_execution(arn, {"end_ms": int(time.time() * 1000) - 2 * day})
    store.close()
    server.start()  # the retention sweep runs when the runtime starts
    try:
        client = server.client()
        for arn in (node, python):
            deadline = time.monotonic() + 10
            while True:
                try:
                    client.get_durable_execution(DurableExecutionArn=arn)
                except ClientError as exc:
                    assert exc.response["Error"]["Code"] == "ResourceNotFoundException"
                    break
                assert time.monotonic() < deadline, f"{arn} was not deleted"
                time.sleep(0.1)
        assert client.get_durable_execution(DurableExecutionArn=kept)["Status"] == "SUCCEEDED"
        assert client.get_durable_execution(DurableExecutionArn=running)["Status"] == "RUNNING"
        logs = aws_client("logs", server.url)
        gone = logs.filter_log_events(logGroupName="/aws/lambda/NodeEcho", filterPattern=f'{{ $.durableExecutionArn = "{node}" }}')
        assert gone["events"] == []
        client.stop_durable_execution(DurableExecutionArn=running)
    finally:
        server.stop()
