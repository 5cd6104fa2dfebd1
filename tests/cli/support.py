"""A stand-in for ``perdure serve`` in the CLI's tests: a tiny stdlib HTTP server that
answers the Lambda rest-json shapes (and a few of perdure's own routes), so botocore's
serialisation and parsing are the real ones; and helpers to run the CLI."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from perdure import cli
from perdure.cli import main

FIXTURES = Path(__file__).parent.parent / "fixtures" / "templates"
FN_ARN = "arn:aws:lambda:us-east-1:000000000000:function:ProcessFn"
EXEC_ARN = FN_ARN + ":$LATEST/durable-execution/order-17/9f2c1e4d-6b8a-4b1e-9c11-0e6c2f5a7b3d"
CALLBACK_ID = "Y2FsbGJhY2staWQtdGhhdC1pcy1xdWl0ZS1sb25nLWFuZC1tdXN0LW5vdC1iZS10cnVuY2F0ZWQ="
T0 = 1767225600.5  # 2026-01-01T00:00:00.5Z
OP_ID = "c0ffee" * 10 + "abcd"

EXECUTION = {
    "DurableExecutionArn": EXEC_ARN,
    "DurableExecutionName": "order-17",
    "FunctionArn": FN_ARN + ":$LATEST",
    "InputPayload": '{"order": 17}',
    "Result": '"shipped"',
    "StartTimestamp": T0,
    "EndTimestamp": T0 + 2,
    "Status": "SUCCEEDED",
    "Version": "$LATEST",
    "DurableConfig": {"ExecutionTimeout": 3600, "RetentionPeriodInDays": 14},
}

HISTORY_PAGES = [
    {
        "Events": [
            {
                "EventType": "ExecutionStarted",
                "EventId": 1,
                "Id": "exec",
                "Name": "order-17",
                "EventTimestamp": T0,
                "ExecutionStartedDetails": {
                    "Input": {"Payload": '{"order": 17}'},
                    "ExecutionTimeout": 3600,
                },
            },
            {
                "EventType": "CallbackStarted",
                "SubType": "Callback",
                "EventId": 2,
                "Id": OP_ID,
                "Name": "approval",
                "EventTimestamp": T0 + 0.25,
                "CallbackStartedDetails": {"CallbackId": CALLBACK_ID, "Timeout": 300},
            },
        ],
        "NextMarker": "page-2",
    },
    {
        "Events": [
            {
                "EventType": "StepFailed",
                "SubType": "Step",
                "EventId": 3,
                "Id": OP_ID,
                "Name": "charge",
                "EventTimestamp": T0 + 1,
                "StepFailedDetails": {
                    "Error": {"Payload": {"ErrorType": "CardDeclined", "ErrorMessage": "no"}},
                    "RetryDetails": {"CurrentAttempt": 1, "NextAttemptDelaySeconds": 5},
                },
            },
            {
                "EventType": "ExecutionSucceeded",
                "EventId": 4,
                "Id": "exec",
                "EventTimestamp": T0 + 2,
                "ExecutionSucceededDetails": {"Result": {"Payload": '"shipped"'}},
            },
        ]
    },
]


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeLambda:
    url: str
    requests: list[Recorded] = field(default_factory=list)

    def last(self) -> Recorded:
        return self.requests[-1]


def make_handler(state: FakeLambda) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(
            self,
            status: int,
            body: Any = None,
            headers: dict[str, str] | None = None,
            raw: bytes | None = None,
        ) -> None:
            data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, code: str, message: str) -> None:
            self._send(status, {"Type": "User", "Message": message}, {"X-Amzn-ErrorType": code})

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            segments = [unquote(s) for s in parts.path.split("/")]
            state.requests.append(
                Recorded(
                    self.command,
                    "/".join(segments),
                    parse_qs(parts.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
            )
            path = "/".join(segments)
            query = parse_qs(parts.query)
            if path.startswith("/2015-03-31/functions/") and path.endswith("/invocations"):
                name = segments[3]
                if name == "MissingFn":
                    self._error(404, "ResourceNotFoundException", "Function not found: MissingFn")
                    return
                headers = {
                    "X-Amz-Durable-Execution-Arn": EXEC_ARN,
                    "X-Amz-Executed-Version": "$LATEST",
                }
                if self.headers.get("X-Amz-Invocation-Type") == "Event":
                    self._send(202, headers=headers)
                elif name == "FailFn":
                    headers["X-Amz-Function-Error"] = "Unhandled"
                    self._send(200, {"errorType": "Boom", "errorMessage": "it broke"}, headers)
                else:
                    echo = json.loads(body)
                    self._send(200, {"echo": echo}, headers)
                return
            if path.startswith("/perdure/v1/durable-executions/") and segments[-1] == "pending":
                self._send(200, {"DurableExecutionArn": segments[4], "Status": "SUCCEEDED", "Invoking": False,
                                 "Waits": [], "Callbacks": [], "Retries": [], "Invokes": [], "Steps": []})
                return
            if path == "/perdure/v1/executions":
                newest = {"DurableExecutionArn": EXEC_ARN.replace("order-17", "order-18"),
                          "DurableExecutionName": "order-18", "FunctionArn": FN_ARN + ":$LATEST",
                          "FunctionName": "ProcessFn", "Status": "RUNNING", "StartTimestamp": T0 + 10}
                older = {k: EXECUTION[k] for k in ("DurableExecutionArn", "DurableExecutionName", "FunctionArn",
                                                   "Status", "StartTimestamp", "EndTimestamp")}
                self._send(200, {"DurableExecutions": [newest, dict(older, FunctionName="ProcessFn")]})
                return
            if path.startswith("/2025-12-01/durable-executions/"):
                arn = segments[3]
                if "missing" in arn:
                    self._error(
                        404, "ResourceNotFoundException", f"Durable execution not found: {arn}"
                    )
                    return
                if len(segments) == 4 and self.command == "GET":
                    execution = dict(EXECUTION, DurableExecutionArn=arn)
                    if query.get("IncludeExecutionData") == ["false"]:
                        for key in ("InputPayload", "Result"):
                            execution.pop(key)
                    self._send(200, execution)
                    return
                if segments[4:] == ["history"]:
                    page = 1 if query.get("Marker") == ["page-2"] else 0
                    self._send(200, HISTORY_PAGES[page])
                    return
                if segments[4:] == ["stop"] and self.command == "POST":
                    self._send(200, {"StopTimestamp": T0 + 5})
                    return
            if path.startswith("/2025-12-01/functions/") and path.endswith("/durable-executions"):
                executions = [
                    {
                        k: EXECUTION[k]
                        for k in (
                            "DurableExecutionArn",
                            "DurableExecutionName",
                            "FunctionArn",
                            "Status",
                            "StartTimestamp",
                            "EndTimestamp",
                        )
                    },
                    {
                        "DurableExecutionArn": EXEC_ARN.replace("order-17", "order-18"),
                        "DurableExecutionName": "order-18",
                        "FunctionArn": FN_ARN + ":$LATEST",
                        "Status": "RUNNING",
                        "StartTimestamp": T0 + 10,
                    },
                ]
                self._send(200, {"DurableExecutions": executions})
                return
            if path.startswith("/2025-12-01/durable-execution-callbacks/") and segments[4] in (
                "succeed",
                "fail",
                "heartbeat",
            ):
                self._send(200, {})
                return
            self._send(404, raw=b"<html>not found</html>")

        do_GET = _handle
        do_POST = _handle

    return Handler


@contextmanager
def fake_lambda() -> Iterator[FakeLambda]:
    """The stand-in server, on a free port, for the duration of the block."""
    state = FakeLambda(url="")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def ok(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run the CLI, expecting it to succeed; its standard output."""
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    return out


def assert_shows(out: str, *texts: str) -> str:
    """Assert that every text appears in the output once all white space is taken out of
    both (tables wrap long cells across lines); the flattened output, for further checks."""
    flat = "".join(out.split())
    for text in texts:
        assert "".join(text.split()) in flat, (text, out)
    return flat


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def subprocess_env() -> dict[str, str]:
    src = str(Path(cli.__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    return env


def run_python(*args: str) -> subprocess.CompletedProcess[str]:
    """``python *args`` in a fresh process that imports this checkout's perdure."""
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=subprocess_env(), timeout=60, check=False
    )
