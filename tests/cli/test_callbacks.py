"""``perdure callback``: succeed, fail and heartbeat."""

from __future__ import annotations

import json

import pytest

from tests.cli.support import (
    CALLBACK_ID,
    FakeLambda,
    ok,
    run,
)

CALLBACKS_PATH = "/2025-12-01/durable-execution-callbacks"


def test_callback_succeed(server: FakeLambda, capsys: pytest.CaptureFixture[str]) -> None:
    out = ok(capsys, "callback", "succeed", CALLBACK_ID, "--payload", '{"approved": true}', "--url", server.url)
    request = server.last()
    assert (request.method, request.path) == ("POST", f"{CALLBACKS_PATH}/{CALLBACK_ID}/succeed")
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
    out = ok(capsys, "callback", "succeed", "cb", "--url", server.url, "--json")
    assert server.last().body == b""
    assert json.loads(out) == {}


def test_callback_fail(server: FakeLambda, capsys: pytest.CaptureFixture[str]) -> None:
    error = ["--error-type", "Rejected", "--error-message", "no budget", "--error-data", '{"limit": 5}']
    out = ok(capsys, "callback", "fail", CALLBACK_ID, *error, "--url", server.url)
    request = server.last()
    assert request.path.endswith(f"/{CALLBACK_ID}/fail")
    assert json.loads(request.body) == {
        "ErrorType": "Rejected",
        "ErrorMessage": "no budget",
        "ErrorData": '{"limit": 5}',
    }
    assert out == f"callback {CALLBACK_ID}: failed\n"


def test_callback_heartbeat(server: FakeLambda, capsys: pytest.CaptureFixture[str]) -> None:
    out = ok(capsys, "callback", "heartbeat", CALLBACK_ID, "--url", server.url)
    assert server.last().path.endswith(f"/{CALLBACK_ID}/heartbeat")
    assert out == f"callback {CALLBACK_ID}: heartbeat sent\n"
