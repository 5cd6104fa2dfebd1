"""``perdure executions``: get, history, list and stop against the stand-in server."""

from __future__ import annotations

import json

import pytest

from tests.cli.support import (
    CALLBACK_ID,
    EXEC_ARN,
    FN_ARN,
    OP_ID,
    FakeLambda,
    assert_shows,
    ok,
    run,
)


def test_get_json(server: FakeLambda, capsys: pytest.CaptureFixture[str]) -> None:
    out = ok(capsys, "executions", "get", EXEC_ARN, "--url", server.url, "--json")
    request = server.last()
    assert (request.method, request.path) == ("GET", f"/2025-12-01/durable-executions/{EXEC_ARN}")
    assert json.loads(out) == {
        "DurableExecutionArn": EXEC_ARN,
        "DurableExecutionName": "order-17",
        "FunctionArn": FN_ARN + ":$LATEST",
        "InputPayload": '{"order": 17}',
        "Result": '"shipped"',
        "StartTimestamp": "2026-01-01T00:00:00.500000+00:00",
        "EndTimestamp": "2026-01-01T00:00:02.500000+00:00",
        "Status": "SUCCEEDED",
        "Version": "$LATEST",
        "DurableConfig": {"ExecutionTimeout": 3600, "RetentionPeriodInDays": 14},
    }
    assert out.startswith("{\n  ")  # indented for people reading scripts' output too


def test_get_asks_for_data_explicitly(
    server: FakeLambda, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "executions", "get", EXEC_ARN, "--url", server.url, "--json")
    assert server.last().query == {"IncludeExecutionData": ["true"]}


def test_get_no_data(server: FakeLambda, capsys: pytest.CaptureFixture[str]) -> None:
    out = ok(capsys, "executions", "get", EXEC_ARN, "--url", server.url, "--json", "--no-data")
    assert server.last().query == {"IncludeExecutionData": ["false"]}
    assert "Result" not in json.loads(out)


def test_get_table(server: FakeLambda, capsys: pytest.CaptureFixture[str]) -> None:
    out = ok(capsys, "executions", "get", EXEC_ARN, "--url", server.url)
    assert_shows(out, "order-17", "SUCCEEDED", "2026-01-0100:00:00.500Z", '"shipped"', "3600s", "14days", EXEC_ARN)


def test_history_json_follows_pages(server: FakeLambda, capsys: pytest.CaptureFixture[str]) -> None:
    out = ok(capsys, "executions", "history", EXEC_ARN, "--url", server.url, "--json")
    first, second = server.requests
    assert first.path == f"/2025-12-01/durable-executions/{EXEC_ARN}/history"
    assert first.query == {"IncludeExecutionData": ["true"]}
    assert second.query["Marker"] == ["page-2"]
    events = json.loads(out)["Events"]
    assert [e["EventId"] for e in events] == [1, 2, 3, 4]
    assert events[0] == {
        "EventType": "ExecutionStarted",
        "EventId": 1,
        "Id": "exec",
        "Name": "order-17",
        "EventTimestamp": "2026-01-01T00:00:00.500000+00:00",
        "ExecutionStartedDetails": {
            "Input": {"Payload": '{"order": 17}'},
            "ExecutionTimeout": 3600,
        },
    }
    assert events[2]["StepFailedDetails"]["Error"]["Payload"]["ErrorType"] == "CardDeclined"


def test_history_options(server: FakeLambda, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "executions", "history", EXEC_ARN, "--url", server.url, "--reverse", "--no-data")
    assert server.requests[0].query == {
        "IncludeExecutionData": ["false"],
        "ReverseOrder": ["true"],
    }


def test_history_table(server: FakeLambda, capsys: pytest.CaptureFixture[str]) -> None:
    out = ok(capsys, "executions", "history", EXEC_ARN, "--url", server.url)
    flat = assert_shows(
        out, "ExecutionStarted", "CallbackStarted(Callback)", "approval", "00:00:00.750", "Error=CardDeclined:no",
        "RetryDetails.CurrentAttempt=1", 'Input={"order":17}', 'Result="shipped"', "ExecutionSucceeded",
    )
    # The open callback's id is printed whole on its own line, ready to copy.
    assert f"\n  approval  {CALLBACK_ID}\n" in out
    assert OP_ID not in flat  # operation ids are shortened


def test_list(server: FakeLambda, capsys: pytest.CaptureFixture[str]) -> None:
    filters = ["--status", "running,failed", "--name", "order-18"]
    out = ok(capsys, "executions", "list", "--function", "ProcessFn", *filters, "--url", server.url, "--json")
    request = server.last()
    assert request.path == "/2025-12-01/functions/ProcessFn/durable-executions"
    assert request.query == {
        "Statuses": ["RUNNING", "FAILED"],
        "DurableExecutionName": ["order-18"],
    }
    listed = json.loads(out)["DurableExecutions"]
    assert [e["DurableExecutionName"] for e in listed] == ["order-17", "order-18"]
    assert listed[1]["StartTimestamp"] == "2026-01-01T00:00:10.500000+00:00"


def test_list_table_and_max_items(server: FakeLambda, capsys: pytest.CaptureFixture[str]) -> None:
    out = ok(capsys, "executions", "list", "--function", "ProcessFn", "--url", server.url, "--max-items", "1")
    assert "order-17" in out and "SUCCEEDED" in out
    assert "order-18" not in out


def test_list_across_functions(server: FakeLambda, capsys: pytest.CaptureFixture[str]) -> None:
    out = ok(capsys, "executions", "list", "--status", "running", "--url", server.url, "--json")
    request = server.last()
    assert (request.path, request.query) == ("/perdure/v1/executions", {"Statuses": ["RUNNING"], "MaxItems": ["100"]})
    listed = json.loads(out)["DurableExecutions"]
    assert [e["DurableExecutionName"] for e in listed] == ["order-18", "order-17"]
    assert listed[0]["StartTimestamp"] == "2026-01-01T00:00:10.500000+00:00"


def test_list_bad_status(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "executions", "list", "--function", "F", "--status", "DONE")
    assert code == 2
    assert "--status 'DONE': expected one of RUNNING" in err


def test_stop(server: FakeLambda, capsys: pytest.CaptureFixture[str]) -> None:
    reason = ["--error-type", "Cancelled", "--error-message", "by operator"]
    out = ok(capsys, "executions", "stop", EXEC_ARN, "--url", server.url, "--json", *reason)
    request = server.last()
    assert (request.method, request.path) == ("POST", f"/2025-12-01/durable-executions/{EXEC_ARN}/stop")
    assert json.loads(request.body) == {"ErrorType": "Cancelled", "ErrorMessage": "by operator"}
    assert json.loads(out) == {"StopTimestamp": "2026-01-01T00:00:05.500000+00:00"}
    out = ok(capsys, "executions", "stop", EXEC_ARN, "--url", server.url)
    assert out.startswith(f"stopped {EXEC_ARN} at 2026-01-01 00:00:05.500Z")
