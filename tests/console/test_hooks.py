"""The console's hooks: authentication (what the security issue plugs in: a login redirect
for strangers, no action buttons and refused POSTs for a read-only credential) and
plugin pages, links and panels (what podscribe, logs or rerun plug in)."""

from __future__ import annotations

import http.client
import re
import threading
import time
from collections.abc import Iterator, Sequence
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
import uvicorn
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from perdure.console import Console, Viewer, with_console
from perdure.core.engine import Engine
from perdure.deploy.functions import FunctionSpec
from perdure.store import open_store
from perdure.store.base import ExecutionRow
from tests.support import free_port


async def by_cookie(request: Request) -> Viewer | Response:
    who = request.cookies.get("who")
    if who is None:
        return RedirectResponse("/login", status_code=303)
    return Viewer(name=who, can_write=who != "reader")


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[int, Engine]]:
    engine = Engine(open_store(f"sqlite:///{tmp_path / 'db.sqlite'}"), {"Fn": FunctionSpec(name="Fn", handler="x.y")})
    app = with_console(PlainTextResponse("api"), Console(engine, authenticate=by_cookie, plugins=[]))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield port, engine
    finally:
        server.should_exit = True
        thread.join(10)
        engine.store.close()


def request(port: int, method: str, path: str, cookie: str = "", body: str | None = None) -> tuple[int, str, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Cookie": cookie} if cookie else {}
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    out = (r.status, r.read().decode(), r.getheader("location") or "")
    conn.close()
    return out


def test_login_hook_and_read_only_viewer(site: tuple[int, Engine]) -> None:
    port, engine = site
    arn = engine.start_execution("Fn", "{}", "guarded")[0].arn
    page = f"/console/execution?arn={quote(arn, safe='')}"
    status, _, location = request(port, "GET", page)
    assert status == 303 and location == "/login"
    assert request(port, "GET", "/console/executions")[0] == 303

    status, body, _ = request(port, "GET", page, "who=admin")
    assert status == 200 and 'value="stop"' in body and ">admin<" in body
    status, body, _ = request(port, "GET", page, "who=reader")
    assert status == 200 and 'value="stop"' not in body and "read-only" in body

    token = "t" * 43
    form = urlencode({"csrf": token, "arn": arn, "action": "stop"})
    status, body, _ = request(port, "POST", "/console/execution/action", f"who=reader; perdure_csrf={token}", form)
    assert status == 403 and "read-only" in body
    status, body, _ = request(port, "POST", "/console/execution/action", f"perdure_csrf={token}", form)
    assert status == 403 and "log in" in body
    assert engine.get_execution(arn).status == "RUNNING"
    status, _, _ = request(port, "POST", "/console/execution/action", f"who=admin; perdure_csrf={token}", form)
    assert status == 303 and engine.get_execution(arn).status == "STOPPED"
    # Everything outside /console goes to the app behind (the Lambda API in perdure serve).
    assert request(port, "GET", "/2015-03-31/functions")[1] == "api"


class Notes:
    """A console plugin as another package would write one."""

    name = "notes"
    template_dir = None

    def routes(self, console: Console) -> list[BaseRoute]:
        async def hello(request: Request) -> Response:
            return PlainTextResponse(f"notes for {request.query_params['arn']}")

        return [Route("/hello", hello)]

    def links(self, console: Console, execution: ExecutionRow, operations: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
        return [("Open notes", f"/console/x/notes/hello?arn={quote(execution.arn, safe='')}")]

    def panels(self, console: Console, execution: ExecutionRow, operations: Sequence[dict[str, Any]]) -> list[tuple[str, Markup]]:
        return [("Logs", Markup(f"<pre id='logs'>{len(operations)} operations</pre>"))]


def test_plugin_routes_links_and_panels(tmp_path: Path) -> None:
    engine = Engine(open_store(f"sqlite:///{tmp_path / 'db.sqlite'}"), {"Fn": FunctionSpec(name="Fn", handler="x.y")})
    app = with_console(PlainTextResponse("api"), Console(engine, plugins=[Notes()]))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        arn = engine.start_execution("Fn", "{}", "noted")[0].arn
        status, body, _ = request(port, "GET", f"/console/execution?arn={quote(arn, safe='')}")
        assert status == 200 and "Open notes" in body and "<pre id='logs'>1 operations</pre>" in body
        link = re.search(r'href="(/console/x/notes/[^"]+)"', body)
        assert link
        status, body, _ = request(port, "GET", unescape(link.group(1)))
        assert status == 200 and body == f"notes for {arn}"
    finally:
        server.should_exit = True
        thread.join(10)
        engine.store.close()
