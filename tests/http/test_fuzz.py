"""Property-based fuzzing of the whole API, built from botocore's ``lambda`` service model.

For every operation perdure serves, Hypothesis builds parameters from the model's
input shape (first valid ones, then mutated: wrong types, missing members, huge and
odd strings, injection strings, forged tokens and markers, garbage in the path and the
query), botocore serializes them exactly as a client would, and the raw request is
sent to a real ``perdure serve`` while executions run on it. The server must never
answer 5xx to any of it, never show a traceback or a file path, and the executions
running meanwhile must finish with the right results and valid histories.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.serialize import create_serializer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import Server, history, wait_for_status

MODEL = botocore.session.get_session().get_service_model("lambda")
OPERATIONS = [
    "Invoke", "ListDurableExecutionsByFunction", "GetDurableExecution", "GetDurableExecutionHistory",
    "GetDurableExecutionState", "CheckpointDurableExecution", "StopDurableExecution", "PauseDurableExecution",
    "ResumeDurableExecution", "DeleteDurableExecution", "SendDurableExecutionCallbackSuccess",
    "SendDurableExecutionCallbackFailure", "SendDurableExecutionCallbackHeartbeat",
]
EXAMPLES = 200  # per operation and kind: 13 operations x 2 kinds x 200 = 5,200 requests
SENT: dict[str, int] = {"requests": 0}

ODD_STRINGS = [
    "", " ", "\x00", "%00", "%FF%FE", "..", "../../etc/passwd", "'; DROP TABLE executions; --",
    "\" OR 1=1 --", "${jndi:ldap://x/a}", "<script>alert(1)</script>", "\u202e\ufeff", "💥" * 50,
    "arn:aws:lambda:eu-west-1:123456789012:function:Hello", "Hello:$LATEST", "Hello:99999999999999999999",
    "9" * 40, "-1", "NaN", "Infinity", "1e309", "null", "true", "{}", "[]", "x" * 70_000,
]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**80), max_value=2**80) | st.floats(allow_nan=False)
    | st.sampled_from(ODD_STRINGS) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
KNOWN_FUNCTIONS = ["Hello", "Sequential", "NoSuchFunction"]  # none waits long when invoked synchronously


def _valid(shape: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values the model accepts for ``shape`` (near enough: patterns are honoured)."""
    kind, meta = shape.type_name, shape.metadata
    if kind == "structure":
        required = set(shape.required_members)
        members = {k: v for k, v in shape.members.items() if depth < 4}
        return st.fixed_dictionaries(
            {k: _valid(v, depth + 1) for k, v in members.items() if k in required},
            optional={k: _valid(v, depth + 1) for k, v in members.items() if k not in required},
        )
    if kind == "list":
        return st.lists(_valid(shape.member, depth + 1), min_size=meta.get("min", 0), max_size=min(meta.get("max", 3), 3))
    if kind == "map":
        return st.dictionaries(st.text(min_size=1, max_size=8), _valid(shape.value, depth + 1), max_size=2)
    if kind == "string":
        if "enum" in meta:
            return st.sampled_from(list(meta["enum"]))
        if "FunctionName" in shape.name:
            return st.sampled_from(KNOWN_FUNCTIONS)
        if shape.name == "DurableExecutionArn":
            return st.builds(
                "arn:aws:lambda:us-east-1:000000000000:function:{}:$LATEST/durable-execution/{}/{}".format,
                st.sampled_from(KNOWN_FUNCTIONS), st.from_regex(r"[a-z0-9-]{1,12}", fullmatch=True),
                st.from_regex(r"[a-f0-9]{1,32}", fullmatch=True),
            )
        low, high = meta.get("min", 0), meta.get("max", 40)
        if "pattern" in meta:
            try:
                return st.from_regex(meta["pattern"], fullmatch=True).map(lambda s: s[:high])
            except Exception:  # a pattern Python cannot read: any text
                pass
        return st.text(min_size=low, max_size=min(high, 40))
    if kind in ("integer", "long"):
        return st.integers(min_value=meta.get("min", -(2**31)), max_value=meta.get("max", 2**31 - 1))
    if kind in ("double", "float"):
        return st.floats(allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "timestamp":
        return st.datetimes(min_value=dt.datetime(1970, 1, 2), max_value=dt.datetime(2200, 1, 1), timezones=st.just(dt.UTC))
    if kind == "blob":
        return st.binary(max_size=64)
    return st.none()


def _serialize(operation: str, params: dict[str, Any]) -> dict[str, Any]:
    model = MODEL.operation_model(operation)
    request: dict[str, Any] = create_serializer("rest-json").serialize_to_request(params, model)
    return request


@st.composite
def _mutated(draw: st.DrawFn, operation: str) -> dict[str, Any]:
    """A serialized valid request, then broken in one or more ways."""
    request = _serialize(operation, draw(_valid(MODEL.operation_model(operation).input_shape)))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        how = draw(st.sampled_from(["body-member", "body-whole", "drop-member", "path", "query", "header"]))
        body = request.get("body") or b""
        if how in ("body-member", "drop-member") and body:
            try:
                data = json.loads(body)
            except ValueError:
                data = None
            if isinstance(data, dict) and data:
                key = draw(st.sampled_from(sorted(data)))
                if how == "drop-member":
                    del data[key]
                else:
                    data[key] = draw(JSON_VALUES)
                request["body"] = json.dumps(data).encode()
        elif how == "body-whole":
            request["body"] = draw(st.one_of(
                st.binary(max_size=200), JSON_VALUES.map(lambda v: json.dumps(v).encode()),
                st.sampled_from([s.encode("utf-8", "surrogatepass") for s in ODD_STRINGS]),
            ))
        elif how == "path":
            segments = request["url_path"].split("/")
            index = draw(st.integers(min_value=1, max_value=len(segments) - 1))
            segments[index] = urllib.parse.quote(draw(st.sampled_from(ODD_STRINGS) | st.text(max_size=40)), safe="%")
            request["url_path"] = "/".join(segments)
        elif how == "query":
            key = draw(st.sampled_from(["Marker", "MaxItems", "StartedAfter", "StartedBefore", "Statuses",
                                        "ReverseOrder", "IncludeExecutionData", "CheckpointToken", "Qualifier"]))
            request["query_string"] = {**(request.get("query_string") or {}), key: draw(st.sampled_from(ODD_STRINGS) | st.text(max_size=30))}
        else:
            key = draw(st.sampled_from(["X-Amz-Invocation-Type", "X-Amz-Durable-Execution-Name", "X-Amz-Log-Type", "Content-Type"]))
            value = draw(st.sampled_from(ODD_STRINGS[:20]) | st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30))
            request["headers"] = {**request.get("headers", {}), key: value}
    return request


def _send(url: str, request: dict[str, Any]) -> tuple[int, bytes, bool]:
    """(status, body, whether the body is the invoked function's own error)."""
    parsed = urllib.parse.urlsplit(url)
    query = urllib.parse.urlencode(request.get("query_string") or {}, doseq=True)
    target = request["url_path"] + ("?" + query if query else "")
    body = request.get("body") or b""
    if isinstance(body, str):
        body = body.encode()
    # Header values as UTF-8 bytes, as a client that does not care would send them.
    headers = {
        k: v.encode() for k, v in (request.get("headers") or {}).items()
        if isinstance(v, str) and not any(c in v for c in "\r\n\x00")
    }
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    head = len(target) + sum(len(k) + len(v) for k, v in headers.items())
    try:
        connection.request(request["method"], target, body=body, headers=headers)
        response = connection.getresponse()
        SENT["requests"] += 1
        return response.status, response.read(), response.getheader("X-Amz-Function-Error") is not None
    except (ConnectionResetError, BrokenPipeError):
        # A request line and headers past the server's limit (16 KB) are refused and
        # the connection closed while the client may still be sending: fine, if the
        # server is still there.
        assert head > 16 * 1024, f"connection dropped on a {head}-byte request head"
        SENT["requests"] += 1
        ping = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)
        ping.request("GET", "/ping")
        assert ping.getresponse().status == 200
        ping.close()
        return 431, b"", False
    finally:
        connection.close()


def _check(status: int, body: bytes, function_error: bool, request: dict[str, Any]) -> None:
    described = f"{request['method']} {request['url_path'][:200]} {(request.get('body') or b'')[:200]!r}"
    assert status < 500, f"{status} for {described}: {body[:300]!r}"
    if function_error:
        return  # the handler's own error, with its stack trace, as Lambda returns it
    text = body.decode("utf-8", "replace")
    assert "Traceback" not in text and "site-packages" not in text and ".py\"" not in text, text[:300]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, list[tuple[str, int]]]]:
    """A server with executions running through the fuzzing: (server, [(ARN, steps)])."""
    server = Server(tmp_path_factory.mktemp("fuzz") / "db.sqlite", workers=1).start()
    client = server.client()
    running = []
    for n in range(8):
        arn = client.invoke(FunctionName="Sequential", InvocationType="Event", Payload=json.dumps({"steps": 5 + n}).encode())["DurableExecutionArn"]
        running.append((arn, 5 + n))
    try:
        yield server, running
    finally:
        server.stop()


@pytest.mark.parametrize("operation", OPERATIONS)
def test_valid_shapes_never_get_a_5xx(live: tuple[Server, list[tuple[str, int]]], operation: str) -> None:
    server = live[0]

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
    @given(params=_valid(MODEL.operation_model(operation).input_shape))
    def run(params: dict[str, Any]) -> None:
        request = _serialize(operation, params)
        _check(*_send(server.url, request), request)

    run()


@pytest.mark.parametrize("operation", OPERATIONS)
def test_mutated_requests_never_get_a_5xx(live: tuple[Server, list[tuple[str, int]]], operation: str) -> None:
    server = live[0]

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
    @given(request=_mutated(operation))
    def run(request: dict[str, Any]) -> None:
        _check(*_send(server.url, request), request)

    run()


def test_executions_running_meanwhile_finish_right(live: tuple[Server, list[tuple[str, int]]], tmp_path: Path) -> None:
    server, running = live
    client = server.client()
    for arn, steps in running:
        execution = wait_for_status(client, arn, timeout=120)
        assert execution["Status"] == "SUCCEEDED", execution
        assert json.loads(execution["Result"]) == sum(range(steps))
        events = history(client, arn)
        assert [e["EventId"] for e in events] == list(range(1, len(events) + 1))
        assert [e["EventType"] for e in events].count("StepSucceeded") == steps
    print(f"fuzzing sent {SENT['requests']} requests; none got a 5xx")
    assert SENT["requests"] >= 5000
