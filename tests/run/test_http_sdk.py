"""An unmodified handler in another process, checkpointing over HTTP with boto3
(``AWS_ENDPOINT_URL_LAMBDA``), as it would against AWS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from perdure.core.engine import Engine
from perdure.deploy.functions import FunctionSpec
from perdure.run.worker import outcome_of
from perdure.store import open_store
from tests.support import HANDLERS, Server, history

RUNNER = """
import json, sys
sys.path.insert(0, sys.argv[1])
import basic

class Context:
    aws_request_id = "external-request"
    function_name = "External"
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:External"
    def get_remaining_time_in_millis(self):
        return 60000

event = json.load(open(sys.argv[2]))
print(json.dumps(getattr(basic, sys.argv[3])(event, Context())))
"""


def test_handler_in_another_process_checkpoints_over_http(server: Server, tmp_path: Path) -> None:
    # "External" is not in the server's template: the server's workers never claim it,
    # so this test plays the part of an outside runner (a Lambda sandbox, say).
    engine = Engine(open_store(server.db_url), {"External": FunctionSpec(name="External", handler="basic.waiter", timeout_s=60)})
    row, _ = engine.start_execution("External", json.dumps({"seconds": 1}))
    outputs = []
    for _ in range(2):  # first invocation suspends in the wait, the second finishes
        [invocation] = engine.claim(["External"], 1, "outside-runner")
        event_file = tmp_path / "event.json"
        event_file.write_text(json.dumps(invocation.event()))
        env = dict(os.environ, AWS_ENDPOINT_URL_LAMBDA=server.url, AWS_ACCESS_KEY_ID="x",
                   AWS_SECRET_ACCESS_KEY="x", AWS_DEFAULT_REGION="us-east-1")
        done = subprocess.run(
            [sys.executable, "-c", RUNNER, str(HANDLERS), str(event_file), "waiter"],
            env=env, capture_output=True, text=True, timeout=60, check=True,
        )
        output = json.loads(done.stdout.strip().splitlines()[-1])
        outputs.append(output["Status"])
        engine.complete_invocation(row.arn, invocation.invocation_id, outcome_of(output))
        if output["Status"] == "PENDING":
            time.sleep(1.1)
            engine.fire_due()
    assert outputs == ["PENDING", "SUCCEEDED"]
    execution = server.client().get_durable_execution(DurableExecutionArn=row.arn)
    assert execution["Status"] == "SUCCEEDED" and execution["Result"] == '"after"'
    types = [e["EventType"] for e in history(server.client(), row.arn)]
    assert types == [
        "ExecutionStarted", "StepStarted", "StepSucceeded", "WaitStarted", "InvocationCompleted",
        "WaitSucceeded", "StepStarted", "StepSucceeded", "InvocationCompleted", "ExecutionSucceeded",
    ]
