"""The same credentials for the CloudWatch Logs (JSON 1.1, ``X-Amz-Target``) and
CloudFormation (query protocol, ``Action=``) compatible endpoints: real boto3 ``logs`` and
``cloudformation`` clients against ``SigV4Middleware`` in a real uvicorn server, in front
of a stand-in for those endpoints that records who got through."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import uvicorn
from botocore.config import Config
from botocore.exceptions import ClientError
from starlette.types import Receive, Scope, Send

from perdure.http.auth import Authenticator, SigV4Middleware, load_auth
from tests.support import free_port

LOGS = ("AKIAPERDURELOGS", "logs-secret-0123456789abcdef")
LAMBDA_ONLY = ("AKIAPERDURELAMBDA", "lambda-secret-0123456789abcdef")
NARROW = ("AKIAPERDURENARROW", "narrow-secret-0123456789abcdef")

STACKS = (
    b'<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">'
    b"<DescribeStacksResult><Stacks/></DescribeStacksResult>"
    b"<ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></DescribeStacksResponse>"
)


class Endpoints:
    """Answers like the Logs and CloudFormation endpoints, and notes each caller."""

    def __init__(self) -> None:
        self.callers: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        self.callers.append(scope["perdure.principal"].principal)
        target = dict(scope["headers"]).get(b"x-amz-target")
        body, content_type = (b'{"logGroups": []}', b"application/x-amz-json-1.1") if target else (STACKS, b"text/xml")
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", content_type)]})
        await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Endpoints]]:
    auth = tmp_path_factory.mktemp("auth") / "auth.toml"
    auth.write_text(
        f'[[credentials]]\nname = "logs"\naccess_key_id = "{LOGS[0]}"\nsecret_access_key = "{LOGS[1]}"\n'
        'actions = ["logs:Describe*", "logs:GetLogEvents", "cloudformation:DescribeStack*"]\nresources = ["*"]\n'
        f'[[credentials]]\naccess_key_id = "{LAMBDA_ONLY[0]}"\nsecret_access_key = "{LAMBDA_ONLY[1]}"\n'
        'actions = ["lambda:*"]\nresources = ["*"]\n'
        f'[[credentials]]\naccess_key_id = "{NARROW[0]}"\nsecret_access_key = "{NARROW[1]}"\n'
        'actions = ["logs:*"]\nresources = ["Hello"]\n'
    )
    endpoints = Endpoints()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(
        SigV4Middleware(endpoints, Authenticator(load_auth(auth))), host="127.0.0.1", port=port, log_level="warning",
    ))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive()
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", endpoints
    finally:
        server.should_exit = True
        thread.join(10)


def _client(service: str, url: str, key: tuple[str, str]) -> Any:
    return boto3.client(
        service, endpoint_url=url, region_name="us-east-1", aws_access_key_id=key[0],
        aws_secret_access_key=key[1], config=Config(retries={"total_max_attempts": 1}),
    )


def test_logs_and_cloudformation_use_the_same_keys(served: tuple[str, Endpoints]) -> None:
    url, endpoints = served
    assert _client("logs", url, LOGS).describe_log_groups()["logGroups"] == []
    assert _client("cloudformation", url, LOGS).describe_stacks()["Stacks"] == []
    assert endpoints.callers == ["logs", "logs"]
    denied = [
        (lambda: _client("logs", url, LAMBDA_ONLY).describe_log_groups(), "AccessDeniedException", "logs:DescribeLogGroups"),
        (lambda: _client("logs", url, LOGS).delete_log_group(logGroupName="x"), "AccessDeniedException", "logs:DeleteLogGroup"),
        # Logs calls name no function: a key limited to some functions has none of them.
        (lambda: _client("logs", url, NARROW).describe_log_groups(), "AccessDeniedException", "logs:DescribeLogGroups"),
        (lambda: _client("cloudformation", url, LAMBDA_ONLY).describe_stacks(), "AccessDenied", "cloudformation:DescribeStacks"),
        (lambda: _client("cloudformation", url, ("AKIANOSUCH", LOGS[1])).describe_stacks(), "InvalidClientTokenId", ""),
        (lambda: _client("cloudformation", url, (LOGS[0], "wrong-secret-0123456789")).describe_stacks(), "SignatureDoesNotMatch", ""),
        (lambda: _client("logs", url, (LOGS[0], "wrong-secret-0123456789")).describe_log_groups(), "InvalidSignatureException", ""),
    ]
    for call, code, action in denied:
        with pytest.raises(ClientError) as excinfo:
            call()
        error = excinfo.value.response["Error"]
        assert error["Code"] == code, error
        assert action in error["Message"]
    assert endpoints.callers == ["logs", "logs"]


def test_auth_file_is_documented_as_loaded(tmp_path: Path) -> None:
    # The example of docs/security.md is a valid auth file.
    text = (Path(__file__).resolve().parents[2] / "docs" / "security.md").read_text()
    example = text.split("```toml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "auth.toml"
    path.write_text(example.replace('secret_access_key = "..."', 'secret_access_key = "0123456789abcdef"'))
    config = load_auth(path)
    assert [c.principal for c in config.credentials.values()] == ["ops", "approver", "podscribe-readers"]
    readers = config.credentials["AKIAPERDUREREAD0001"]
    assert readers.allows("lambda:GetDurableExecutionHistory", ["Transcribe", "arn:aws:lambda:us-east-1:000000000000:function:TranscribeFast"])
    assert not readers.allows("lambda:GetDurableExecutionHistory", ["Publish", "arn:aws:lambda:us-east-1:000000000000:function:Publish"])
    assert readers.allows("lambda:getdurableexecution", ["Pipeline"])
    assert not readers.allows("lambda:StopDurableExecution", ["Pipeline"])
