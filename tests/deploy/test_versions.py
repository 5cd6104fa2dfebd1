"""Versions, aliases and pinned executions, against a real ``perdure serve``."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from perdure.deploy.snapshots import cache_key, take_snapshot
from perdure.deploy.template import load_template
from tests.support import Serve, Server, history, wait_for_status

FIXTURES = Path(__file__).parent.parent / "fixtures" / "templates"

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Approval:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: orders-approval
      CodeUri: code/
      Handler: app.handler
      Timeout: 30
      DurableConfig: {ExecutionTimeout: 600}
"""

HANDLER = """\
from aws_durable_execution_sdk_python import DurableContext, durable_execution


@durable_execution
def handler(event, context: DurableContext):
    prepared = context.step(lambda _: "CODE", name="STEP")
    callback = context.create_callback(name="approve")
    answer = callback.result()
    return {"code": "CODE", "prepared": prepared, "answer": answer}
"""


def write_code(root: Path, code: str, step: str) -> None:
    (root / "code").mkdir(exist_ok=True)
    (root / "code" / "app.py").write_text(HANDLER.replace("CODE", code).replace("STEP", step))


def callback_id(client: Any, arn: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in history(client, arn):
            if event["EventType"] == "CallbackStarted":
                return str(event["CallbackStartedDetails"]["CallbackId"])
        time.sleep(0.2)
    raise AssertionError(f"{arn} never started its callback")


def perdure(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "perdure", *args], capture_output=True, text=True, timeout=120)


def live_versions(client: Any, function: str) -> list[str]:
    return [v["Version"] for v in client.list_versions_by_function(FunctionName=function)["Versions"]]


def test_a_deploy_leaves_running_executions_on_their_version(tmp_path: Path) -> None:
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    write_code(tmp_path, "v1", "prepare")
    db = tmp_path / "app.db"
    server = Server(db, template=tmp_path / "template.yaml", workers=2).start()
    try:
        client = server.client()
        arns = [
            client.invoke(FunctionName="orders-approval", InvocationType="Event", Payload=json.dumps({"n": i}))[
                "DurableExecutionArn"
            ]
            for i in range(50)
        ]
        callbacks = {arn: callback_id(client, arn) for arn in arns}
        assert all(":function:orders-approval:1/durable-execution/" in arn for arn in arns)

        # The step is renamed: replaying the 50 on this code would be non-deterministic.
        write_code(tmp_path, "v2", "prepare_order")
        deployed = perdure("deploy", "-t", str(tmp_path / "template.yaml"), "--db", f"sqlite:///{db}", "--json")
        assert deployed.returncode == 0, deployed.stderr
        assert json.loads(deployed.stdout) == [{
            "FunctionName": "orders-approval", "LogicalId": "Approval", "Version": "2", "Published": True,
            "Alias": None, "CodeSha256": take_snapshot(load_template(tmp_path / "template.yaml")["orders-approval"]).code_sha256,
        }]
        assert live_versions(client, "orders-approval") == ["$LATEST", "1", "2"]

        # New invocations run the new code (the logical id names the function too).
        new = client.invoke(FunctionName="Approval:$LATEST", InvocationType="Event", Payload="{}")
        assert new["ResponseMetadata"]["HTTPHeaders"]["x-amz-executed-version"] == "2"
        new_arn = new["DurableExecutionArn"]
        client.send_durable_execution_callback_success(CallbackId=callback_id(client, new_arn), Result=b'"yes"')
        assert json.loads(wait_for_status(client, new_arn)["Result"]) == {"code": "v2", "prepared": "v2", "answer": "\"yes\""}

        # The 50 finish on the code they started with, one by one; version 1 stays
        # until the last of them closes.
        cache = tmp_path / "app.db.code"
        v1_dir = cache / cache_key(client.get_function(FunctionName="orders-approval", Qualifier="1")["Configuration"]["CodeSha256"])
        assert (v1_dir / "code" / "app.py").read_text().count('"v1"') == 2
        for arn in arns[:-1]:
            client.send_durable_execution_callback_success(CallbackId=callbacks[arn], Result=b'"ok"')
        for arn in arns[:-1]:
            execution = wait_for_status(client, arn, timeout=60)
            assert execution["Status"] == "SUCCEEDED", execution.get("Error")
            assert json.loads(execution["Result"]) == {"code": "v1", "prepared": "v1", "answer": "\"ok\""}
            assert execution["Version"] == "1" and execution["FunctionArn"].endswith("orders-approval:1")
        time.sleep(1.5)  # the pruner runs after closes: version 1 is still needed
        assert live_versions(client, "orders-approval") == ["$LATEST", "1", "2"]
        assert v1_dir.is_dir()

        client.send_durable_execution_callback_success(CallbackId=callbacks[arns[-1]], Result=b'"ok"')
        assert wait_for_status(client, arns[-1])["Status"] == "SUCCEEDED"
        deadline = time.monotonic() + 10
        while live_versions(client, "orders-approval") != ["$LATEST", "2"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert live_versions(client, "orders-approval") == ["$LATEST", "2"]
        assert not v1_dir.exists()
        with pytest.raises(ClientError, match=r"ResourceNotFoundException.*removed"):
            client.get_function(FunctionName="orders-approval", Qualifier="1")

        # Histories name what ran: the execution's ARN and version, and no step failed.
        for arn in (arns[0], new_arn):
            events = history(client, arn)
            assert not [e for e in events if "Failed" in e["EventType"]]
        assert client.get_durable_execution(DurableExecutionArn=new_arn)["Version"] == "2"
        assert "NonDeterministic" not in server.log()

        # Moving an execution to new code is explicit: a rerun on version 2.
        rerun = perdure("executions", "rerun", arns[0], "--from", "prepare", "--version", "2", "--url", server.url, "--json")
        assert rerun.returncode == 0, rerun.stderr
        moved = json.loads(rerun.stdout)["DurableExecutionArn"]
        assert ":function:orders-approval:2/durable-execution/" in moved
        client.send_durable_execution_callback_success(CallbackId=callback_id(client, moved), Result=b'"again"')
        assert json.loads(wait_for_status(client, moved)["Result"])["code"] == "v2"
    finally:
        server.stop()


def test_template_names_qualifiers_and_aliases_through_boto3(tmp_path: Path) -> None:
    overrides = ["FunctionNamePrefix=dev-", "LambdaExecutionRoleArn=arn:aws:iam::1:role/r", "AdotLayerArn=arn:x"]
    server = Serve(
        f"sqlite:///{tmp_path / 'app.db'}", tmp_path / "serve.log", "--workers", "1",
        "--parameter-overrides", *overrides, template=FIXTURES / "shapes" / "generated.yaml",
    ).start()
    try:
        client = server.client()
        for name in ("dev-Hello:$LATEST", "dev-Hello", "Hello", "dev-Hello:1",
                     "arn:aws:lambda:us-east-1:000000000000:function:dev-Hello:$LATEST"):
            response = client.invoke(FunctionName=name, Payload=json.dumps({"name": "perdure"}))
            assert json.loads(response["Payload"].read()) == {"hello": "perdure", "table": "dev--orders"}, name
            assert response["ExecutedVersion"] == "1"

        names = {f["FunctionName"] for f in client.list_functions()["Functions"]}
        assert names == {"dev-Hello", "dev-Wait"}
        function = client.get_function(FunctionName="Hello")["Configuration"]
        assert function["FunctionName"] == "dev-Hello" and function["Version"] == "$LATEST"
        assert function["LoggingConfig"] == {"LogFormat": "JSON", "LogGroup": "/aws/lambda/dev-Hello"}
        assert function["DurableConfig"] == {"RetentionPeriodInDays": 7, "ExecutionTimeout": 300}

        # Publishing unchanged code returns the newest version; an alias pins a version.
        assert client.publish_version(FunctionName="dev-Hello")["Version"] == "1"
        alias = client.create_alias(FunctionName="dev-Hello", Name="live", FunctionVersion="1")
        assert alias["AliasArn"].endswith(":function:dev-Hello:live")
        with pytest.raises(ClientError, match="ResourceConflictException"):
            client.create_alias(FunctionName="dev-Hello", Name="live", FunctionVersion="1")
        response = client.invoke(FunctionName="dev-Hello", Qualifier="live", Payload="{}")
        assert response["ExecutedVersion"] == "1"
        assert ":function:dev-Hello:1/durable-execution/" in response["DurableExecutionArn"]
        assert client.get_alias(FunctionName="dev-Hello", Name="live")["FunctionVersion"] == "1"
        assert [a["Name"] for a in client.list_aliases(FunctionName="dev-Hello")["Aliases"]] == ["live"]
        with pytest.raises(ClientError, match="ResourceNotFoundException"):
            client.update_alias(FunctionName="dev-Hello", Name="nope", FunctionVersion="1")
        with pytest.raises(ClientError, match="ResourceNotFoundException"):
            client.invoke(FunctionName="dev-Hello:7", Payload="{}")
        with pytest.raises(ClientError, match="ResourceNotFoundException"):
            client.invoke(FunctionName="dev-Hello:nope", Payload="{}")
        with pytest.raises(ClientError, match="InvalidParameterValueException"):
            client.invoke(FunctionName="dev-Hello:live", Qualifier="1", Payload="{}")

        # The CLI: perdure alias set, perdure versions.
        moved = perdure("alias", "set", "dev-Hello:live", "$LATEST", "--url", server.url)
        assert moved.returncode == 0 and "dev-Hello:live -> version 1" in moved.stdout, moved.stderr
        listed = perdure("versions", "Hello", "--url", server.url, "--json")
        assert [v["Version"] for v in json.loads(listed.stdout)] == ["$LATEST", "1"]
        functions = perdure("functions", "--url", server.url)
        assert functions.returncode == 0, functions.stderr
        assert [line.split()[1:4:2] for line in functions.stdout.splitlines() if "dev-" in line] == [
            ["dev-Hello", "Hello"], ["dev-Wait", "Wait"],
        ]
    finally:
        server.stop()


def test_serve_watch_publishes_on_save(tmp_path: Path) -> None:
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    write_code(tmp_path, "v1", "prepare")
    server = Serve(
        f"sqlite:///{tmp_path / 'app.db'}", tmp_path / "serve.log", "--workers", "1", "--watch",
        template=tmp_path / "template.yaml",
    ).start()
    try:
        client = server.client()
        running = client.invoke(FunctionName="orders-approval", InvocationType="Event", Payload="{}")["DurableExecutionArn"]
        waiting = callback_id(client, running)
        time.sleep(0.5)  # the watcher is up once the server answers; let it settle
        write_code(tmp_path, "v2", "prepare_order")
        saved = time.monotonic()
        while live_versions(client, "orders-approval")[-1] != "2":
            assert time.monotonic() - saved < 15, server.log()
            time.sleep(0.05)
        print(f"version 2 published {time.monotonic() - saved:.2f} s after the save")
        fresh = client.invoke(FunctionName="orders-approval", InvocationType="Event", Payload="{}")["DurableExecutionArn"]
        for arn in (fresh, running):
            client.send_durable_execution_callback_success(CallbackId=callback_id(client, arn) if arn == fresh else waiting, Result=b'"y"')
        assert json.loads(wait_for_status(client, fresh)["Result"])["code"] == "v2"
        assert json.loads(wait_for_status(client, running)["Result"])["code"] == "v1"
        assert "app.py changed: orders-approval version 2" in server.log()
    finally:
        server.stop()


def test_snapshots_are_deterministic_and_skip_caches(tmp_path: Path) -> None:
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    write_code(tmp_path, "v1", "prepare")
    spec = load_template(tmp_path / "template.yaml")["orders-approval"]
    first = take_snapshot(spec)
    (tmp_path / "code" / "__pycache__").mkdir()
    (tmp_path / "code" / "__pycache__" / "app.cpython-313.pyc").write_bytes(b"\0")
    time.sleep(0.01)
    (tmp_path / "code" / "app.py").touch()
    assert take_snapshot(spec) == first  # same files, same hash, whatever their dates
    (tmp_path / "code" / "helper.py").write_text("X = 1\n")
    assert take_snapshot(spec).code_sha256 != first.code_sha256


def test_a_deploy_under_a_postgresql_fleet(pg_url: str, tmp_path: Path) -> None:
    """The server runs no handlers; a ``perdure worker`` (its own code cache, as on
    another machine) runs each execution on its version, taken from the database."""
    from tests.fleet_support import worker

    (tmp_path / "template.yaml").write_text(TEMPLATE)
    write_code(tmp_path, "v1", "prepare")
    template = tmp_path / "template.yaml"
    server = Serve(pg_url, tmp_path / "serve.log", "--no-workers", template=template).start()
    fleet = worker(pg_url, tmp_path, "a", template=template)
    fleet.env["PERDURE_CODE_CACHE"] = str(tmp_path / "worker-cache")
    fleet.start()
    try:
        client = server.client()
        arns = [client.invoke(FunctionName="orders-approval", InvocationType="Event", Payload="{}")["DurableExecutionArn"]
                for _ in range(5)]
        callbacks = {arn: callback_id(client, arn) for arn in arns}
        write_code(tmp_path, "v2", "prepare_order")
        deployed = perdure("deploy", "-t", str(template), "--db", pg_url)
        assert deployed.returncode == 0 and "published" in deployed.stdout, deployed.stderr
        fresh = client.invoke(FunctionName="orders-approval:2", InvocationType="Event", Payload="{}")["DurableExecutionArn"]
        client.send_durable_execution_callback_success(CallbackId=callback_id(client, fresh), Result=b"1")
        for arn in arns:
            client.send_durable_execution_callback_success(CallbackId=callbacks[arn], Result=b"1")
        assert json.loads(wait_for_status(client, fresh)["Result"])["code"] == "v2"
        for arn in arns:
            assert json.loads(wait_for_status(client, arn)["Result"])["code"] == "v1"
        deadline = time.monotonic() + 40  # the worker's pruner runs after closes it hears of
        while live_versions(client, "orders-approval") != ["$LATEST", "2"] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert live_versions(client, "orders-approval") == ["$LATEST", "2"]
        while len(list((tmp_path / "worker-cache").iterdir())) != 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(list((tmp_path / "worker-cache").iterdir())) == 1  # only version 2's code is left
    finally:
        fleet.stop()
        server.stop()
