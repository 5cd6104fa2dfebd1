"""``AWS_LAMBDA_MAX_CONCURRENCY`` in a function's environment caps how many of its
invocations one worker process runs at once (1: one after another, as in a Lambda
sandbox)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from perdure.deploy import load_template
from perdure.run import Runtime
from tests.support import HANDLERS

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Held:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.13
      CodeUri: {code}
      Handler: held.held
      Timeout: 30
      DurableConfig: {{ExecutionTimeout: 300}}
      Environment:
        Variables: {{AWS_LAMBDA_MAX_CONCURRENCY: "{limit}"}}
"""


def most_at_once(log: Path) -> int:
    marks = sorted((json.loads(line) for line in log.read_text().splitlines()), key=lambda m: (m["at"], m["delta"]))
    running = most = 0
    for mark in marks:
        running += mark["delta"]
        most = max(most, running)
    assert running == 0 and len(marks) % 2 == 0
    return most


@pytest.mark.parametrize("limit", [1, 2])
def test_a_process_runs_at_most_the_functions_limit(tmp_path: Path, limit: int) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(TEMPLATE.format(code=HANDLERS, limit=limit))
    log = tmp_path / "held.jsonl"
    with Runtime(f"sqlite:///{tmp_path / 'db.sqlite'}", load_template(template), processes=1) as runtime:
        arns = [runtime.invoke("Held", json.dumps({"log": str(log), "seconds": 0.3})) for _ in range(4)]
        for arn in arns:
            assert runtime.wait(arn, timeout=60).status == "SUCCEEDED"
    assert most_at_once(log) == limit
