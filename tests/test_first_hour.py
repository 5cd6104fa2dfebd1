"""A new user's first hour (issue 15): client retries, start-up checks, what the CLI
tells about an execution, advancing timers, stack traces, unsupported operations.

Everything runs against real ``perdure serve`` processes on SQLite files.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ReadTimeoutError

from perdure.cli import main
from perdure.http.idempotency import InvocationDedup, invoke_key
from tests.support import HANDLERS, Server, wait_for_status

TEMPLATE = HANDLERS / "first_hour.yaml"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(tmp_path_factory.mktemp("first-hour") / "perdure.db", template=TEMPLATE, workers=2)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def cli(capsys: pytest.CaptureFixture[str], srv: Server, *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--url", srv.url])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def names_of(client: Any, function: str) -> list[str]:
    page = client.list_durable_executions_by_function(FunctionName=function)
    return [e["DurableExecutionArn"] for e in page["DurableExecutions"]]


# --------------------------------------------------------------------------- client retries


def test_dedup_returns_the_first_result_within_the_window() -> None:
    now = [0.0]
    dedup = InvocationDedup(window_s=60, clock=lambda: now[0])
    calls: list[int] = []

    def start() -> int:
        calls.append(1)
        time.sleep(0.05)
        return len(calls)

    key = invoke_key("Fn", "id-1", None)
    results: list[tuple[int, bool]] = []
    threads = [threading.Thread(target=lambda: results.append(dedup.once(key, start))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [(1, False), (1, False), (1, False), (1, True)]
    assert dedup.once(invoke_key("Fn", "id-2", None), start) == (2, True)
    assert dedup.once(invoke_key("Other", "id-1", None), start) == (3, True)
    now[0] = 61
    assert dedup.once(key, start) == (4, True)  # the window has passed
    assert invoke_key("Fn", None, None) is None
    assert dedup.once(None, start) == (5, True)


def test_client_retries_of_a_synchronous_invoke_start_one_execution(srv: Server, tmp_path: Path) -> None:
    """boto3 (read_timeout=3, its default retries) and the AWS CLI (--cli-read-timeout 3)
    each retry a synchronous Invoke of a 20 s execution; each call makes one execution."""
    client = boto3.client(
        "lambda", endpoint_url=srv.url, region_name="us-east-1",
        aws_access_key_id="x", aws_secret_access_key="x",
        config=Config(read_timeout=3, connect_timeout=3),
    )
    attempts: list[str] = []
    client.meta.events.register("before-send.lambda.Invoke", lambda request, **_: attempts.append(request.headers["amz-sdk-invocation-id"].decode()))
    aws = shutil.which("aws")
    aws_run: dict[str, Any] = {}

    def run_aws() -> None:
        assert aws is not None
        env = {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1",
               "PATH": "/usr/bin:/bin:" + str(Path(aws).parent), "HOME": str(tmp_path)}
        aws_run["proc"] = subprocess.run(
            [aws, "lambda", "invoke", "--endpoint-url", srv.url, "--cli-read-timeout", "3",
             "--function-name", "Slow", "--payload", '{"seconds": 20}', str(tmp_path / "out.json")],
            capture_output=True, text=True, timeout=120, env=env,
        )

    thread = threading.Thread(target=run_aws) if aws else None
    if thread:
        thread.start()
    with pytest.raises(ReadTimeoutError):
        client.invoke(FunctionName="Slow", Payload=b'{"seconds": 20}')
    assert len(attempts) >= 2 and len(set(attempts)) == 1, attempts  # botocore did retry
    if thread:
        thread.join()
        # Its retries either outlast the execution (it prints the one execution's
        # result) or give up; either way they started no second execution.
        proc = aws_run["proc"]
        assert proc.returncode == 0 or "Read timeout" in proc.stderr, proc.stderr
    arns = names_of(srv.client(), "Slow")
    assert len(arns) == (2 if aws else 1), arns
    for arn in arns:
        assert wait_for_status(srv.client(), arn, 40)["Status"] == "SUCCEEDED"
    if not aws:
        pytest.skip("the AWS CLI is not installed: its part of this test did not run (boto3's did)")


# --------------------------------------------------------------------------- the CLI tells


def test_get_by_name_shows_what_it_waits_on_and_advance_moves_it(
    srv: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    client = srv.client()
    arn = client.invoke(FunctionName="Order", InvocationType="Event", Payload=b'{"id": 7}',
                        DurableExecutionName="first-hour")["DurableExecutionArn"]
    other = client.invoke(FunctionName="Order2", InvocationType="Event", Payload=b'{"id": 8}',
                          DurableExecutionName="first-hour")["DurableExecutionArn"]
    execution_id = arn.rsplit("/", 1)[-1]

    code, _, err = cli(capsys, srv, "executions", "get", "first-hour")
    assert code == 1 and "pass --function" in err and "Order2" in err

    deadline = time.monotonic() + 20
    while True:
        code, out, err = cli(capsys, srv, "executions", "get", "first-hour", "--function", "Order")
        assert code == 0, err
        if "wait cool-off: due" in out or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert arn in out
    assert "wait cool-off: due " in out and "(in 60 min)" in out
    assert f"perdure executions advance {execution_id}" in out

    code, out, err = cli(capsys, srv, "executions", "advance", execution_id[:10])
    assert code == 0, err
    assert "advanced wait cool-off" in out

    deadline = time.monotonic() + 20
    while True:
        code, out, _ = cli(capsys, srv, "executions", "get", "first-hour", "--function", "Order")
        if "callback approve" in out or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    line = next(text for text in out.splitlines() if "callback approve" in text)
    callback_id = line.split("id ", 1)[1].split(";", 1)[0]
    assert f"perdure callback succeed {callback_id}" in line

    code, out, _ = cli(capsys, srv, "executions", "history", arn)
    assert "TimerAdvanced" in out
    assert 'Result={"order": 7, "reserved": true}' in out  # the SDK's envelope unwrapped

    code, out, err = cli(capsys, srv, "executions", "list")
    assert code == 0, err
    assert out.index(other) < out.index(arn)  # across functions, newest first

    code, out, err = cli(capsys, srv, "callback", "succeed", "--execution", "first-hour", "--function", "Order",
                         "approve", "--payload", 'true')
    assert code == 0, err
    assert wait_for_status(client, arn)["Status"] == "SUCCEEDED"
    code, out, _ = cli(capsys, srv, "executions", "get", execution_id[:8])
    assert 'Result             {"order": {"order": 7, "reserved": true}, "approved": "true"}' in out

    code, _, err = cli(capsys, srv, "executions", "advance", arn)
    assert code == 1 and "nothing to advance" in err
    code, _, err = cli(capsys, srv, "executions", "get", "no-such-execution")
    assert code == 1 and "ResourceNotFoundException" in err
    client.stop_durable_execution(DurableExecutionArn=other)


def test_advance_a_step_retry(srv: Server, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    client = srv.client()
    payload = json.dumps({"marker": str(tmp_path / "failed-once")}).encode()
    arn = client.invoke(FunctionName="RetryLater", InvocationType="Event", Payload=payload)["DurableExecutionArn"]
    deadline = time.monotonic() + 20
    while True:
        code, out, _ = cli(capsys, srv, "executions", "get", arn)
        if "retry of step charge" in out or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert "retry of step charge: attempt 2 at" in out and "card service unavailable" in out
    code, out, err = cli(capsys, srv, "executions", "advance", arn, "--operation", "charge")
    assert code == 0, err
    assert "advanced retry of step charge" in out
    assert wait_for_status(client, arn)["Status"] == "SUCCEEDED"
    # The Lambda API gives AWS's event types only (AWS's testing kits know no others);
    # perdure's CLI asks for its own too.
    events = client.get_durable_execution_history(DurableExecutionArn=arn)["Events"]
    kinds = [e["EventType"] for e in events]
    assert "TimerAdvanced" not in kinds and "StepSucceeded" in kinds
    code, out, _ = cli(capsys, srv, "executions", "history", arn)
    assert code == 0 and out.index("TimerAdvanced") < out.index("StepSucceeded"), out


def test_failed_step_keeps_its_stack_trace(srv: Server, capsys: pytest.CaptureFixture[str]) -> None:
    client = srv.client()
    arn = client.invoke(FunctionName="BrokenStep", InvocationType="Event", Payload=b"{}")["DurableExecutionArn"]
    assert wait_for_status(client, arn)["Status"] == "FAILED"
    events = client.get_durable_execution_history(DurableExecutionArn=arn)["Events"]
    failed = next(e for e in events if e["EventType"] == "StepFailed")
    stack = failed["StepFailedDetails"]["Error"]["Payload"]["StackTrace"]
    assert any("first_hour.py" in line for line in stack), stack
    assert any("KeyError" in line for line in stack), stack
    _, out, _ = cli(capsys, srv, "executions", "get", arn)
    assert "stack trace:" in out and "first_hour.py" in out
    _, out, _ = cli(capsys, srv, "executions", "history", arn)
    assert "stack trace of event" in out and "explode" in out


def test_invoke_prints_the_arn_then_what_it_waits_on(srv: Server, tmp_path: Path) -> None:
    """A real ``perdure invoke`` process, interrupted with Ctrl-C (SIGINT)."""
    import os
    import signal

    proc = subprocess.Popen(
        [sys.executable, "-m", "perdure", "invoke", "Order", "--payload", '{"id": 3}', "--url", srv.url],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if "wait cool-off: due" in line:
            break
    assert lines[0].startswith("execution arn:aws:lambda:"), lines
    arn = lines[0].split()[1]
    os.kill(proc.pid, signal.SIGINT)
    rest, _ = proc.communicate(timeout=15)
    assert proc.returncode == 130
    assert "the execution continues on the server" in rest
    assert f"perdure executions get {arn.rsplit('/', 1)[-1]}" in rest
    assert srv.client().get_durable_execution(DurableExecutionArn=arn)["Status"] == "RUNNING"
    srv.client().stop_durable_execution(DurableExecutionArn=arn)


def test_unsupported_operations_say_so(srv: Server) -> None:
    client = srv.client()
    with pytest.raises(ClientError) as caught:
        client.get_account_settings()
    error = caught.value.response
    assert error["Error"]["Code"] == "UnsupportedOperationException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert "does not implement lambda:GetAccountSettings" in error["Error"]["Message"]


# --------------------------------------------------------------------------- fail early


def _serve(tmp_path: Path, template: Path, *extra: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "perdure", "serve", "-t", str(template), *extra],
        capture_output=True, text=True, timeout=timeout, cwd=tmp_path,
    )


def _template(tmp_path: Path, handler: str, code: str) -> Path:
    (tmp_path / "src").mkdir(exist_ok=True)
    (tmp_path / "src" / "app.py").write_text(code)
    template = tmp_path / "template.yaml"
    template.write_text(
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  Broken:\n    Type: AWS::Serverless::Function\n"
        f"    Properties:\n      CodeUri: src/\n      Handler: {handler}\n      DurableConfig: {{ExecutionTimeout: 60}}\n"
    )
    return template


def test_serve_refuses_a_handler_with_a_syntax_error(tmp_path: Path) -> None:
    template = _template(tmp_path, "app.handler", "def reserve(x):\n    return x\n\ndef handler(event, context)\n    pass\n")
    db = tmp_path / "db.sqlite"
    started = time.monotonic()
    done = _serve(tmp_path, template, "--db", f"sqlite:///{db}", "--port", "0")
    assert done.returncode == 2, done.stderr
    assert time.monotonic() - started < 30
    assert "Broken (Handler: app.handler" in done.stderr
    assert f"{tmp_path / 'src' / 'app.py'}, line 4: SyntaxError" in done.stderr
    assert "Traceback" not in done.stderr
    assert not db.exists()


def test_serve_refuses_a_handler_that_is_not_there(tmp_path: Path) -> None:
    template = _template(tmp_path, "app.handlr", "def handler(event, context):\n    return 1\n")
    done = _serve(tmp_path, template, "--db", f"sqlite:///{tmp_path / 'db.sqlite'}", "--port", "0")
    assert done.returncode == 2
    assert "app.py has no function 'handlr'" in done.stderr
    template = _template(tmp_path, "ap.handler", "def handler(event, context):\n    return 1\n")
    done = _serve(tmp_path, template, "--db", f"sqlite:///{tmp_path / 'db.sqlite'}", "--port", "0")
    assert done.returncode == 2
    assert "no module 'ap' found" in done.stderr
    template = _template(tmp_path, "app.handler", "import no_such_module_here\n")
    done = _serve(tmp_path, template, "--db", f"sqlite:///{tmp_path / 'db.sqlite'}", "--port", "0")
    assert done.returncode == 2
    assert "app.py, line 1: ModuleNotFoundError" in done.stderr


def test_serve_lazy_starts_anyway(tmp_path: Path) -> None:
    template = _template(tmp_path, "app.handler", "def handler(event, context)\n")
    server = Server(tmp_path / "db.sqlite", template=template)
    server.args.append("--lazy")
    server.start().stop()


def test_db_without_scheme_is_one_line(tmp_path: Path) -> None:
    done = _serve(tmp_path, TEMPLATE, "--db", "perdure.db", "--lazy")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert "expected sqlite:///PATH or postgresql://" in done.stderr and "sqlite:///" in done.stderr


def test_busy_port_fails_before_serving_or_creating_a_database(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        db = tmp_path / "new.db"
        done = _serve(tmp_path, TEMPLATE, "--db", f"sqlite:///{db}", "--port", str(port), "--lazy")
    assert done.returncode == 2
    assert f"port {port} on 127.0.0.1 is already in use" in done.stderr
    assert "perdure.http.server" not in done.stderr
    assert not db.exists()


def test_time_scale_runs_waits_faster(tmp_path: Path) -> None:
    server = Server(tmp_path / "db.sqlite", template=TEMPLATE)
    server.args += ["--time-scale", "3600"]
    server.start()
    try:
        assert "--time-scale 3600: waits, retries and callback timeouts run 3600 times faster" in server.log()
        client = server.client()
        arn = client.invoke(FunctionName="Order", InvocationType="Event", Payload=b'{"id": 1}')["DurableExecutionArn"]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            kinds = [e["EventType"] for e in client.get_durable_execution_history(DurableExecutionArn=arn)["Events"]]
            if "CallbackStarted" in kinds:
                break
            time.sleep(0.2)
        assert "WaitSucceeded" in kinds and "CallbackStarted" in kinds  # the hour took a second
        client.stop_durable_execution(DurableExecutionArn=arn)
    finally:
        server.stop()


# --------------------------------------------------------------------------- embedding


def test_runtime_started_at_import_fails_once_with_the_fix(tmp_path: Path) -> None:
    script = tmp_path / "embed.py"
    script.write_text(
        "from perdure.run.runtime import Runtime\nfrom perdure.deploy.template import load_template\n\n"
        f"with Runtime('sqlite:///{tmp_path}/app.db', load_template({str(TEMPLATE)!r})) as rt:\n"
        "    arn = rt.invoke('PlainOk', '{}')\n    print(rt.wait(arn).status)\n"
    )
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 1
    assert time.monotonic() - started < 30
    assert 'if __name__ == "__main__":' in done.stderr
    assert "bootstrapping phase" not in done.stderr
    assert done.stderr.count("a Runtime was started while a worker process was importing") <= 2, done.stderr


# --------------------------------------------------------------------------- invoke answers


def test_plain_function_answers(tmp_path: Path) -> None:
    """A plain function's run: no durable execution ARN; its error carries stackTrace."""
    from perdure.deploy.template import load_template
    from perdure.http.invoke_result import function_error, invoke_headers
    from perdure.run.runtime import Runtime

    with Runtime(f"sqlite:///{tmp_path / 'db.sqlite'}", load_template(TEMPLATE), processes=1) as rt:
        failed = rt.wait(rt.invoke("PlainFails", '{"id": 1}'), timeout=30)
        ok = rt.wait(rt.invoke("PlainOk", '{"id": 2}'), timeout=30)
        durable = rt.wait(rt.invoke("BrokenStep", "{}"), timeout=30)
    assert failed.status == "FAILED" and ok.status == "SUCCEEDED" and durable.status == "FAILED"
    assert "X-Amz-Durable-Execution-Arn" not in invoke_headers(failed)
    assert invoke_headers(durable)["X-Amz-Durable-Execution-Arn"] == durable.arn
    body = function_error(failed)
    assert body["errorType"] == "ValueError" and body["errorMessage"] == "bad input {'id': 1}"
    assert any("first_hour.py" in line and "plain_fails" in line for line in body["stackTrace"]), body
    assert any("first_hour.py" in line for line in function_error(durable)["stackTrace"])


def test_cli_signs_perdure_routes_for_a_server_with_auth(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``serve --auth`` the CLI's lookups are signed like its Lambda calls, and
    advancing needs what stopping needs."""
    from tests.support import Serve

    auth = tmp_path / "auth.toml"
    auth.write_text(
        '[[credentials]]\naccess_key_id = "AKIAFIRSTHOURADMIN"\nsecret_access_key = "admin-secret-0123456789"\n'
        'actions = ["lambda:*"]\nresources = ["*"]\n\n'
        '[[credentials]]\naccess_key_id = "AKIAFIRSTHOURREADER"\nsecret_access_key = "reader-secret-0123456789"\n'
        'actions = ["lambda:InvokeFunction", "lambda:GetDurableExecution*", "lambda:ListDurableExecutionsByFunction"]\n'
        'resources = ["*"]\n'
    )
    auth.chmod(0o600)
    server = Serve(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "serve.log", "--workers", "1",
                   "--auth", str(auth), template=TEMPLATE)
    server.start()
    try:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFIRSTHOURREADER")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "reader-secret-0123456789")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        code, out, err = cli(capsys, server, "invoke", "Order", "--payload", '{"id": 5}', "--name", "signed", "--async")
        assert code == 0, err
        deadline = time.monotonic() + 20
        while True:
            code, out, err = cli(capsys, server, "executions", "get", "signed")
            assert code == 0, err
            if "wait cool-off" in out or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert "wait cool-off: due" in out
        code, _, err = cli(capsys, server, "executions", "advance", "signed")
        assert code == 1 and "AccessDeniedException" in err and "lambda:StopDurableExecution" in err
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFIRSTHOURADMIN")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "admin-secret-0123456789")
        code, out, err = cli(capsys, server, "executions", "advance", "signed")
        assert code == 0 and "advanced wait cool-off" in out, err
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
        code, _, err = cli(capsys, server, "executions", "get", "signed")
        assert code == 1 and "InvalidSignatureException" in err
    finally:
        server.stop()
