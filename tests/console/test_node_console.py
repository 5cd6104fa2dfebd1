"""The console's pages for executions of a Node function, served by ``perdure serve``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html import unescape
from urllib.parse import quote

import pytest

from tests.console.test_app import csrf_of, execution_page, get, post
from tests.logs.test_node_logs import run_node_chatty
from tests.support import NODE_TEMPLATE, Server, callback_ids, wait_for_event, wait_for_status


@pytest.fixture(scope="module")
def node_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(tmp_path_factory.mktemp("node-console") / "perdure.db", template=NODE_TEMPLATE)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def text_of(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def test_node_execution_pages(node_server: Server) -> None:
    arn = run_node_chatty(node_server.url, "o-90")
    status, body, _ = get(node_server.url + "/console/")
    assert status == 200 and "app.chatty" in body
    row = body[body.index(">NodeChatty<"):].split("</tr>", 1)[0]
    assert re.search(r"succeeded\s+1", row), row

    status, body, _ = get(f"{node_server.url}/console/executions?function=NodeChatty")
    assert status == 200 and arn.rsplit("/", 1)[-1] in body

    status, body, _ = execution_page(node_server, arn)
    assert status == 200, body[:500]
    shown = text_of(body)
    assert "succeeded" in shown.lower()
    assert '"order": "o-90"' in unescape(body) and '"charged": "charged"' in unescape(body)
    for name in ("reserve", "pause", "charge"):  # the operation tree
        assert name in shown, name
    assert body.count('class="bar invocation') == 1 + 2  # the legend's; before the wait and after it
    panel = body[body.index("#show-replay:not(:checked)"):]
    logged = text_of(panel)
    for line in ("logger at the top for o-90", "reserving stock for o-90", "card declined once for o-90",
                 "console while reserving o-90", "done with o-90"):
        assert logged.count(line) == 1, (line, logged)

    status, body, _ = get(f"{node_server.url}/console/execution/operations?arn={quote(arn, safe='')}")
    assert status == 200 and body.count("Rerun from here") == 3


def test_node_callback_answered_from_the_console(node_server: Server) -> None:
    client = node_server.client()
    arn = client.invoke(FunctionName="NodeApproval", InvocationType="Event", Payload=b"{}")["DurableExecutionArn"]
    approve = wait_for_event(client, arn, "CallbackStarted")["CallbackStartedDetails"]["CallbackId"]
    wait_for_event(client, arn, "InvocationCompleted")
    status, body, headers = execution_page(node_server, arn)
    assert status == 200 and approve in body and "Waiting for 1 callback" in body
    token = csrf_of(headers, body)
    fields = {"csrf": token, "arn": arn, "callback_id": approve, "op": "succeed", "result": '"carol"'}
    status, _, location = post(node_server, "/console/callback", fields, token, origin=node_server.url)
    assert status == 303 and "done=callback" in location
    confirm = callback_ids(client, arn, 2)[1]  # waitForCallback's, once its submitter ran
    status, body, headers = execution_page(node_server, arn)
    assert re.findall(r'name="callback_id" value="([^"]+)"', body)[0] == confirm
    fields = {**fields, "csrf": csrf_of(headers, body), "callback_id": confirm, "result": '{"ok": true}'}
    status, _, _ = post(node_server, "/console/callback", fields, fields["csrf"], origin=node_server.url)
    assert status == 303
    final = wait_for_status(client, arn)
    assert final["Status"] == "SUCCEEDED", final
    assert json.loads(final["Result"])["approvedBy"] == '"carol"'
