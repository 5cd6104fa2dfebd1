"""The HTTP API with a stock boto3 client: shapes, errors, and what bad input leaves behind."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support import Server, history, wait_for_event, wait_for_status


def _raw(url: str, method: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    # As boto3 does; urllib would say application/x-www-form-urlencoded, which the
    # server refuses (a web page may send that cross-site).
    headers = {"Content-Type": "application/json", **(headers or {})}
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, json.loads(e.read() or b"null")


def test_sync_invoke_returns_result_and_history_is_numbered(server: Server) -> None:
    client = server.client()
    response = client.invoke(FunctionName="Hello", Payload=json.dumps({"a": 1}))
    assert response["StatusCode"] == 200
    assert json.loads(response["Payload"].read()) == {"sum": 3, "input": {"a": 1}}
    arn = response["DurableExecutionArn"]
    events = history(client, arn)
    assert [e["EventType"] for e in events] == [
        "ExecutionStarted", "StepStarted", "StepSucceeded", "StepStarted", "StepSucceeded",
        "InvocationCompleted", "ExecutionSucceeded",
    ]
    assert [e["EventId"] for e in events] == list(range(1, 8))
    for event in events:
        assert f"{event['EventType']}Details" in event
    assert events[2]["StepSucceededDetails"] == {
        "Result": {"Payload": "1", "Truncated": False}, "RetryDetails": {"CurrentAttempt": 1},
    }
    execution = client.get_durable_execution(DurableExecutionArn=arn)
    assert execution["Status"] == "SUCCEEDED"
    assert execution["InputPayload"] == '{"a": 1}'
    # Function named by ARN and by qualified ARN reach the same function.
    for name in ("arn:aws:lambda:us-east-1:000000000000:function:Hello",
                 "arn:aws:lambda:us-east-1:000000000000:function:Hello:$LATEST"):
        assert client.invoke(FunctionName=name, Payload="{}")["StatusCode"] == 200


def test_history_pagination_and_reverse_order(server: Server) -> None:
    client = server.client()
    arn = client.invoke(FunctionName="Hello", Payload="{}")["DurableExecutionArn"]
    page1 = client.get_durable_execution_history(DurableExecutionArn=arn, MaxItems=3)
    assert [e["EventId"] for e in page1["Events"]] == [1, 2, 3]
    page2 = client.get_durable_execution_history(DurableExecutionArn=arn, MaxItems=3, Marker=page1["NextMarker"])
    assert [e["EventId"] for e in page2["Events"]] == [4, 5, 6]
    reverse = client.get_durable_execution_history(DurableExecutionArn=arn, ReverseOrder=True, MaxItems=2)
    assert [e["EventId"] for e in reverse["Events"]] == [7, 6]


def test_callback_resumes_execution(server: Server, tmp_path: Path) -> None:
    client = server.client()
    log = tmp_path / "callbacks.log"
    arn = client.invoke(FunctionName="Approval", InvocationType="Event", Payload=json.dumps({"log": str(log)}))["DurableExecutionArn"]
    started = wait_for_event(client, arn, "CallbackStarted")
    callback_id = started["CallbackStartedDetails"]["CallbackId"]
    assert len(callback_id) >= 32
    client.send_durable_execution_callback_heartbeat(CallbackId=callback_id)
    client.send_durable_execution_callback_success(CallbackId=callback_id, Result=b"yes, ship it")
    execution = wait_for_status(client, arn)
    assert execution["Status"] == "SUCCEEDED"
    # Without a serdes the SDK hands the callback's payload over as it was sent.
    assert json.loads(execution["Result"]) == {"approved": "yes, ship it"}
    # A second completion is refused and changes nothing.
    with pytest.raises(ClientError) as err:
        client.send_durable_execution_callback_success(CallbackId=callback_id, Result=b'"again"')
    assert err.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert json.loads(client.get_durable_execution(DurableExecutionArn=arn)["Result"]) == {"approved": "yes, ship it"}


def test_callback_failure_fails_the_execution(server: Server) -> None:
    client = server.client()
    arn = client.invoke(FunctionName="Approval", InvocationType="Event", Payload="{}")["DurableExecutionArn"]
    callback_id = wait_for_event(client, arn, "CallbackStarted")["CallbackStartedDetails"]["CallbackId"]
    client.send_durable_execution_callback_failure(
        CallbackId=callback_id, Error={"ErrorType": "Rejected", "ErrorMessage": "not approved"}
    )
    execution = wait_for_status(client, arn)
    assert execution["Status"] == "FAILED"
    failed = wait_for_event(client, arn, "CallbackFailed")
    assert failed["CallbackFailedDetails"]["Error"]["Payload"] == {"ErrorType": "Rejected", "ErrorMessage": "not approved"}


def test_unknown_ids_get_resource_not_found(server: Server) -> None:
    client = server.client()
    with pytest.raises(ClientError) as err:
        client.send_durable_execution_callback_success(CallbackId="0123456789abcdef", Result=b"1")
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as err:
        client.invoke(FunctionName="NoSuchFunction", Payload="{}")
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as err:
        client.get_durable_execution(
            DurableExecutionArn="arn:aws:lambda:us-east-1:000000000000:function:Hello:$LATEST/durable-execution/x/y"
        )
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_stale_checkpoint_token_is_refused_and_changes_nothing(server: Server) -> None:
    client = server.client()
    arn = client.invoke(FunctionName="Hello", Payload="{}")["DurableExecutionArn"]
    before = history(client, arn)
    update = {"Id": "late-step", "Type": "STEP", "Action": "START", "SubType": "Step", "Name": "late"}
    for token in ("bm90LWEtdG9rZW4=", "c3RhbGU6MTph"):
        with pytest.raises(ClientError) as err:
            client.checkpoint_durable_execution(DurableExecutionArn=arn, CheckpointToken=token, Updates=[update])
        assert err.value.response["Error"]["Code"] == "InvalidParameterValueException"
        assert err.value.response["Error"]["Message"].startswith("Invalid checkpoint token")
    assert history(client, arn) == before


def test_malformed_and_oversized_requests(server: Server) -> None:
    client = server.client()
    arn = client.invoke(FunctionName="Hello", Payload="{}")["DurableExecutionArn"]
    before = history(client, arn)
    quoted = urllib.parse.quote(arn, safe="")
    base = f"{server.url}/2025-12-01/durable-executions/{quoted}"
    status, headers, body = _raw(f"{base}/checkpoint", "POST", b"{not json", {"Content-Type": "application/json"})
    assert status == 400 and headers["x-amzn-errortype"] == "InvalidParameterValueException"
    assert "not valid JSON" in body["message"]
    status, _, body = _raw(f"{base}/checkpoint", "POST", b"{}")
    assert status == 400 and "CheckpointToken is required" in body["message"]
    status, headers, body = _raw(f"{base}/checkpoint", "POST", b"x" * (7 * 1024 * 1024))
    assert status == 413 and headers["x-amzn-errortype"] == "RequestTooLargeException"
    status, headers, body = _raw(
        f"{server.url}/2015-03-31/functions/Hello/invocations", "POST", b"{oops", {"X-Amz-Invocation-Type": "Event"}
    )
    assert status == 400 and headers["x-amzn-errortype"] == "InvalidRequestContentException"
    with pytest.raises(ClientError) as err:
        client.invoke(FunctionName="Hello", Payload=json.dumps({"big": "x" * (7 * 1024 * 1024)}))
    assert err.value.response["Error"]["Code"] == "RequestTooLargeException"
    assert history(client, arn) == before
    assert client.list_durable_executions_by_function(FunctionName="Hello")["DurableExecutions"][0]["DurableExecutionArn"] == arn


def test_invalid_updates_are_rejected_with_the_service_error_shape(server: Server, tmp_path: Path) -> None:
    client = server.client()
    arn = client.invoke(FunctionName="Approval", InvocationType="Event", Payload="{}")["DurableExecutionArn"]
    wait_for_event(client, arn, "CallbackStarted")
    # No invocation is running now, so no token is valid; a malformed update is refused
    # before the token is even looked at.
    # What the service model says (lengths, enums) is a ValidationException, as AWS
    # answers; what only the service knows (allowed actions, payload limits) is not.
    bad_updates = [
        ([{"Id": "x" * 65, "Type": "STEP", "Action": "START"}], "ValidationException"),
        ([{"Id": "a", "Type": "NOPE", "Action": "START"}], "ValidationException"),
        ([{"Id": "a", "Type": "WAIT", "Action": "SUCCEED"}], "InvalidParameterValueException"),
        ([{"Id": "a", "Type": "STEP", "Action": "SUCCEED", "Payload": "x" * (300 * 1024)}], "InvalidParameterValueException"),
    ]
    for updates, code in bad_updates:
        with pytest.raises(ClientError) as err:
            client.checkpoint_durable_execution(DurableExecutionArn=arn, CheckpointToken="dG9rZW4=", Updates=updates)
        assert err.value.response["Error"]["Code"] == code, updates
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert wait_for_status(client, arn, timeout=0.1)["Status"] == "RUNNING"


def test_non_deterministic_handler_fails_with_a_clear_error(server: Server, tmp_path: Path) -> None:
    client = server.client()
    version = tmp_path / "version"
    version.write_text("1")
    arn = client.invoke(
        FunctionName="NonDeterministic", InvocationType="Event", Payload=json.dumps({"version_file": str(version)})
    )["DurableExecutionArn"]
    wait_for_event(client, arn, "StepFailed")
    version.write_text("2")  # "deploy" a changed handler while the retry is pending
    execution = wait_for_status(client, arn)
    assert execution["Status"] == "FAILED"
    error = execution["Error"]
    assert error["ErrorType"].endswith("NonDeterministicExecutionError")
    assert "charge-card" in error["ErrorMessage"] and "refund-card" in error["ErrorMessage"]
    assert history(client, arn)[-1]["EventType"] == "ExecutionFailed"


def test_idempotent_checkpoint_replay_with_client_token(server: Server) -> None:
    """A checkpoint retried with the same ClientToken and token gets the same answer."""
    from perdure.core.engine import Engine
    from perdure.store import open_store

    engine = Engine(open_store(server.db_url))
    # Start via the API, then claim as a worker would (the server's own worker may race
    # us; take whichever invocation we get).
    client = server.client()
    arn = client.invoke(FunctionName="Approval", InvocationType="Event", Payload="{}")["DurableExecutionArn"]
    wait_for_event(client, arn, "InvocationCompleted")
    assert engine.get_execution(arn).status == "RUNNING"
    time.sleep(0.1)
