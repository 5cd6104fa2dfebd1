"""SigV4 authentication against a real ``perdure serve --auth`` process, with real boto3
clients: what each key may do, and the errors AWS answers when a signature is missing,
unknown, wrong or stale."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import pytest
from botocore import UNSIGNED
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.support import (
    ROOT,
    Serve,
    credential,
    serving_with_auth,
    wait_for_event,
    wait_for_status,
)

ADMIN = ("AKIAPERDUREADMIN", "admin-secret-0123456789abcdef")
CALLBACKS = ("AKIAPERDURECALLBACKS", "callback-secret-0123456789abcdef")
HELLO_ONLY = ("AKIAPERDUREHELLO", "hello-secret-0123456789abcdef")
HELLO_CALLBACKS = ("AKIAPERDUREHELLOCB", "hello-cb-secret-0123456789abcdef")

CREDENTIALS = (
    credential(ADMIN, ["lambda:*"], name="admin"),
    credential(CALLBACKS, ["lambda:SendDurableExecutionCallback*"], name="approver"),
    credential(
        HELLO_ONLY,
        ["lambda:InvokeFunction", "lambda:GetDurableExecution*", "lambda:ListDurableExecutionsByFunction"],
        ["arn:aws:lambda:*:*:function:Hello"],
    ),
    credential(HELLO_CALLBACKS, ["lambda:SendDurableExecutionCallback*"], ["Hello"]),
)


def client(url: str, key: tuple[str, str] | None, **config: Any) -> Any:
    options: dict[str, Any] = {"retries": {"total_max_attempts": 1}, "read_timeout": 60, **config}
    keys = {"aws_access_key_id": key[0], "aws_secret_access_key": key[1]} if key else {}
    if key is None:
        options["signature_version"] = UNSIGNED
    return boto3.client(
        "lambda", endpoint_url=url, region_name="us-east-1", config=Config(**options), **keys
    )


def code_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    response = excinfo.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Message"],
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    with serving_with_auth(tmp_path_factory.mktemp("serve"), *CREDENTIALS) as serve:
        yield serve


def test_admin_runs_and_reads_and_callback_key_only_completes(server: Serve, tmp_path: Path) -> None:
    admin = client(server.url, ADMIN)
    approver = client(server.url, CALLBACKS)
    response = admin.invoke(FunctionName="Approval", InvocationType="Event", Payload=b'{"timeout": 60}')
    arn = response["DurableExecutionArn"]
    started = wait_for_event(admin, arn, "CallbackStarted")
    callback_id = started["CallbackStartedDetails"]["CallbackId"]

    # The callback-only key reads nothing and runs nothing...
    for call in (
        lambda: approver.get_durable_execution(DurableExecutionArn=arn),
        lambda: approver.get_durable_execution_history(DurableExecutionArn=arn),
        lambda: approver.list_durable_executions_by_function(FunctionName="Approval"),
        lambda: approver.invoke(FunctionName="Approval", InvocationType="Event", Payload=b"{}"),
        lambda: approver.stop_durable_execution(DurableExecutionArn=arn),
    ):
        with pytest.raises(ClientError) as excinfo:
            call()
        code, status, message = code_of(excinfo)
        assert (code, status) == ("AccessDeniedException", 403)
        assert "User: approver is not authorized to perform: lambda:" in message
        assert "because no identity-based policy allows" in message

    # A callback key for another function's executions cannot complete it, nor probe
    # for callback ids; the key for every function learns only that an id is unknown.
    hello_callbacks = client(server.url, HELLO_CALLBACKS)
    for callback in (callback_id, "f" * 48):
        with pytest.raises(ClientError) as excinfo:
            hello_callbacks.send_durable_execution_callback_success(CallbackId=callback, Result=b"no")
        assert code_of(excinfo)[0] == "AccessDeniedException"
    with pytest.raises(ClientError) as excinfo:
        approver.send_durable_execution_callback_success(CallbackId="f" * 48, Result=b"no")
    assert code_of(excinfo)[0] == "ResourceNotFoundException"
    assert f"on resource: {arn}" in _denied_message(hello_callbacks, callback_id)

    # ...and completes the callback.
    approver.send_durable_execution_callback_heartbeat(CallbackId=callback_id)
    approver.send_durable_execution_callback_success(CallbackId=callback_id, Result=b"yes")
    done = wait_for_status(admin, arn)
    assert done["Status"] == "SUCCEEDED", done
    assert json.loads(done["Result"]) == {"approved": "yes"}
    # Paginated history: a signed GET with a query string and an encoded ARN in the path.
    page = admin.get_durable_execution_history(DurableExecutionArn=arn, MaxItems=2)
    marker = page["NextMarker"]
    rest = admin.get_durable_execution_history(DurableExecutionArn=arn, MaxItems=2, Marker=marker)
    assert rest["Events"] and rest["Events"][0]["EventId"] != page["Events"][0]["EventId"]


def test_resources_limit_a_key_to_its_functions(server: Serve) -> None:
    hello = client(server.url, HELLO_ONLY)
    result = hello.invoke(FunctionName="Hello", Payload=json.dumps({"name": "auth"}).encode())
    assert "FunctionError" not in result
    arn = result["DurableExecutionArn"]
    assert hello.get_durable_execution(DurableExecutionArn=arn)["Status"] == "SUCCEEDED"
    assert hello.list_durable_executions_by_function(FunctionName="Hello")["DurableExecutions"]
    with pytest.raises(ClientError) as excinfo:
        hello.invoke(FunctionName="Sequential", InvocationType="Event", Payload=b"{}")
    code, _, message = code_of(excinfo)
    assert code == "AccessDeniedException"
    assert "lambda:InvokeFunction on resource: arn:aws:lambda:us-east-1:000000000000:function:Sequential" in message
    with pytest.raises(ClientError) as excinfo:
        hello.stop_durable_execution(DurableExecutionArn=arn)  # an action it was not given
    assert code_of(excinfo)[0] == "AccessDeniedException"


def test_unsigned_unknown_key_wrong_secret(server: Serve) -> None:
    cases = [
        (None, "MissingAuthenticationTokenException", 403),
        (("AKIANOSUCHKEY", ADMIN[1]), "UnrecognizedClientException", 403),
        ((ADMIN[0], "not-the-secret-at-all"), "InvalidSignatureException", 403),
    ]
    for key, expected, status in cases:
        lam = client(server.url, key)
        for call in (
            lambda lam=lam: lam.list_durable_executions_by_function(FunctionName="Hello"),
            lambda lam=lam: lam.invoke(FunctionName="Hello", Payload=b"{}"),
        ):
            with pytest.raises(ClientError) as excinfo:
                call()
            assert code_of(excinfo)[:2] == (expected, status), code_of(excinfo)
    # Nothing ran for them.
    listed = client(server.url, ADMIN).list_durable_executions_by_function(FunctionName="Hello")
    assert all(e["Status"] == "SUCCEEDED" for e in listed["DurableExecutions"])


@pytest.mark.parametrize(("minutes", "words"), [(-6, "Signature expired"), (6, "Signature not yet current")])
def test_stale_signatures_are_refused(server: Serve, minutes: int, words: str) -> None:
    lam = client(server.url, ADMIN)
    skewed = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(minutes=minutes)
    with mock.patch("botocore.auth.get_current_datetime", return_value=skewed), pytest.raises(ClientError) as excinfo:
        lam.list_durable_executions_by_function(FunctionName="Hello")
    code, status, message = code_of(excinfo)
    assert (code, status) == ("InvalidSignatureException", 403)
    assert message.startswith(words)
    # Four minutes off is within the allowed skew.
    near = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(minutes=4 if minutes > 0 else -4)
    with mock.patch("botocore.auth.get_current_datetime", return_value=near):
        lam.list_durable_executions_by_function(FunctionName="Hello")


def _signed(url: str, body: bytes, key: tuple[str, str], service: str = "lambda") -> dict[str, str]:
    request = AWSRequest(method="POST", url=url, data=body)
    SigV4Auth(Credentials(*key), service, "us-east-1").add_auth(request)
    return dict(request.headers.items())


def _send(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, "", json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("x-amzn-ErrorType", ""), json.loads(exc.read())


def test_a_body_changed_after_signing_is_refused(server: Serve) -> None:
    url = f"{server.url}/2015-03-31/functions/Hello/invocations"
    headers = _signed(url, b'{"name": "signed"}', ADMIN)
    status, code, body = _send(url, b'{"name": "forged"}', headers)
    assert (status, code) == (403, "InvalidSignatureException"), body
    status, code, body = _send(url, b'{"name": "signed"}', headers)
    assert status == 200, body


def test_scope_must_name_this_service(server: Serve) -> None:
    url = f"{server.url}/2015-03-31/functions/Hello/invocations"
    status, code, body = _send(url, b"{}", _signed(url, b"{}", ADMIN, service="s3"))
    assert (status, code) == (403, "InvalidSignatureException")
    assert "scoped to correct service" in body["message"]
    headers = {"Authorization": "AWS4-HMAC-SHA256 Credential=x", "Content-Type": "application/json"}
    status, code, _ = _send(url, b"{}", headers)
    assert (status, code) == (400, "IncompleteSignatureException")


def test_ping_answers_health_checks_without_naming_functions(server: Serve) -> None:
    with urllib.request.urlopen(f"{server.url}/ping", timeout=10) as response:
        assert json.loads(response.read()) == {"status": "ok"}


def test_keys_rotate_without_a_restart(tmp_path: Path) -> None:
    auth = tmp_path / "auth.toml"
    old = ("AKIAPERDUREOLD", "old-secret-0123456789abcdef")
    new = ("AKIAPERDURENEW", "new-secret-0123456789abcdef")

    def write(*keys: tuple[str, str]) -> None:
        auth.write_text("".join(credential(key, ["lambda:ListDurableExecutionsByFunction"]) for key in keys))

    write(old)
    serve = Serve(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "serve.log", "--workers", "1", "--auth", str(auth))
    serve.start()
    try:
        client(serve.url, old).list_durable_executions_by_function(FunctionName="Hello")
        write(old, new)  # step 1: add the new key beside the old one
        _eventually(lambda: client(serve.url, new).list_durable_executions_by_function(FunctionName="Hello"))
        client(serve.url, old).list_durable_executions_by_function(FunctionName="Hello")
        write(new)  # step 2: once every client has the new key, drop the old one
        _eventually(lambda: _expect_refused(serve.url, old))
        with pytest.raises(ClientError) as excinfo:
            client(serve.url, old).list_durable_executions_by_function(FunctionName="Hello")
        assert code_of(excinfo)[0] == "UnrecognizedClientException"
        auth.write_text("not toml [")  # a broken file keeps the keys in force
        time.sleep(1.5)
        client(serve.url, new).list_durable_executions_by_function(FunctionName="Hello")
        assert "keeping the previous credentials" in serve.log()
    finally:
        serve.stop()


def _expect_refused(url: str, key: tuple[str, str]) -> None:
    try:
        client(url, key).list_durable_executions_by_function(FunctionName="Hello")
    except ClientError:
        return
    raise AssertionError("still accepted")


def _eventually(action: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            action()
            return
        except (ClientError, AssertionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PERDURE_"))}
    return subprocess.run(
        [sys.executable, "-m", "perdure", *args],
        capture_output=True, text=True, timeout=60, check=False, cwd=ROOT,
        env={**base, "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", **env},
    )


def test_cli_signs_with_configured_credentials(server: Serve, tmp_path: Path) -> None:
    listing = ["executions", "list", "--function", "Hello", "--url", server.url, "--json"]
    unsigned = _cli(listing, {})
    assert unsigned.returncode == 1
    assert "UnrecognizedClientException" in unsigned.stderr
    by_env = _cli(listing, {"AWS_ACCESS_KEY_ID": ADMIN[0], "AWS_SECRET_ACCESS_KEY": ADMIN[1]})
    assert by_env.returncode == 0, by_env.stderr
    assert isinstance(json.loads(by_env.stdout), list | dict)
    credentials = tmp_path / "credentials"
    credentials.write_text(f"[perdure]\naws_access_key_id = {HELLO_ONLY[0]}\naws_secret_access_key = {HELLO_ONLY[1]}\n")
    by_profile = _cli(listing, {"AWS_SHARED_CREDENTIALS_FILE": str(credentials), "PERDURE_PROFILE": "perdure"})
    assert by_profile.returncode == 0, by_profile.stderr
    denied = _cli(["executions", "list", "--function", "Sequential", "--url", server.url],
                  {"AWS_SHARED_CREDENTIALS_FILE": str(credentials), "PERDURE_PROFILE": "perdure"})
    assert denied.returncode == 1 and "AccessDeniedException" in denied.stderr
    missing = _cli(listing, {"PERDURE_PROFILE": "nosuchprofile"})
    assert missing.returncode == 2 and "nosuchprofile" in missing.stderr


def test_malformed_signatures_get_a_4xx_never_a_crash(server: Serve) -> None:
    import http.client

    now = dt.datetime.now(dt.UTC)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    scope = f"{ADMIN[0]}/{day}/us-east-1/lambda/aws4_request"
    good = f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host;x-amz-date, Signature={'0' * 64}"
    cases: list[tuple[bytes, bytes, int, str]] = [
        (b"Basic dXNlcjpwYXNz", amz_date.encode(), 400, "IncompleteSignatureException"),
        (b"AWS4-HMAC-SHA256", amz_date.encode(), 400, "IncompleteSignatureException"),
        (b"AWS4-HMAC-SHA256 Credential=a/b/c, SignedHeaders=host, Signature=00", amz_date.encode(), 400, "IncompleteSignatureException"),
        (good.encode(), b"", 400, "IncompleteSignatureException"),
        (good.encode(), b"yesterday", 400, "IncompleteSignatureException"),
        (good.encode(), b"20200101T000000Z", 403, "InvalidSignatureException"),  # scope date differs
        (good.replace("host;", "").encode(), amz_date.encode(), 403, "InvalidSignatureException"),
        (good.replace("aws4_request", "aws5_request").encode(), amz_date.encode(), 403, "InvalidSignatureException"),
        (good.replace("Signature=" + "0" * 64, "Signature=\xff\xfe").encode("latin-1"), amz_date.encode(), 403, "InvalidSignatureException"),
        (good.replace("x-amz-date", "x-amz-date;x-missing").encode(), amz_date.encode(), 403, "InvalidSignatureException"),
        (good.replace(ADMIN[0], "\xe9\xff").encode("latin-1"), amz_date.encode(), 403, "UnrecognizedClientException"),
        (good.encode(), amz_date.encode(), 403, "InvalidSignatureException"),
    ]
    paths = ["/2015-03-31/functions/Hello/invocations", "/2025-12-01/durable-execution-callbacks/%FF%00../succeed",
             "/2025-12-01/durable-executions/..%2F..%2Fetc%2Fpasswd/stop", "/nowhere"]
    tried = 0
    for path in paths:
        for authorization, date, status, code in cases:
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            try:
                connection.putrequest("POST", path)
                connection.putheader("Authorization", authorization)
                if date:
                    connection.putheader("X-Amz-Date", date)
                connection.putheader("Content-Type", "application/json")
                connection.putheader("Content-Length", "2")
                connection.endheaders(b"{}")
                response = connection.getresponse()
                body = response.read()
            finally:
                connection.close()
            tried += 1
            assert (response.status, response.getheader("x-amzn-ErrorType")) == (status, code), (path, authorization, body)
            assert "Traceback" not in body.decode("latin-1") and json.loads(body)["message"]
    assert tried == len(paths) * len(cases)
    assert "Traceback" not in server.log()
    client(server.url, ADMIN).list_durable_executions_by_function(FunctionName="Hello")


def _denied_message(lam: Any, callback_id: str) -> str:
    with pytest.raises(ClientError) as excinfo:
        lam.send_durable_execution_callback_heartbeat(CallbackId=callback_id)
    return code_of(excinfo)[2]
