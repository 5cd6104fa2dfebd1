"""Crashes: the server killed mid-wait, a handler killing its own process, a timeout."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.support import Server, history, wait_for_event, wait_for_status


def test_server_sigkilled_during_wait_resumes_on_time_without_rerunning_steps(tmp_path: Path) -> None:
    log = tmp_path / "steps.log"
    srv = Server(tmp_path / "perdure.db").start()
    client = srv.client()
    started = time.time()
    arn = client.invoke(
        FunctionName="CountedWait", InvocationType="Event",
        Payload=json.dumps({"log": str(log), "seconds": 20}),
    )["DurableExecutionArn"]
    wait_for_event(client, arn, "WaitStarted")
    time.sleep(1)
    srv.kill()  # SIGKILL: no chance to save anything
    time.sleep(2)
    srv.start()  # same database, new processes
    client = srv.client()
    try:
        execution = wait_for_status(client, arn, timeout=40)
        finished = time.time()
    finally:
        srv.stop()
    assert execution["Status"] == "SUCCEEDED", execution
    assert execution["Result"] == '"done"'
    # The wait ended when it was due (20 s after it started), not 20 s after the restart.
    assert log.read_text().splitlines() == ["first", "second"]  # no step ran twice
    assert 19.5 <= finished - started <= 26, finished - started


def test_handler_that_exits_its_process_is_reinvoked_and_completes(server: Server, tmp_path: Path) -> None:
    client = server.client()
    response = client.invoke(FunctionName="CrashOnce", Payload=json.dumps({"marker": str(tmp_path / "crashed")}))
    assert json.loads(response["Payload"].read()) == "survived"
    events = history(client, response["DurableExecutionArn"])
    completions = [e for e in events if e["EventType"] == "InvocationCompleted"]
    assert len(completions) == 2
    crash = completions[0]["InvocationCompletedDetails"]["Error"]["Payload"]
    assert crash["ErrorType"] == "Runtime.ExitError"
    assert "exit status 1" in crash["ErrorMessage"]
    assert "Error" not in completions[1]["InvocationCompletedDetails"]
    # The step completed before the crash was not run again.
    befores = [e for e in events if e.get("Name") == "before" and e["EventType"] == "StepSucceeded"]
    assert len(befores) == 1
    assert events[-1]["EventType"] == "ExecutionSucceeded"


def test_invocation_past_function_timeout_is_recorded_and_retried(server: Server, tmp_path: Path) -> None:
    client = server.client()
    response = client.invoke(
        FunctionName="Sleepy", Payload=json.dumps({"marker": str(tmp_path / "slept"), "sleep": 4})
    )
    assert json.loads(response["Payload"].read()) == "woke"
    events = history(client, response["DurableExecutionArn"])
    first = next(e for e in events if e["EventType"] == "InvocationCompleted")
    error = first["InvocationCompletedDetails"]["Error"]["Payload"]
    assert error["ErrorType"] == "Sandbox.Timedout"
    assert "1.00 seconds" in error["ErrorMessage"]
    # The timed-out invocation could not write after its deadline: one StepSucceeded only.
    assert [e["EventType"] for e in events].count("StepSucceeded") == 1


def test_invocation_of_a_killed_server_is_rerun_at_restart_not_at_its_timeout(tmp_path: Path) -> None:
    marker = tmp_path / "started"
    srv = Server(tmp_path / "perdure.db").start()
    client = srv.client()
    arn = client.invoke(FunctionName="LongStep", InvocationType="Event", Payload=json.dumps({"marker": str(marker)}))["DurableExecutionArn"]
    deadline = time.monotonic() + 20
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    srv.kill()  # the invocation dies with its worker process
    srv.start()
    client = srv.client()
    restarted = time.monotonic()
    try:
        execution = wait_for_status(client, arn, timeout=60)
        events = history(client, arn)
    finally:
        srv.stop()
    assert execution["Status"] == "SUCCEEDED"
    # Function Timeout is 120 s; the orphaned invocation was re-run at restart.
    assert time.monotonic() - restarted < 15
    crash = next(e for e in events if e["EventType"] == "InvocationCompleted")
    assert crash["InvocationCompletedDetails"]["Error"]["Payload"]["ErrorType"] == "Runtime.ExitError"
