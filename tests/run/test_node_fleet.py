"""Node functions on a PostgreSQL fleet: ``perdure serve --no-workers`` takes the calls,
``perdure worker --functions`` processes run them (their sandboxes too)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.fleet_support import worker
from tests.support import NODE_TEMPLATE, Serve, callback_ids, history, wait_for_status


def test_perdure_worker_hosts_node_functions(pg_url: str, tmp_path: Path) -> None:
    server = Serve(pg_url, tmp_path / "serve.log", "--no-workers", template=NODE_TEMPLATE).start()
    node = worker(pg_url, tmp_path, "node", "--functions", "NodeWaiter,NodeApproval", "--concurrency", "1",
                  template=NODE_TEMPLATE).start()
    python = worker(pg_url, tmp_path, "python", "--functions", "PyWaiter", "--concurrency", "1",
                    template=NODE_TEMPLATE).start()
    try:
        client = server.client()
        response = client.invoke(FunctionName="NodeWaiter", Payload=b'{"seconds": 1}')
        assert "FunctionError" not in response, response["Payload"].read()
        assert json.loads(response["Payload"].read()) == {"before": "v1", "after": "after", "ranBy": "node"}
        response = client.invoke(FunctionName="PyWaiter", Payload=b'{"seconds": 1}')
        assert json.loads(response["Payload"].read()) == {"after": "after", "ranBy": "python"}

        # A callback answered through the server resumes the Node execution on its worker.
        arn = client.invoke(FunctionName="NodeApproval", InvocationType="Event", Payload=b"{}")["DurableExecutionArn"]
        [approve] = callback_ids(client, arn, 1)
        client.send_durable_execution_callback_success(CallbackId=approve, Result=b'"erin"')
        confirm = callback_ids(client, arn, 2)[1]
        client.send_durable_execution_callback_success(CallbackId=confirm, Result=b'"ok"')
        execution = wait_for_status(client, arn)
        assert execution["Status"] == "SUCCEEDED", execution
        assert json.loads(execution["Result"])["approvedBy"] == '"erin"'

        # Nobody hosts NodeEcho and the server runs nothing itself: it is never invoked.
        idle = client.invoke(FunctionName="NodeEcho", InvocationType="Event", Payload=b"{}")["DurableExecutionArn"]
        time.sleep(2)
        assert [e["EventType"] for e in history(client, idle)] == ["ExecutionStarted"]
        client.stop_durable_execution(DurableExecutionArn=idle)
    finally:
        for process in (node, python, server):
            process.stop()
