"""The web console over real HTTP, served by a real ``perdure serve`` process: pages,
filters, errors (4xx with a message, never a traceback), CSRF and actions."""

from __future__ import annotations

import http.client
import json
import re
import time
import urllib.error
import urllib.request
from html import unescape
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlsplit

from perdure import PerdureClient
from tests.support import Serve, Server, wait_for_event, wait_for_status


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


OPENER = urllib.request.build_opener(NoRedirect)


def get(url: str) -> tuple[int, str, dict[str, str]]:
    try:
        with OPENER.open(url, timeout=10) as r:
            return r.status, r.read().decode(), dict(r.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), dict(exc.headers)


def post(server: Server, path: str, fields: dict[str, str], cookie: str | None, origin: str | None = None) -> tuple[int, str, str]:
    """A form POST through http.client (no redirect following); (status, body, Location)."""
    host = urlsplit(server.url).netloc
    conn = http.client.HTTPConnection(host, timeout=10)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if cookie:
        headers["Cookie"] = f"perdure_csrf={cookie}"
    if origin:
        headers["Origin"] = origin
    conn.request("POST", path, body=urlencode(fields), headers=headers)
    r = conn.getresponse()
    body = r.read().decode()
    conn.close()
    return r.status, body, r.getheader("location") or ""


def csrf_of(headers: dict[str, str], body: str) -> str:
    cookie = re.search(r"perdure_csrf=([^;]+)", headers.get("set-cookie", ""))
    assert cookie, headers
    field = re.search(r'name="csrf" value="([^"]+)"', body)
    assert field and field.group(1) == cookie.group(1)
    return cookie.group(1)


def execution_page(server: Serve, arn: str) -> tuple[int, str, dict[str, str]]:
    return get(f"{server.url}/console/execution?arn={quote(arn, safe='')}")


def test_root_redirects_and_functions_page_counts(server: Server) -> None:
    client = server.client()
    client.invoke(FunctionName="Hello", Payload=b'{"name": "a"}')
    status, _, headers = get(server.url + "/")
    assert status == 307 and headers["location"] == "/console/"
    status, body, _ = get(server.url + "/console/")
    assert status == 200
    assert "basic.hello" in body and "Approval" in body
    row = body[body.index(">Hello<"):].split("</tr>", 1)[0]
    assert re.search(r"succeeded\s+1", row), row
    # The Lambda API is untouched behind the console.
    assert json.loads(get(server.url + "/ping")[1])["status"] == "ok"


def test_executions_filters_search_and_pages(server: Server) -> None:
    client = server.client()
    for i in range(5):
        client.invoke(FunctionName="Approval", InvocationType="Event", Payload=b"{}", DurableExecutionName=f"order-{i}")
    client.invoke(FunctionName="Hello", Payload=b'{"name": "x"}', DurableExecutionName="greeting")
    status, body, _ = get(f"{server.url}/console/executions?q=order-3")
    assert status == 200
    assert ">order-3<" in body and ">order-2<" not in body and ">greeting<" not in body
    status, body, _ = get(f"{server.url}/console/executions?function=Hello&status=SUCCEEDED")
    assert ">greeting<" in body and "order-" not in body
    # Two per page, newest first: order-4, order-3 | order-2, order-1 | order-0.
    status, body, _ = get(f"{server.url}/console/executions?function=Approval&size=25")
    names = re.findall(r">(order-\d)<", body)
    assert names == ["order-4", "order-3", "order-2", "order-1", "order-0"]
    # A full ARN goes straight to its execution.
    arn = client.list_durable_executions_by_function(FunctionName="Hello")["DurableExecutions"][0]["DurableExecutionArn"]
    status, _, headers = get(f"{server.url}/console/executions?q={quote(arn, safe='')}")
    assert status == 303 and "/console/execution?arn=" in headers["location"]
    # Time filters: nothing started in the future.
    future = int(time.time() * 1000) + 3_600_000
    status, body, _ = get(f"{server.url}/console/executions?from={future}")
    assert "No executions match" in body
    # The live fragment is the table alone.
    status, body, _ = get(f"{server.url}/console/executions?function=Approval&partial=1")
    assert status == 200 and body.lstrip().startswith("<table") and "<html" not in body


def test_pagination_follows_markers(server: Server) -> None:
    client = server.client()
    for i in range(30):
        client.invoke(FunctionName="Approval", InvocationType="Event", Payload=b"{}", DurableExecutionName=f"p-{i:02d}")
    seen: list[str] = []
    url = f"{server.url}/console/executions?function=Approval&size=25"
    status, body, _ = get(url)
    seen += re.findall(r">(p-\d\d)<", body)
    older = re.search(r'href="(\?[^"]+)" rel="next"', body)
    assert older and 'rel="prev"' not in body
    status, body, _ = get(f"{server.url}/console/executions{unescape(older.group(1))}")
    seen += re.findall(r">(p-\d\d)<", body)
    assert seen == [f"p-{i:02d}" for i in range(29, -1, -1)]
    newer = re.search(r'href="(\?[^"]+)" rel="prev"', body)
    assert newer and 'rel="next"' not in body
    status, body, _ = get(f"{server.url}/console/executions{unescape(newer.group(1))}")
    assert status == 200
    assert re.findall(r">(p-\d\d)<", body)[0] == "p-29"


def test_client_mistakes_are_4xx_pages(server: Server) -> None:
    for path, code, words in [
        ("/console/execution?arn=arn:nope", 404, "not found"),
        ("/console/execution", 400, "arn is required"),
        ("/console/executions?status=BOGUS", 400, "Unknown status"),
        ("/console/executions?function=Nope", 400, "Unknown function"),
        ("/console/executions?from=yesterday", 400, "from must be a date"),
        ("/console/executions?size=7", 400, "size must be one of"),
        ("/console/executions?marker=%%%", 400, "Invalid marker"),
        ("/console/execution/payload?arn=x&field=secrets", 400, "field must be"),
        ("/console/nothing-here", 404, "Not Found"),
    ]:
        status, body, _ = get(server.url + path)
        assert status == code, (path, status, body[:300])
        assert words.lower() in body.lower(), (path, body[:500])
        assert "Traceback" not in body


def test_execution_page_and_callback_form(server: Server) -> None:
    client = server.client()
    arn = client.invoke(FunctionName="Approval", InvocationType="Event", Payload=b'{"order": 7}', DurableExecutionName="order-7")["DurableExecutionArn"]
    started = wait_for_event(client, arn, "CallbackStarted")
    callback_id = started["CallbackStartedDetails"]["CallbackId"]
    wait_for_event(client, arn, "InvocationCompleted")
    status, body, headers = execution_page(server, arn)
    assert status == 200
    assert callback_id in body and "Waiting for 1 callback" in body
    assert '"order": 7' in unescape(body)
    assert 'class="bar callback open"' in body and 'class="bar invocation' in body
    token = csrf_of(headers, body)
    fields = {"csrf": token, "arn": arn, "callback_id": callback_id, "op": "succeed", "result": '{"approved": true}'}
    # No token, a wrong token, a foreign origin: refused, nothing sent.
    assert post(server, "/console/callback", {**fields, "csrf": ""}, token)[0] == 403
    assert post(server, "/console/callback", fields, "x" * 43)[0] == 403
    status, body, _ = post(server, "/console/callback", fields, token, origin="http://evil.example")
    assert status == 403 and "cross-origin" in body.lower()  # the guard in front, or the console itself
    assert client.get_durable_execution(DurableExecutionArn=arn)["Status"] == "RUNNING"
    # Bad JSON is the reviewer's mistake: 400 with the reason.
    status, body, _ = post(server, "/console/callback", {**fields, "result": "{nope"}, token)
    assert status == 400 and "not valid JSON" in body
    status, _, location = post(server, "/console/callback", fields, token, origin=server.url)
    assert status == 303 and "done=callback" in location
    final = wait_for_status(client, arn)
    assert final["Status"] == "SUCCEEDED", final
    status, body, _ = execution_page(server, arn)
    assert "Waiting for" not in body and "succeeded" in body


def test_actions_pause_resume_stop_delete(server: Server) -> None:
    client = server.client()
    arn = client.invoke(FunctionName="Approval", InvocationType="Event", Payload=b"{}", DurableExecutionName="act")["DurableExecutionArn"]
    wait_for_event(client, arn, "CallbackStarted")
    status, body, headers = execution_page(server, arn)
    token = csrf_of(headers, body)
    assert 'value="pause"' in body and 'value="resume"' not in body
    for action, expected in (("pause", ("PAUSING", "PAUSED")), ("resume", ("RUNNING",)), ("stop", ("STOPPED",))):
        status, _, location = post(server, "/console/execution/action", {"csrf": token, "arn": arn, "action": action}, token)
        assert status == 303, action
        deadline = time.monotonic() + 10
        while client.get_durable_execution(DurableExecutionArn=arn)["Status"] not in expected and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.get_durable_execution(DurableExecutionArn=arn)["Status"] in expected, action
    # Resuming a stopped execution is a client mistake (the engine's own message).
    status, body, _ = post(server, "/console/execution/action", {"csrf": token, "arn": arn, "action": "resume"}, token)
    assert 400 <= status < 500 and "Traceback" not in body
    status, body, _ = post(server, "/console/execution/action", {"csrf": token, "arn": arn, "action": "explode"}, token)
    assert status == 400 and "action must be one of" in body
    status, _, location = post(server, "/console/execution/action", {"csrf": token, "arn": arn, "action": "delete"}, token)
    assert status == 303 and "deleted" in location
    assert execution_page(server, arn)[0] == 404


def test_large_payload_is_cut_with_download(server: Server) -> None:
    client = server.client()
    big = json.dumps({"blob": "x" * 100_000})
    arn = client.invoke(FunctionName="Approval", InvocationType="Event", Payload=big.encode(), DurableExecutionName="big")["DurableExecutionArn"]
    status, body, _ = execution_page(server, arn)
    assert "Cut at 32 KB" in body and len(body) < 90_000
    status, full, headers = get(f"{server.url}/console/execution/payload?arn={quote(arn, safe='')}&field=input")
    assert status == 200 and json.loads(full) == json.loads(big)
    assert "attachment" in headers["content-disposition"]


def test_rerun_from_an_operation(server: Server) -> None:
    client = server.client()
    result = client.invoke(FunctionName="Sequential", Payload=b'{"steps": 4}', DurableExecutionName="seq")
    assert json.loads(result["Payload"].read()) == 6
    arn = client.list_durable_executions_by_function(FunctionName="Sequential")["DurableExecutions"][0]["DurableExecutionArn"]
    status, body, headers = get(f"{server.url}/console/execution/operations?arn={quote(arn, safe='')}")
    assert status == 200 and body.count("Rerun from here") == 4
    s2 = re.search(r'name="from" value="([^"]+)"', body.split(">s2<", 1)[1])
    assert s2
    token = csrf_of(headers, body)
    status, _, location = post(server, "/console/execution/rerun", {"csrf": token, "arn": arn, "from": s2.group(1)}, token)
    assert status == 303 and "started+as+a+rerun+of+seq+from+s2" in location, location
    new_arn = unquote(location.split("arn=", 1)[1].split("&", 1)[0])
    assert new_arn != arn
    final = wait_for_status(client, new_arn)
    assert final["Status"] == "SUCCEEDED" and json.loads(final["Result"]) == 6
    # botocore drops ReusedFrom (not in its model); the console's history shows it.
    status, body, _ = execution_page(server, new_arn)
    # Started + Succeeded of s0 and s1, each shown as a summary and in full.
    assert status == 200 and unescape(body).count('"ReusedFrom"') == 2 * 4


def test_advance_fires_a_pending_wait_in_development(server: Server) -> None:
    client = server.client()
    arn = client.invoke(FunctionName="Waiter", InvocationType="Event", Payload=b'{"seconds": 3600}', DurableExecutionName="long-wait")["DurableExecutionArn"]
    wait_for_event(client, arn, "WaitStarted")
    wait_for_event(client, arn, "InvocationCompleted")  # suspended in its hour-long wait
    status, body, headers = execution_page(server, arn)
    assert 'value="advance"' in body
    token = csrf_of(headers, body)
    status, _, location = post(server, "/console/execution/action", {"csrf": token, "arn": arn, "action": "advance"}, token)
    assert status == 303 and "advanced+1+timer" in location, location
    assert wait_for_status(client, arn, timeout=30)["Status"] == "SUCCEEDED"
    # perdure's own client sees perdure's TimerAdvanced event (the Lambda API leaves it out).
    with PerdureClient(server.url) as perdure:
        types = [e["EventType"] for e in perdure.lambda_client.get_durable_execution_history(DurableExecutionArn=arn)["Events"]]
    assert "TimerAdvanced" in types and types.index("TimerAdvanced") < types.index("WaitSucceeded")
    # Nothing is pending any more: advancing again is a client mistake, shown as such.
    status, body, _ = post(server, "/console/execution/action", {"csrf": token, "arn": arn, "action": "advance"}, token)
    assert 400 <= status < 500 and "Traceback" not in body
