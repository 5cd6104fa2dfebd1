"""Handler logs: captured per execution in worker processes, stored in the execution's
database, read with ``perdure logs`` and through the CloudWatch Logs and CloudFormation
APIs of ``perdure serve`` (stock boto3 clients)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from perdure.core.engine import Engine
from perdure.logs.filters import FilterPatternError, parse
from perdure.store import open_store
from perdure.store.log_rows import NewLogRecord
from tests.support import HANDLERS, Serve, wait_for_event, wait_for_status

TEMPLATE = HANDLERS / "logs.yaml"


def client(service: str, url: str) -> Any:
    return boto3.client(
        service, endpoint_url=url, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    )


def run_chatty(url: str, order: str) -> str:
    """Run the Chatty handler to the end (it waits, then waits for a callback)."""
    lam = client("lambda", url)
    arn: str = lam.invoke(FunctionName="Chatty", InvocationType="Event", Payload=json.dumps({"order": order}).encode())[
        "DurableExecutionArn"
    ]
    started = wait_for_event(lam, arn, "CallbackStarted")
    lam.send_durable_execution_callback_success(CallbackId=started["CallbackStartedDetails"]["CallbackId"], Result=b'"ok"')
    assert wait_for_status(lam, arn)["Status"] == "SUCCEEDED"
    return arn


def execution_events(url: str, arn: str, pattern: str | None = None) -> list[dict[str, Any]]:
    logs = client("logs", url)
    kwargs: dict[str, Any] = {
        "logGroupName": "/aws/lambda/Chatty",
        "filterPattern": pattern or f'{{ $.durableExecutionArn = "{arn}" }}',
    }
    events: list[dict[str, Any]] = []
    while True:
        page = logs.filter_log_events(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def perdure_logs(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "perdure", "logs", "--url", url, *args],
        capture_output=True, text=True, timeout=60, env={**os.environ, "NO_COLOR": "1"},
    )


def test_each_line_once_with_execution_operation_and_level(db_url: str, tmp_path: Path) -> None:
    server = Serve(db_url, tmp_path / "server.log", "--workers", "1", template=TEMPLATE).start()
    try:
        arn = run_chatty(server.url, "o-42")
        other = run_chatty(server.url, "o-43")  # another execution's lines stay out
        records = [json.loads(e["message"]) for e in execution_events(server.url, arn)]
        messages = [r.get("message") for r in records if not r.get("replay")]
        expected = [
            "top-level print for o-42",
            "reserving stock for o-42",
            "stock low while reserving o-42",
            "printed while reserving o-42",
            "card declined once for o-42",
            "stderr while charging o-42",
        ]
        for line in expected:
            assert messages.count(line) == 1, (line, messages)
        assert all(r["durableExecutionArn"] == arn for r in records)
        by_message = {r.get("message"): r for r in records}
        assert by_message["reserving stock for o-42"]["operationName"] == "reserve"
        assert by_message["reserving stock for o-42"]["level"] == "INFO"
        assert by_message["stock low while reserving o-42"]["level"] == "WARN"
        assert by_message["stock low while reserving o-42"]["operationName"] == "reserve"  # plain logging
        assert by_message["printed while reserving o-42"]["operationName"] == "reserve"  # print
        assert by_message["card declined once for o-42"]["level"] == "ERROR"
        assert by_message["card declined once for o-42"]["attempt"] == 1
        charged = [r for r in records if r.get("event") == "charged"]  # a JSON line keeps its fields
        assert len(charged) == 1 and charged[0]["order"] == "o-42" and charged[0]["operationName"] == "charge"
        assert any(str(m).startswith("approved o-42") for m in messages)
        # The top-level print runs again on each replay: kept, marked, and filterable.
        replayed = [r for r in records if r.get("replay")]
        assert [r["message"] for r in replayed] == ["top-level print for o-42"] * 2
        hidden = execution_events(server.url, arn, f'{{ $.durableExecutionArn = "{arn}" && $.replay NOT EXISTS }}')
        assert len(hidden) == len(records) - 2
        assert not any(other in e["message"] for e in execution_events(server.url, arn))

        shown = perdure_logs(server.url, arn)
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout.count("top-level print for o-42") == 1
        assert "ERROR charge" in " ".join(shown.stdout.split())
        replay = perdure_logs(server.url, arn, "--include-replay", "--json")
        lines = [json.loads(line) for line in replay.stdout.splitlines()]
        assert [r.get("message") for r in lines].count("top-level print for o-42") == 3
        errors = perdure_logs(server.url, arn, "--level", "error", "--json")
        assert [json.loads(line)["message"] for line in errors.stdout.splitlines()] == ["card declined once for o-42"]
        charge = perdure_logs(server.url, arn, "--operation", "charge", "--json")
        assert {json.loads(line)["operationName"] for line in charge.stdout.splitlines()} == {"charge"}
        function = perdure_logs(server.url, "--function", "Chatty", "--since", "10m", "--json")
        assert {json.loads(line)["durableExecutionArn"] for line in function.stdout.splitlines()} == {arn, other}
        followed = perdure_logs(server.url, arn, "--follow")  # returns: the execution is closed
        assert followed.returncode == 0 and followed.stdout == shown.stdout

        # The lines survive a restart of the server.
        server.stop()
        server.start()
        assert len(execution_events(server.url, arn)) == len(records)
    finally:
        server.stop()

    # Retention deletes them with their execution (what the runtime's sweep calls).
    store = open_store(db_url)
    try:
        with store.transaction() as tx:
            tx.update_execution(arn, {"end_ms": 1, "retention_days": 1})
        Engine(store, {}).delete_expired()
        with store.transaction() as tx:
            assert tx.execution_logs(arn, 0, 100) == []
            assert tx.execution_logs(other, 0, 100) != []
    finally:
        store.close()


def test_bounded_per_execution_with_a_truncation_marker(tmp_path: Path) -> None:
    server = Serve(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "server.log", "--workers", "1", template=TEMPLATE).start()
    try:
        lam = client("lambda", server.url)
        response = lam.invoke(FunctionName="Noisy", Payload=b'{"lines": 120}', LogType="Tail")  # its PERDURE_LOG_LIMIT is 50
        assert json.loads(response["Payload"].read()) == 120
        tail = base64.b64decode(response["LogResult"]).decode()  # the last 4 KB, as Lambda's Tail
        assert len(tail.encode()) <= 4096 and '"truncated": true' in tail.replace('":true', '": true')
        assert tail.rstrip("\n").rsplit("\n", 1)[-1].startswith("{") and "line 48" in tail
        arn = response["ResponseMetadata"]["HTTPHeaders"]["x-amz-durable-execution-arn"]
        logs = client("logs", server.url)
        events = logs.filter_log_events(logGroupName="/aws/lambda/Noisy")["events"]
        assert len(events) == 50
        records = [json.loads(e["message"]) for e in events]
        assert [r["message"] for r in records[:49]] == [f"line {i}" for i in range(49)]
        assert records[-1]["truncated"] is True and "limit of 50" in records[-1]["message"]
        streams = logs.describe_log_streams(logGroupName="/aws/lambda/Noisy")["logStreams"]
        assert len(streams) == 1 and streams[0]["logStreamName"].endswith(arn.rsplit("/", 1)[-1])
        page = logs.get_log_events(logGroupName="/aws/lambda/Noisy", logStreamName=streams[0]["logStreamName"], startFromHead=True, limit=20)
        assert [json.loads(e["message"])["message"] for e in page["events"]] == [f"line {i}" for i in range(20)]
        following = logs.get_log_events(
            logGroupName="/aws/lambda/Noisy", logStreamName=streams[0]["logStreamName"], nextToken=page["nextForwardToken"], limit=20
        )
        assert json.loads(following["events"][0]["message"])["message"] == "line 20"
        assert "LogResult" not in lam.invoke(FunctionName="Noisy", Payload=b'{"lines": 1}')
    finally:
        server.stop()


def test_cloudwatch_and_cloudformation_apis_answer_like_aws(tmp_path: Path) -> None:
    server = Serve(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "server.log", "--workers", "1", template=TEMPLATE).start()
    try:
        cfn = client("cloudformation", server.url)
        detail = cfn.describe_stack_resource(StackName="any", LogicalResourceId="Chatty")["StackResourceDetail"]
        assert detail["PhysicalResourceId"] == "Chatty" and detail["ResourceType"] == "AWS::Lambda::Function"
        resources = cfn.describe_stack_resources(StackName="any")["StackResources"]
        assert sorted(r["LogicalResourceId"] for r in resources) == ["Caller", "Chatty", "Fanout", "Noisy"]
        with pytest.raises(ClientError) as missing:
            cfn.describe_stack_resource(StackName="any", LogicalResourceId="Nope")
        assert missing.value.response["Error"]["Code"] == "ValidationError"
        assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400

        logs = client("logs", server.url)
        groups = [g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/")["logGroups"]]
        assert groups == ["/aws/lambda/Caller", "/aws/lambda/Chatty", "/aws/lambda/Fanout", "/aws/lambda/Noisy"]
        with pytest.raises(ClientError) as unknown:
            logs.filter_log_events(logGroupName="/aws/lambda/Nope")
        assert unknown.value.response["Error"]["Code"] == "ResourceNotFoundException"
        with pytest.raises(ClientError) as bad:
            logs.filter_log_events(logGroupName="/aws/lambda/Chatty", filterPattern="{ $.level = }")
        assert bad.value.response["Error"]["Code"] == "InvalidParameterException"
        assert bad.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        for target, body in (  # what boto3 would refuse before sending: still a clear 400
            ("DescribeLogGroups", {"limit": -1}),
            ("FilterLogEvents", {"logGroupName": "/aws/lambda/Chatty", "limit": 0}),
            ("FilterLogEvents", {"logGroupName": "/aws/lambda/Chatty", "nextToken": "!"}),
            ("FilterLogEvents", {"logGroupName": 5}),
        ):
            request = urllib.request.Request(
                f"{server.url}/", data=json.dumps(body).encode(), method="POST",
                headers={"X-Amz-Target": f"Logs_20140328.{target}", "Content-Type": "application/x-amz-json-1.1"},
            )
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=10)
            assert refused.value.code == 400
            assert json.loads(refused.value.read())["__type"] == "InvalidParameterException"
        # The Lambda API is still there beside them.
        assert client("lambda", server.url).list_durable_executions_by_function(FunctionName="Chatty")["DurableExecutions"] == []
    finally:
        server.stop()


def test_filter_patterns() -> None:
    record = {"level": "ERROR", "n": 3, "ok": True, "nested": {"k": "v"}, "list": [1, "two"], "message": "disk full on /var"}
    matches = [
        '{ $.level = "ERROR" }', "{ $.level = ERR* }", '{ $.level != "INFO" }', "{ $.n > 2 && $.n <= 3 }",
        '{ $.level = "INFO" || $.n = 3 }', '{ ($.level = "INFO" || $.ok IS TRUE) && $.nested.k = "v" }',
        '{ $.list[1] = "two" }', "{ $.missing NOT EXISTS }", "{ $.nested EXISTS }", "disk full", '"on /var"',
        "?nothing ?disk", "", None,
    ]
    for text in matches:
        assert parse(text).match(record, record["message"]), text
    for text in ['{ $.level = "INFO" }', "{ $.n < 3 }", "{ $.ok IS FALSE }", "{ $.missing EXISTS }", "disk -full", "?xyz ?qqq"]:
        assert not parse(text).match(record, record["message"]), text
    arn = "arn:aws:lambda:us-east-1:000000000000:function:F:$LATEST/durable-execution/a/b"
    both = parse(f'{{ ($.durableExecutionArn = "{arn}") || ($.executionArn = "{arn}") }}')
    assert both.arns == {arn}  # the store reads only that execution's rows
    assert parse('{ $.durableExecutionArn = "x" || $.level = "ERROR" }').arns is None
    for text in ["{ $.level = ", "{ level = 1 }", "{ $.n > abc }", "{ $.a IS MAYBE }", '{ $.a = "b" ) }']:
        with pytest.raises(FilterPatternError):
            parse(text)


def test_store_bounds_and_numbers_records(db_url: str) -> None:
    store = open_store(db_url)
    try:
        def record(i: int) -> NewLogRecord:
            return NewLogRecord(1000 + i, "INFO", "r", None, None, False, {"message": f"m{i}"})

        marker = NewLogRecord(9999, "WARN", None, None, None, False, {"message": "truncated"})
        with store.transaction() as tx:
            assert tx.append_logs("arn:a", "F", [record(i) for i in range(3)], 5, marker) == (3, 0)
            assert tx.append_logs("arn:a", "F", [record(i) for i in range(3, 8)], 5, marker) == (2, 4)
            assert tx.append_logs("arn:a", "F", [record(9)], 5, marker) == (0, 1)
            rows = tx.execution_logs("arn:a", 0, 100)
        assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
        assert [r.body["message"] for r in rows] == ["m0", "m1", "m2", "m3", "truncated"]
    finally:
        store.close()


def test_concurrent_invocations_in_one_process_keep_their_lines(tmp_path: Path) -> None:
    """Several executions at once in one worker process, each printing from map branches
    (the SDK's threads): every line lands in its own execution, none is lost."""
    server = Serve(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "server.log", "--workers", "1", template=TEMPLATE).start()
    try:
        lam = client("lambda", server.url)
        arns = {
            tag: lam.invoke(FunctionName="Fanout", InvocationType="Event", Payload=json.dumps({"tag": tag}).encode())["DurableExecutionArn"]
            for tag in ("alpha", "beta", "gamma")
        }
        for arn in arns.values():
            assert wait_for_status(lam, arn)["Status"] == "SUCCEEDED"
        logs = client("logs", server.url)
        for tag, arn in arns.items():
            events = logs.filter_log_events(logGroupName="/aws/lambda/Fanout", filterPattern=f'{{ $.durableExecutionArn = "{arn}" }}')["events"]
            records = [json.loads(e["message"]) for e in events]
            lines = [r["message"] for r in records if "message" in r]
            assert all(line.startswith(tag) for line in lines), lines
            assert sorted(lines) == sorted(
                [f"{tag} item {v} line {n}" for v in range(4) for n in range(5)]
                + [f"{tag} item {v} logged {n}" for v in range(4) for n in range(5)]
            )
            assert {r["operationName"] for r in records} == {f"work-{v}" for v in range(4)}
    finally:
        server.stop()


def test_spool_keeps_what_a_dead_process_had_not_written(db_url: str, tmp_path: Path) -> None:
    from perdure.logs.sink import LogSink, recover_spool

    store = open_store(db_url)
    spool = tmp_path / "spool.jsonl"
    try:
        sink = LogSink(store, limit=100, interval_s=3600, batch=10_000, spool=spool)

        def record(i: int) -> NewLogRecord:
            return NewLogRecord(1000 + i, "INFO", "r", None, None, False, {"message": f"m{i}"})

        for i in range(3):
            sink.add("arn:a", "F", record(i))
        sink.flush("arn:a")  # stored, and marked done in the spool
        for i in range(3, 5):
            sink.add("arn:a", "F", record(i))
        sink.add("arn:b", "F", record(9))
        # The process dies here: nothing else is flushed. Its supervisor recovers the rest.
        assert recover_spool(store, spool) == 3
        assert not spool.exists()
        with store.transaction() as tx:
            assert [r.body["message"] for r in tx.execution_logs("arn:a", 0, 100)] == ["m0", "m1", "m2", "m3", "m4"]
            assert [r.body["message"] for r in tx.execution_logs("arn:b", 0, 100)] == ["m9"]
    finally:
        store.close()


def test_logs_apis_behind_authentication(tmp_path: Path) -> None:
    """With --auth, the CloudWatch Logs and CloudFormation APIs take the same signed keys
    as the Lambda API, and refuse a key without their actions."""
    auth = tmp_path / "auth.toml"
    auth.write_text(
        '[[credentials]]\naccess_key_id = "AKIAOBSERVER"\nsecret_access_key = "observer-secret-0123456789"\n'
        'actions = ["lambda:*", "logs:*", "cloudformation:DescribeStackResource*"]\nresources = ["*"]\n'
        '[[credentials]]\naccess_key_id = "AKIALAMBDAONLY"\nsecret_access_key = "lambda-secret-0123456789"\n'
        'actions = ["lambda:*"]\nresources = ["*"]\n'
    )
    server = Serve(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "server.log", "--workers", "1", "--auth", str(auth), template=TEMPLATE).start()

    def signed(service: str, key: str, secret: str) -> Any:
        return boto3.client(service, endpoint_url=server.url, region_name="us-east-1", aws_access_key_id=key, aws_secret_access_key=secret)

    try:
        lam = signed("lambda", "AKIAOBSERVER", "observer-secret-0123456789")
        lam.invoke(FunctionName="Noisy", Payload=b'{"lines": 2}')
        logs = signed("logs", "AKIAOBSERVER", "observer-secret-0123456789")
        events = logs.filter_log_events(logGroupName="/aws/lambda/Noisy")["events"]
        assert [json.loads(e["message"])["message"] for e in events] == ["line 0", "line 1"]
        cfn = signed("cloudformation", "AKIAOBSERVER", "observer-secret-0123456789")
        assert cfn.describe_stack_resource(StackName="s", LogicalResourceId="Noisy")["StackResourceDetail"]["PhysicalResourceId"] == "Noisy"
        with pytest.raises(ClientError) as denied:
            signed("logs", "AKIALAMBDAONLY", "lambda-secret-0123456789").filter_log_events(logGroupName="/aws/lambda/Noisy")
        assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    finally:
        server.stop()
