"""Node functions behind ``perdure serve --auth``: clients sign their calls, while a Node
sandbox checkpoints to its own Runtime API server, which answers only for the execution
that sandbox is running."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError

from tests.http.test_auth import client, code_of
from tests.support import (
    NODE_TEMPLATE,
    callback_ids,
    credential,
    history,
    serving_with_auth,
    wait_for_event,
    wait_for_status,
)

ADMIN = ("AKIANODEADMIN", "node-admin-secret-0123456789abcdef")
APPROVER = ("AKIANODEAPPROVER", "node-approver-secret-0123456789abcdef")


def test_node_functions_run_while_clients_must_sign(tmp_path: Path) -> None:
    with serving_with_auth(
        tmp_path,
        credential(ADMIN, ["lambda:*"], name="admin"),
        credential(APPROVER, ["lambda:SendDurableExecutionCallback*"], ["NodeApproval"], name="approver"),
        template=NODE_TEMPLATE,
    ) as server:
        for key, expected in ((None, "MissingAuthenticationTokenException"),
                              ((ADMIN[0], "not-the-secret"), "InvalidSignatureException")):
            with pytest.raises(ClientError) as excinfo:
                client(server.url, key).invoke(FunctionName="NodeChatty", Payload=b"{}")
            assert code_of(excinfo)[:2] == (expected, 403)
        admin = client(server.url, ADMIN)
        assert admin.list_durable_executions_by_function(FunctionName="NodeChatty")["DurableExecutions"] == []

        # Signed, a Node execution runs through its wait; its checkpoints needed no key.
        response = admin.invoke(FunctionName="NodeChatty", Payload=b'{"order": "o-5"}')
        assert "FunctionError" not in response, response["Payload"].read()
        assert json.loads(response["Payload"].read())["charged"] == "charged"
        response = admin.invoke(FunctionName="NodeCallsPython", Payload=b'{"x": 9}')
        assert json.loads(response["Payload"].read())["answer"] == {"echo": {"x": 9}, "runtime": "python"}

        waiting = admin.invoke(FunctionName="NodeApproval", InvocationType="Event", Payload=b"{}")["DurableExecutionArn"]
        [approve] = callback_ids(admin, waiting, 1)
        wait_for_event(admin, waiting, "InvocationCompleted")  # suspended on the callback
        before = len(history(admin, waiting))

        # From inside a Node sandbox: a checkpoint for another execution, to the sandbox's
        # endpoint and to the server with the sandbox's keys.
        response = admin.invoke(FunctionName="NodeProbe", Payload=json.dumps({"other": waiting, "server": server.url}))
        assert "FunctionError" not in response, response["Payload"].read()
        probe = json.loads(response["Payload"].read())
        endpoint = urlsplit(probe["endpoint"])
        assert endpoint.hostname == "127.0.0.1" and endpoint.port != server.port  # its own loopback server
        assert probe["local"] == {"status": 403, "error": "AccessDeniedException"}
        assert probe["server"] == {"status": 403, "error": "UnrecognizedClientException"}
        assert len(history(admin, waiting)) == before  # the other execution saw nothing

        approver = client(server.url, APPROVER)
        with pytest.raises(ClientError) as excinfo:
            approver.get_durable_execution(DurableExecutionArn=waiting)
        assert code_of(excinfo)[0] == "AccessDeniedException"
        approver.send_durable_execution_callback_success(CallbackId=approve, Result=b'"frank"')
        confirm = callback_ids(admin, waiting, 2)[1]
        approver.send_durable_execution_callback_success(CallbackId=confirm, Result=b'"ok"')
        done = wait_for_status(admin, waiting)
        assert done["Status"] == "SUCCEEDED", done
        assert json.loads(done["Result"])["approvedBy"] == '"frank"'
