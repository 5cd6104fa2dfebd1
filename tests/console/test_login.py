"""The console behind ``perdure serve --auth``: sign in with the API's keys, see and do
only what the key may do through the API (a read-only key sees no buttons and its
POSTs are refused; a key limited to one function sees only that function)."""

from __future__ import annotations

import http.client
import re
from collections.abc import Iterator
from urllib.parse import quote, urlencode

import pytest

from tests.http.test_auth import client
from tests.support import Serve, credential, serving_with_auth, wait_for_event

ADMIN = ("AKIACONSOLEADMIN", "admin-secret-0123456789abcdef")
READER = ("AKIACONSOLEREADER", "reader-secret-0123456789abcdef")
HELLO = ("AKIACONSOLEHELLO", "hello-secret-0123456789abcdef")

READ = ["lambda:GetDurableExecution*", "lambda:ListDurableExecutionsByFunction"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    credentials = (
        credential(ADMIN, ["lambda:*"], name="admin"),
        credential(READER, READ, name="reader"),
        credential(HELLO, READ, ["Hello"], name="hello-reader"),
    )
    with serving_with_auth(tmp_path_factory.mktemp("console-auth"), *credentials) as serve:
        yield serve


class Browser:
    """Cookies kept between requests, as a browser keeps them."""

    def __init__(self, server: Serve) -> None:
        self.port = server.port
        self.cookies: dict[str, str] = {}

    def go(self, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, str, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}
        body = None
        if form is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            body = urlencode(form)
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        for header, value in r.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                cookie = rest.split(";", 1)[0].strip('"')
                if "Max-Age=0" in value or 'expires=Thu, 01 Jan 1970' in value or not cookie:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = cookie
        out = (r.status, r.read().decode(), r.getheader("location") or "")
        conn.close()
        return out

    def sign_in(self, key: tuple[str, str], expect: int = 303) -> tuple[int, str, str]:
        status, page, _ = self.go("GET", "/console/login?next=/console/executions")
        assert status == 200, page
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf
        result = self.go("POST", "/console/login", {"csrf": csrf.group(1), "next": "/console/executions",
                                                     "access_key_id": key[0], "secret_access_key": key[1]})
        assert result[0] == expect, result
        return result

    def csrf(self) -> str:
        return self.cookies["perdure_csrf"]


def test_sign_in_and_permissions(server: Serve) -> None:
    admin = client(server.url, ADMIN)
    arn = admin.invoke(FunctionName="Approval", InvocationType="Event", Payload=b"{}", DurableExecutionName="guarded")["DurableExecutionArn"]
    hello_arn = admin.invoke(FunctionName="Hello", InvocationType="Event", Payload=b'{"name": "x"}', DurableExecutionName="hi")["DurableExecutionArn"]
    callback_id = wait_for_event(admin, arn, "CallbackStarted")["CallbackStartedDetails"]["CallbackId"]
    page = f"/console/execution?arn={quote(arn, safe='')}"

    stranger = Browser(server)
    assert stranger.go("GET", "/")[:1] == (307,)  # a browser at the root: to the console...
    status, _, location = stranger.go("GET", page)  # ...which asks who you are first
    assert status == 303 and location.startswith("/console/login?next=")
    status, body, _ = stranger.sign_in((READER[0], "not-the-secret"), expect=401)
    assert "wrong secret" in body and "perdure_session" not in stranger.cookies
    stranger.cookies["perdure_session"] = f"{ADMIN[0]}|9999999999|{'0' * 64}"  # forged
    assert stranger.go("GET", page)[0] == 303

    reader = Browser(server)
    assert reader.sign_in(READER)[2] == "/console/executions"
    status, body, _ = reader.go("GET", page)
    assert status == 200 and "reader (read-only)" in body and "Sign out" in body
    assert 'value="stop"' not in body and 'name="callback_id"' not in body
    status, body, _ = reader.go("POST", "/console/execution/action", {"csrf": reader.csrf(), "arn": arn, "action": "stop"})
    assert status == 403 and "read-only" in body
    assert admin.get_durable_execution(DurableExecutionArn=arn)["Status"] == "RUNNING"

    hello = Browser(server)
    hello.sign_in(HELLO)
    status, body, _ = hello.go("GET", "/console/")
    assert status == 200 and ">Hello<" in body and ">Approval<" not in body
    status, body, _ = hello.go("GET", "/console/executions")
    assert ">hi<" in body and ">guarded<" not in body
    status, body, _ = hello.go("GET", page)
    assert status == 403 and "may not use lambda:GetDurableExecution" in body
    assert hello.go("GET", f"/console/execution?arn={quote(hello_arn, safe='')}")[0] == 200
    assert hello.go("GET", "/console/executions?function=Approval")[0] == 403

    boss = Browser(server)
    boss.sign_in(ADMIN)
    status, body, _ = boss.go("GET", page)
    assert 'value="stop"' in body and callback_id in body
    status, _, location = boss.go("POST", "/console/callback", {"csrf": boss.csrf(), "arn": arn, "callback_id": callback_id,
                                                               "op": "succeed", "result": '{"ok": true}'})
    assert status == 303, location
    status, _, location = boss.go("POST", "/console/logout", {"csrf": boss.csrf()})
    assert status == 303 and location == "/console/login" and "perdure_session" not in boss.cookies
    assert boss.go("GET", page)[0] == 303
