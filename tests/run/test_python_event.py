"""A Python handler is invoked with Lambda's JSON invocation event (a dict), whatever
reads it: the handler itself, or the official SDK's wrapper, which still checkpoints
through the engine in the worker process."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from perdure.deploy import load_template
from perdure.testing import TestEnv
from tests.support import HANDLERS

TEMPLATE = f"""\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.13
    CodeUri: {HANDLERS}
    Timeout: 30
    DurableConfig: {{ExecutionTimeout: 300}}
    Environment:
      Variables:
        # Were the SDK to build a boto3 client, its calls would go nowhere.
        AWS_ENDPOINT_URL_LAMBDA: http://127.0.0.1:9
        AWS_ACCESS_KEY_ID: unused
        AWS_SECRET_ACCESS_KEY: unused
        AWS_DEFAULT_REGION: us-east-1
Resources:
  Raw:
    Type: AWS::Serverless::Function
    Properties:
      Handler: event_handlers.raw
  Logged:
    Type: AWS::Serverless::Function
    Properties:
      Handler: event_handlers.logged
"""


@pytest.fixture
def env(tmp_path: Path) -> Iterator[TestEnv]:
    path = tmp_path / "template.yaml"
    path.write_text(TEMPLATE)
    with TestEnv(load_template(path), virtual_clock=False) as test_env:
        yield test_env


def test_a_handler_reads_the_event_as_lambda_sends_it(env: TestEnv) -> None:
    before_ms = int(time.time() * 1000)
    execution = env.start("Raw", {"order": 7})
    seen = execution.result()
    assert seen["type"] == "dict"
    assert seen["keys"] == ["CheckpointToken", "DurableExecutionArn", "InitialExecutionState"]
    assert seen["arn"] == execution.arn and seen["token"] and seen["as_json"]
    assert seen["execution"] == {"Type": "EXECUTION", "Status": "STARTED"}
    assert isinstance(seen["start"], int) and before_ms - 1000 <= seen["start"] <= int(time.time() * 1000)  # epoch ms
    assert seen["marker"] == ""
    assert seen["input"] == {"order": 7}


def test_the_official_sdk_checkpoints_in_process_behind_a_plain_handler(env: TestEnv, tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    execution = env.start("Logged", {"x": 20, "log": str(log)})
    assert execution.result() == 41
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e["arn"] for e in events] == [execution.arn] * 2  # before the wait, after it
    assert events[0]["operations"] == ["EXECUTION"]
    assert events[1]["operations"] == ["EXECUTION", "STEP", "WAIT"]
