"""Client mistakes found by probing ``perdure serve`` from outside, each a regression
test: the answer is a 4xx naming the problem (never a 500, a traceback or a path),
it quotes at most a little of the input, and nothing stored changes."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.http.test_lambda_api import _raw
from tests.support import Server, history, wait_for_event

DEEP_LIST = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a":' * 100_000 + b"1" + b"}" * 100_000


@pytest.fixture(scope="module")
def waiting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str, str]]:
    """A server with one execution waiting on a callback: (server, its ARN, callback id)."""
    server = Server(tmp_path_factory.mktemp("bad-input") / "db.sqlite").start()
    try:
        client = server.client()
        arn = client.invoke(FunctionName="Approval", InvocationType="Event", Payload=b'{"timeout": 600}')["DurableExecutionArn"]
        callback_id = wait_for_event(client, arn, "CallbackStarted")["CallbackStartedDetails"]["CallbackId"]
        wait_for_event(client, arn, "InvocationCompleted")
        yield server, arn, callback_id
    finally:
        server.stop()


def _cases(url: str, arn: str, callback_id: str) -> dict[str, tuple[str, str, bytes | None, dict[str, str], int, str, str]]:
    """name -> (method, url, body, headers, status, error type, text in the message)."""
    q = urllib.parse.quote(arn, safe="")
    execution = f"{url}/2025-12-01/durable-executions/{q}"
    callback = f"{url}/2025-12-01/durable-execution-callbacks/{callback_id}"
    invoke = f"{url}/2015-03-31/functions/{{}}/invocations"
    listing = f"{url}/2025-12-01/functions/{{}}/durable-executions"
    event = {"X-Amz-Invocation-Type": "Event"}
    checkpoint = {"CheckpointToken": "dG9rZW4=", "Updates": []}

    def with_update(**options: Any) -> bytes:
        return json.dumps({**checkpoint, "Updates": [{"Id": "w", "Type": "WAIT", "Action": "START", **options}]}).encode()

    return {
        "invoke: JSON nested 100,000 deep": ("POST", invoke.format("Hello"), DEEP_LIST, event, 400, "InvalidRequestContentException", "nested too deeply"),
        "stop: JSON nested 100,000 deep": ("POST", f"{execution}/stop", DEEP_OBJECT, {}, 400, "InvalidParameterValueException", "nested too deeply"),
        "pause: JSON nested 100,000 deep": ("POST", f"{execution}/pause", DEEP_OBJECT, {}, 400, "InvalidParameterValueException", "nested too deeply"),
        "checkpoint: JSON nested 100,000 deep": ("POST", f"{execution}/checkpoint", DEEP_OBJECT, {}, 400, "InvalidParameterValueException", "nested too deeply"),
        "callback fail: JSON nested 100,000 deep": ("POST", f"{callback}/fail", DEEP_OBJECT, {}, 400, "InvalidParameterValueException", "nested too deeply"),
        "invoke: ../../etc/passwd": ("POST", invoke.format("..%2F..%2Fetc%2Fpasswd"), b"{}", event, 400, "ValidationException", "not a function name"),
        "invoke: ..": ("POST", invoke.format(".."), b"{}", event, 400, "ValidationException", "not a function name"),
        "invoke: NUL in the name": ("POST", invoke.format("a%00b"), b"{}", event, 400, "ValidationException", "printable"),
        "invoke: %FF%FE": ("POST", invoke.format("%FF%FE"), b"{}", event, 400, "ValidationException", "not UTF-8"),
        "list: %FF%FE": ("GET", listing.format("%FF%FE"), None, {}, 400, "ValidationException", "not UTF-8"),
        "list: NUL in the name": ("GET", listing.format("Hello%00"), None, {}, 400, "ValidationException", "printable"),
        "invoke: another region's ARN": ("POST", invoke.format("arn%3Aaws%3Alambda%3Aeu-west-1%3A000000000000%3Afunction%3AHello"), b"{}", event, 404, "ResourceNotFoundException", "region us-east-1"),
        "invoke: another account's ARN": ("POST", invoke.format("123456789012%3Afunction%3AHello"), b"{}", event, 404, "ResourceNotFoundException", "account 000000000000"),
        "invoke: NaN": ("POST", invoke.format("Hello"), b'{"a": NaN}', event, 400, "InvalidRequestContentException", "NaN"),
        "history: marker beyond int64": ("GET", f"{execution}/history?Marker=99999999999999999999999", None, {}, 400, "InvalidParameterValueException", "Invalid Marker"),
        "list: marker decoding to a huge number": ("GET", listing.format("Hello") + "?Marker=" + urllib.parse.quote("OTk5OTk5OTk5OTk5OTk5OTk5OTk5fGFybg=="), None, {}, 400, "InvalidParameterValueException", "Invalid Marker"),
        "list: StartedAfter=inf": ("GET", listing.format("Hello") + "?StartedAfter=inf", None, {}, 400, "InvalidParameterValueException", "StartedAfter"),
        "list: StartedAfter=1e300": ("GET", listing.format("Hello") + "?StartedAfter=1e300", None, {}, 400, "InvalidParameterValueException", "StartedAfter"),
        "checkpoint: WaitOptions as a list": ("POST", f"{execution}/checkpoint", with_update(WaitOptions=[1]), {}, 400, "ValidationException", "WaitOptions must be an object"),
        "checkpoint: WaitSeconds 10**20": ("POST", f"{execution}/checkpoint", with_update(WaitOptions={"WaitSeconds": 10**20}), {}, 400, "ValidationException", "at most 31622400"),
        "checkpoint: TimeoutSeconds 'abc'": ("POST", f"{execution}/checkpoint", with_update(Type="CALLBACK", CallbackOptions={"TimeoutSeconds": "abc"}), {}, 400, "ValidationException", "must be an integer"),
        "checkpoint: TimeoutSeconds 10**20": ("POST", f"{execution}/checkpoint", with_update(Type="CALLBACK", CallbackOptions={"TimeoutSeconds": 10**20}), {}, 400, "ValidationException", "at most"),
        "checkpoint: Updates not a list": ("POST", f"{execution}/checkpoint", json.dumps({**checkpoint, "Updates": {"a": 1}}).encode(), {}, 400, "ValidationException", "Updates must be a list"),
        "checkpoint: 24 errors of 250 KB": ("POST", f"{execution}/checkpoint", json.dumps({**checkpoint, "Updates": [
            {"Id": f"s{i}", "Type": "STEP", "Action": "FAIL", "Error": {"ErrorMessage": "x" * 250_000}} for i in range(24)
        ]}).encode(), {}, 400, "InvalidParameterValueException", "the limit is"),
        "callback fail: a 6 MB error": ("POST", f"{callback}/fail", json.dumps({"ErrorMessage": "x" * 6_000_000}).encode(), {}, 400, "InvalidParameterValueException", "larger than 262144"),
        "stop: Error as a string": ("POST", f"{execution}/stop", b'{"Error": "boom"}', {}, 400, "ValidationException", "Error must be an object"),
        "pause: Reason as a number": ("POST", f"{execution}/pause", b'{"Reason": 5}', {}, 400, "ValidationException", "Reason must be a string"),
        "get: a 2,000-character ARN": ("GET", f"{url}/2025-12-01/durable-executions/{'x' * 2_000}", None, {}, 400, "ValidationException", "at most 1024"),
        "get: a 100,000-character ARN": ("GET", f"{url}/2025-12-01/durable-executions/{'x' * 100_000}", None, {}, 431, "RequestHeaderFieldsTooLarge", "at most 16384 bytes"),
        "callback: a malformed id": ("POST", f"{url}/2025-12-01/durable-execution-callbacks/{'%21' * 10}/succeed", b"1", {}, 400, "ValidationException", "CallbackId"),
    }


def test_each_probed_mistake_gets_a_clear_4xx_and_changes_nothing(waiting: tuple[Server, str, str]) -> None:
    server, arn, callback_id = waiting
    client = server.client()
    before = history(client, arn)
    listed = client.list_durable_executions_by_function(FunctionName="Hello")["DurableExecutions"]
    failures = []
    for name, (method, url, body, headers, status, code, text) in _cases(server.url, arn, callback_id).items():
        got, got_headers, payload = _raw(url, method, body, headers)
        message = json.dumps(payload)
        if (got, got_headers.get("x-amzn-errortype")) != (status, code) or text not in message:
            failures.append(f"{name}: {got} {got_headers.get('x-amzn-errortype')} {message[:200]}")
        if len(message) > 1000 or "Traceback" in message or "/perdure/" in message:
            failures.append(f"{name}: the message echoes too much: {message[:200]}...")
    assert not failures, "\n".join(failures)
    # Nothing changed: the waiting execution, its history, and no execution was started.
    assert history(client, arn) == before
    assert client.get_durable_execution(DurableExecutionArn=arn)["Status"] == "RUNNING"
    assert client.list_durable_executions_by_function(FunctionName="Hello")["DurableExecutions"] == listed


def test_state_refuses_a_token_rebuilt_from_the_invocation_id(waiting: tuple[Server, str, str], tmp_path: Path) -> None:
    import base64

    from perdure.core.engine import Engine
    from perdure.deploy.functions import FunctionSpec
    from perdure.store import open_store

    server, _, _ = waiting
    # An execution of a function the server does not host: this test runs its invocation.
    engine = Engine(open_store(server.db_url), {"Outside": FunctionSpec(name="Outside", handler="x.y", timeout_s=60)})
    row, _ = engine.start_execution("Outside", "{}")
    [invocation] = engine.claim(["Outside"], 1, "test")
    q = urllib.parse.quote(row.arn, safe="")
    state = f"{server.url}/2025-12-01/durable-executions/{q}/state?CheckpointToken="
    assert _raw(state + urllib.parse.quote(invocation.token), "GET")[0] == 200
    forged = base64.b64encode(f"{invocation.invocation_id}:1:0".encode()).decode()
    status, _, body = _raw(state + urllib.parse.quote(forged), "GET")
    assert status == 400 and "Invalid checkpoint token" in body["message"]
    # After the token rotated, the earlier one still reads state (the SDK may page with
    # it), and a forged one with a later sequence number does not.
    step = {"Id": "s1", "Type": "STEP", "Action": "START", "Name": "one"}
    rotated = engine.checkpoint(row.arn, invocation.token, [step], None)["CheckpointToken"]
    assert _raw(state + urllib.parse.quote(rotated), "GET")[0] == 200
    assert _raw(state + urllib.parse.quote(invocation.token), "GET")[0] == 200
    forged = base64.b64encode(f"{invocation.invocation_id}:2:0".encode()).decode()
    assert _raw(state + urllib.parse.quote(forged), "GET")[0] == 400
    engine.store.close()
