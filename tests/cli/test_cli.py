"""The ``perdure`` command line.

The client commands run against a tiny stdlib HTTP server that answers the Lambda
rest-json shapes, so botocore's serialisation and parsing are the real ones.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

import perdure
from perdure import cli
from perdure.cli import build_parser, default_db_url, main
from perdure.cli.output import event_details

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


def _make_handler(state: FakeLambda) -> type[BaseHTTPRequestHandler]:
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


@pytest.fixture
def server() -> Iterator[FakeLambda]:
    state = FakeLambda(url="")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(state))
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("PERDURE_URL", "PERDURE_DB", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --------------------------------------------------------------------------- parsing


def test_parse_serve_defaults() -> None:
    args = build_parser().parse_args(["serve", "--template", "t.yaml"])
    assert args.command == "serve"
    assert args.template == "t.yaml"
    assert args.db is None
    assert (args.host, args.port) == ("127.0.0.1", 9000)
    assert args.workers is None  # the server's own defaults apply
    assert args.threads is None


def test_parse_serve_options() -> None:
    args = build_parser().parse_args(
        [
            "serve",
            "-t",
            "t.yaml",
            "--db",
            "sqlite:///x.db",
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--workers",
            "3",
            "--threads",
            "7",
            "--parameter-overrides",
            "A=1",
            "B=2",
        ]
    )
    assert (args.db, args.host, args.port, args.workers, args.threads) == (
        "sqlite:///x.db",
        "0.0.0.0",
        0,
        3,
        7,
    )
    assert args.parameter_overrides == ["A=1", "B=2"]


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["serve", "--port", "70000"],
        ["serve", "--port", "http"],
        ["serve", "--workers", "0"],
        ["serve", "--threads", "-1"],
        ["invoke"],
        ["executions"],
        ["executions", "get"],
        ["callback", "succeed"],
        ["callback", "explode", "id"],
        ["bogus"],
    ],
)
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "usage: perdure" in capsys.readouterr().err


def test_parse_client_commands() -> None:
    parser = build_parser()
    args = parser.parse_args(
        ["invoke", "ProcessFn", "--payload", '{"a": 1}', "--async", "--name", "n1", "--json"]
    )
    assert (args.function, args.payload, args.is_async, args.name, args.json) == (
        "ProcessFn",
        '{"a": 1}',
        True,
        "n1",
        True,
    )
    args = parser.parse_args(
        ["executions", "list", "--function", "F", "--status", "running", "--status", "FAILED"]
    )
    assert args.status == ["RUNNING", "FAILED"]
    args = parser.parse_args(
        ["callback", "fail", "cb", "--error-type", "T", "--error-message", "M"]
    )
    assert (args.callback_id, args.error_type, args.error_message) == ("cb", "T", "M")
    args = parser.parse_args(["executions", "stop", "arn", "--url", "http://h:1"])
    assert (args.arn, args.url) == ("arn", "http://h:1")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("perdure ")


# --------------------------------------------------------------------------- default db


def test_default_db_url_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERDURE_DB", "postgresql://db/perdure")
    assert default_db_url() == "postgresql://db/perdure"


def test_default_db_url_respects_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_db_url() == f"sqlite:///{tmp_path}/perdure/perdure.db"


def test_default_db_url_under_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_db_url() == f"sqlite:///{tmp_path}/.local/share/perdure/perdure.db"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/ignored")
    assert default_db_url() == f"sqlite:///{tmp_path}/.local/share/perdure/perdure.db"


# --------------------------------------------------------------------------- serve


@pytest.fixture
def fake_server(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    module = types.ModuleType("perdure.http.server")

    def run_server(**kwargs: Any) -> None:
        calls.append(kwargs)

    module.run_server = run_server  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "perdure.http.server", module)
    monkeypatch.setattr(perdure, "server", module, raising=False)
    # These templates name handlers that do not exist, on ports that may be taken:
    # the start-up checks have their own tests (tests/test_first_hour.py).
    from perdure.cli import serve as serve_cli
    from perdure.run import preflight

    monkeypatch.setattr(preflight, "check_handlers", lambda functions: [])
    monkeypatch.setattr(serve_cli, "check_port_free", lambda host, port: None)
    return calls


def test_serve_loads_template_and_runs_server(
    fake_server: list[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    code, _, err = run(
        capsys,
        "serve",
        "--template",
        str(FIXTURES / "globals.yaml"),
        "--port",
        "9123",
        "--workers",
        "2",
        "--threads",
        "4",
    )
    assert code == 0
    (call,) = fake_server
    assert sorted(call["functions"]) == ["InheritsFn", "OverridesFn"]
    assert call["db_url"] == f"sqlite:///{tmp_path}/data/perdure/perdure.db"
    assert (tmp_path / "data" / "perdure").is_dir()
    assert (call["host"], call["port"], call["workers"], call["threads"]) == (
        "127.0.0.1",
        9123,
        2,
        4,
    )
    assert err == ""


def test_serve_leaves_sizing_to_the_server(
    fake_server: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "serve", "-t", str(FIXTURES / "template.json"), "--db", "sqlite:///x.db")[0] == 0
    assert "workers" not in fake_server[0]
    assert "threads" not in fake_server[0]


def test_serve_overrides(
    fake_server: list[dict[str, Any]], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    env_file = tmp_path / "env.json"
    env_file.write_text(
        json.dumps({"CallerFn": {"LEVEL": "WARN", "N": 3}, "Parameters": {"ALL": True}})
    )
    code, _, err = run(
        capsys,
        "serve",
        "-t",
        str(FIXTURES / "env.yaml"),
        "--db",
        "sqlite:///:memory:",
        "--env-vars",
        str(env_file),
        "--parameter-overrides",
        "Stage=prod Zones=x,y",
    )
    assert code == 0, err
    (call,) = fake_server
    assert call["db_url"] == "sqlite:///:memory:"
    env = call["functions"]["CallerFn"].environment
    assert (env["LEVEL"], env["N"], env["ALL"], env["STAGE"], env["SECOND_ZONE"]) == (
        "WARN",
        "3",
        "true",
        "prod",
        "y",
    )
    assert call["functions"]["TargetFn"].environment == {"ALL": "true"}


def test_serve_db_from_env(
    fake_server: list[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PERDURE_DB", "postgresql://db/x")
    assert run(capsys, "serve", "-t", str(FIXTURES / "template.json"))[0] == 0
    assert fake_server[0]["db_url"] == "postgresql://db/x"


def test_serve_finds_template_in_cwd(
    fake_server: list[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "serve", "--db", "sqlite:///:memory:")
    assert code == 2
    assert "no template.yaml / template.yml / template.json here" in err
    (tmp_path / "template.yml").write_text(
        "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n"
        "    Properties: {Handler: app.handler}\n"
    )
    assert run(capsys, "serve", "--db", "sqlite:///:memory:")[0] == 0
    assert list(fake_server[0]["functions"]) == ["Fn"]


def test_serve_bad_template(
    fake_server: list[dict[str, Any]], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(
        "Resources:\n  ProcessFn:\n    Type: AWS::Serverless::Function\n"
        "    Properties: {Handler: app.handler, Timeout: abc}\n"
    )
    code, _, err = run(capsys, "serve", "-t", str(template))
    assert code == 2
    assert err.strip() == (
        f"perdure: error: {template}: resource ProcessFn: Timeout must be a number, got 'abc'"
    )
    assert fake_server == []


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("not json", "not valid JSON"),
        ("[1]", "expected a JSON object"),
        ('{"Fn": 3}', "Fn must map variable names"),
        ('{"Fn": {"A": [1]}}', "Fn.A must be a string"),
    ],
)
def test_serve_bad_env_vars(
    fake_server: list[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    content: str,
    fragment: str,
) -> None:
    env_file = tmp_path / "env.json"
    env_file.write_text(content)
    code, _, err = run(
        capsys, "serve", "-t", str(FIXTURES / "template.json"), "--env-vars", str(env_file)
    )
    assert code == 2
    assert fragment in err


def test_serve_bad_parameter_override(
    fake_server: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        capsys, "serve", "-t", str(FIXTURES / "env.yaml"), "--parameter-overrides", "Stage"
    )
    assert code == 2
    assert "expects KEY=VALUE, got 'Stage'" in err


# --------------------------------------------------------------------------- no server


@pytest.mark.parametrize(
    "argv",
    [
        ["executions", "get", EXEC_ARN],
        ["executions", "history", EXEC_ARN],
        ["executions", "list", "--function", "ProcessFn"],
        ["executions", "stop", EXEC_ARN],
        ["invoke", "ProcessFn"],
        ["callback", "heartbeat", CALLBACK_ID],
    ],
)
def test_no_server(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    code, out, err = run(capsys, *argv, "--url", url)
    assert code == 2
    assert out == ""
    assert err == f"no perdure server at {url}: start one with `perdure serve --template ...`\n"


def test_url_from_env(
    server: FakeLambda, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PERDURE_URL", server.url)
    assert run(capsys, "executions", "get", EXEC_ARN, "--json")[0] == 0
    assert server.last().path == f"/2025-12-01/durable-executions/{EXEC_ARN}"


def test_bad_url(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "executions", "get", EXEC_ARN, "--url", "127.0.0.1:9000")
    assert code == 2
    assert "--url must start with http:// or https://" in err


# --------------------------------------------------------------------------- executions


def test_get_json(server: FakeLambda, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "executions", "get", EXEC_ARN, "--url", server.url, "--json")
    assert code == 0
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
    code, out, _ = run(
        capsys, "executions", "get", EXEC_ARN, "--url", server.url, "--json", "--no-data"
    )
    assert code == 0
    assert server.last().query == {"IncludeExecutionData": ["false"]}
    assert "Result" not in json.loads(out)


def test_get_table(server: FakeLambda, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "executions", "get", EXEC_ARN, "--url", server.url)
    assert code == 0
    flat = "".join(out.split())
    for text in (
        "order-17",
        "SUCCEEDED",
        "2026-01-0100:00:00.500Z",
        '"shipped"',
        "3600s",
        "14days",
    ):
        assert text in flat, out
    assert "".join(EXEC_ARN.split()) in flat


def test_api_error(server: FakeLambda, capsys: pytest.CaptureFixture[str]) -> None:
    arn = EXEC_ARN.replace("order-17", "missing")
    code, out, err = run(capsys, "executions", "get", arn, "--url", server.url)
    assert code == 1
    assert out == ""
    assert err == f"error: ResourceNotFoundException: Durable execution not found: {arn}\n"


def test_not_a_perdure_server(server: FakeLambda, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "callback", "heartbeat", "x", "--url", server.url + "/elsewhere")
    assert code == 1
    assert err.startswith("error: 404: ")
    assert "a perdure server?" in err


def test_history_json_follows_pages(server: FakeLambda, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "executions", "history", EXEC_ARN, "--url", server.url, "--json")
    assert code == 0
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
    code, out, _ = run(capsys, "executions", "history", EXEC_ARN, "--url", server.url)
    assert code == 0
    flat = "".join(out.split())
    for text in (
        "ExecutionStarted",
        "CallbackStarted(Callback)",
        "approval",
        "00:00:00.750",
        "Error=CardDeclined:no",
        "RetryDetails.CurrentAttempt=1",
        'Input={"order":17}',
        'Result="shipped"',
        "ExecutionSucceeded",
    ):
        assert text in flat, out
    # The open callback's id is printed whole on its own line, ready to copy.
    assert f"\n  approval  {CALLBACK_ID}\n" in out
    assert OP_ID not in flat  # operation ids are shortened


def test_list(server: FakeLambda, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "executions",
        "list",
        "--function",
        "ProcessFn",
        "--status",
        "running,failed",
        "--name",
        "order-18",
        "--url",
        server.url,
        "--json",
    )
    assert code == 0
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
    code, out, _ = run(
        capsys,
        "executions",
        "list",
        "--function",
        "ProcessFn",
        "--url",
        server.url,
        "--max-items",
        "1",
    )
    assert code == 0
    assert "order-17" in out and "SUCCEEDED" in out
    assert "order-18" not in out


def test_list_across_functions(server: FakeLambda, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "executions", "list", "--status", "running", "--url", server.url, "--json")
    assert code == 0
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
    code, out, _ = run(
        capsys,
        "executions",
        "stop",
        EXEC_ARN,
        "--url",
        server.url,
        "--json",
        "--error-type",
        "Cancelled",
        "--error-message",
        "by operator",
    )
    assert code == 0
    request = server.last()
    assert (request.method, request.path) == (
        "POST",
        f"/2025-12-01/durable-executions/{EXEC_ARN}/stop",
    )
    assert json.loads(request.body) == {"ErrorType": "Cancelled", "ErrorMessage": "by operator"}
    assert json.loads(out) == {"StopTimestamp": "2026-01-01T00:00:05.500000+00:00"}
    code, out, _ = run(capsys, "executions", "stop", EXEC_ARN, "--url", server.url)
    assert out.startswith(f"stopped {EXEC_ARN} at 2026-01-01 00:00:05.500Z")


# --------------------------------------------------------------------------- invoke


def test_invoke_sync_json(server: FakeLambda, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "invoke",
        "ProcessFn",
        "--payload",
        '{"order": 17}',
        "--name",
        "order-17",
        "--url",
        server.url,
        "--json",
    )
    assert code == 0
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
    code, out, _ = run(capsys, "invoke", "ProcessFn", "--url", server.url)
    assert code == 0
    assert json.loads(server.last().body) == {}
    flat = "".join(out.split())
    assert "SUCCEEDED" in flat
    assert '{"echo":{}}' in flat
    assert "".join(EXEC_ARN.split()) in flat


def test_invoke_async(server: FakeLambda, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "invoke", "ProcessFn", "--async", "--url", server.url)
    assert code == 0
    assert server.last().headers["x-amz-invocation-type"] == "Event"
    assert "STARTED" in out
    assert f"perdure executions get {EXEC_ARN.rsplit('/', 1)[-1]}" in out.replace("\n", "")
    code, out, _ = run(capsys, "invoke", "ProcessFn", "--async", "--url", server.url, "--json")
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


# --------------------------------------------------------------------------- callbacks


def test_callback_succeed(server: FakeLambda, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "callback",
        "succeed",
        CALLBACK_ID,
        "--payload",
        '{"approved": true}',
        "--url",
        server.url,
    )
    assert code == 0
    request = server.last()
    assert (request.method, request.path) == (
        "POST",
        f"/2025-12-01/durable-execution-callbacks/{CALLBACK_ID}/succeed",
    )
    assert request.body == b'{"approved": true}'  # the raw result bytes
    assert out == f"callback {CALLBACK_ID}: succeeded\n"


def test_callback_succeed_raw_and_empty(
    server: FakeLambda, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "callback", "succeed", "cb", "--payload", "plain text")
    assert code == 2 and "not valid JSON" in err
    run(
        capsys, "callback", "succeed", "cb", "--payload", "plain text", "--raw", "--url", server.url
    )
    assert server.last().body == b"plain text"
    code, out, _ = run(capsys, "callback", "succeed", "cb", "--url", server.url, "--json")
    assert code == 0
    assert server.last().body == b""
    assert json.loads(out) == {}


def test_callback_fail(server: FakeLambda, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "callback",
        "fail",
        CALLBACK_ID,
        "--error-type",
        "Rejected",
        "--error-message",
        "no budget",
        "--error-data",
        '{"limit": 5}',
        "--url",
        server.url,
    )
    assert code == 0
    request = server.last()
    assert request.path.endswith(f"/{CALLBACK_ID}/fail")
    assert json.loads(request.body) == {
        "ErrorType": "Rejected",
        "ErrorMessage": "no budget",
        "ErrorData": '{"limit": 5}',
    }
    assert out == f"callback {CALLBACK_ID}: failed\n"


def test_callback_heartbeat(server: FakeLambda, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "callback", "heartbeat", CALLBACK_ID, "--url", server.url)
    assert code == 0
    assert server.last().path.endswith(f"/{CALLBACK_ID}/heartbeat")
    assert out == f"callback {CALLBACK_ID}: heartbeat sent\n"


# --------------------------------------------------------------------------- process


def _subprocess_env() -> dict[str, str]:
    src = str(Path(cli.__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    return env


def test_python_dash_m(server: FakeLambda) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "perdure",
            "executions",
            "get",
            EXEC_ARN,
            "--url",
            server.url,
            "--json",
        ],
        capture_output=True,
        text=True,
        env=_subprocess_env(),
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["Status"] == "SUCCEEDED"


def test_client_commands_do_not_import_the_server(server: FakeLambda) -> None:
    code = (
        "import sys\n"
        "from perdure.cli import main\n"
        f"rc = main(['executions', 'get', {EXEC_ARN!r}, '--url', {server.url!r}, '--json'])\n"
        "assert rc == 0, rc\n"
        "assert 'perdure.http.server' not in sys.modules\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=_subprocess_env(),
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_cli_module_exports() -> None:
    assert cli.DEFAULT_URL == "http://127.0.0.1:9000"


def test_event_details_summary() -> None:
    event = {
        "EventType": "StepSucceeded",
        "StepSucceededDetails": {
            "Result": {"Truncated": False},
            "RetryDetails": {"CurrentAttempt": 2},
        },
    }
    assert event_details(event) == "RetryDetails.CurrentAttempt=2"
    event = {
        "EventType": "ExecutionSucceeded",
        "ExecutionSucceededDetails": {"Result": {"Payload": "x" * 200, "Truncated": True}},
    }
    summary = event_details(event)
    assert summary.startswith("Result(truncated)=xxx")
    assert summary.endswith("…") and len(summary) < 120
    assert event_details({"EventType": "WaitCancelled", "WaitCancelledDetails": {}}) == ""
