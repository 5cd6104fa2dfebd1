"""Limits a handler runs into end the execution clearly instead of retrying forever."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support import HANDLERS, Serve, history, wait_for_status


def test_a_step_result_over_the_payload_limit_fails_the_execution_at_once(tmp_path: Path) -> None:
    server = Serve(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "serve.log", template=HANDLERS / "limits.yaml").start()
    try:
        client = server.client()
        attempts = tmp_path / "attempts.txt"
        arn = client.invoke(FunctionName="BigStep", InvocationType="Event", Payload=json.dumps({"log": str(attempts)}).encode())["DurableExecutionArn"]
        execution = wait_for_status(client, arn, timeout=60)
        assert execution["Status"] == "FAILED", execution
        # The user sees which update was too large and the limit.
        assert "Payload is 307202 bytes; the limit is 262144" in execution["Error"]["ErrorMessage"], execution["Error"]
        events = [e["EventType"] for e in history(client, arn)]
        assert events.count("InvocationCompleted") == 1, events  # not retried invocation after invocation
        assert attempts.read_text().count("attempt") == 1
    finally:
        server.stop()
