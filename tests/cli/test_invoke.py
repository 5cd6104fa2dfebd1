"""``perdure invoke``: synchronous and asynchronous invokes, payloads, function errors."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

from tests.cli.support import (
    EXEC_ARN,
    FakeLambda,
    assert_shows,
    ok,
    run,
)


def test_invoke_sync_json(server: FakeLambda, capsys: pytest.CaptureFixture[str]) -> None:
    out = ok(capsys, "invoke", "ProcessFn", "--payload", '{"order": 17}', "--name", "order-17", "--url", server.url, "--json")
    request = server.last()
    assert request.path == "/2015-03-31/functions/ProcessFn/invocations"
    assert request.headers["x-amz-invocation-type"] == "RequestResponse"
    assert request.headers["x-amz-durable-execution-name"] == "order-17"
    assert json.loads(request.body) == {"order": 17}
    assert json.loads(out) == {
        "StatusCode": 200,
        "ExecutedVersion": "$LATEST",
        "DurableExecutionArn": EXEC_ARN,
        "Payload": {"echo": {"order": 17}},
    }


def test_invoke_sync_table(server: FakeLambda, capsys: pytest.CaptureFixture[str]) -> None:
    out = ok(capsys, "invoke", "ProcessFn", "--url", server.url)
    assert json.loads(server.last().body) == {}
    assert_shows(out, "SUCCEEDED", '{"echo":{}}', EXEC_ARN)


def test_invoke_async(server: FakeLambda, capsys: pytest.CaptureFixture[str]) -> None:
    out = ok(capsys, "invoke", "ProcessFn", "--async", "--url", server.url)
    assert server.last().headers["x-amz-invocation-type"] == "Event"
    assert "STARTED" in out
    assert f"perdure executions get {EXEC_ARN.rsplit('/', 1)[-1]}" in out.replace("\n", "")
    out = ok(capsys, "invoke", "ProcessFn", "--async", "--url", server.url, "--json")
    assert json.loads(out) == {
        "StatusCode": 202,
        "ExecutedVersion": "$LATEST",
        "DurableExecutionArn": EXEC_ARN,
        "Payload": None,
    }


def test_invoke_function_error(server: FakeLambda, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "invoke", "FailFn", "--url", server.url)
    assert code == 1
    assert "FAILED (Unhandled)" in out
    assert "it broke" in out
    code, out, _ = run(capsys, "invoke", "FailFn", "--url", server.url, "--json")
    assert code == 1
    assert json.loads(out)["FunctionError"] == "Unhandled"


def test_invoke_unknown_function(server: FakeLambda, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "invoke", "MissingFn", "--url", server.url)
    assert code == 1
    assert err == "error: ResourceNotFoundException: Function not found: MissingFn\n"


def test_invoke_payload_sources(
    server: FakeLambda,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    payload_file = tmp_path / "event.json"
    payload_file.write_text('{"from": "file"}')
    run(capsys, "invoke", "ProcessFn", "--payload", f"file://{payload_file}", "--url", server.url)
    assert json.loads(server.last().body) == {"from": "file"}
    monkeypatch.setattr(sys, "stdin", types.SimpleNamespace(read=lambda: '["stdin"]'))
    run(capsys, "invoke", "ProcessFn", "--payload", "-", "--url", server.url)
    assert json.loads(server.last().body) == ["stdin"]


def test_invoke_bad_payload(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "invoke", "ProcessFn", "--payload", "{not json")
    assert code == 2
    assert "--payload is not valid JSON" in err
    code, _, err = run(capsys, "invoke", "ProcessFn", "--payload", "file:///no/such/file")
    assert code == 2
    assert "file:///no/such/file" in err
