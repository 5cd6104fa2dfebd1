"""Safe defaults of a real ``perdure serve``: the Host allow-list, refusal of cross-site
browser requests, the console's same-origin exemption, and no unauthenticated serving
beyond loopback unless asked for."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import HANDLERS, ROOT, Serve, free_port, lambda_client

INVOKE = "/2015-03-31/functions/Hello/invocations"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    tmp = tmp_path_factory.mktemp("guard")
    serve = Serve(
        f"sqlite:///{tmp / 'db.sqlite'}", tmp / "serve.log", "--workers", "1",
        "--allowed-host", "perdure.internal", "--allowed-host", "*.fleet.example",
    )
    serve.start()
    try:
        yield serve
    finally:
        serve.stop()


def request(
    server: Serve, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> tuple[int, str, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.putrequest(method, path, skip_host="Host" in headers)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        raw = response.read()
        return response.status, response.getheader("x-amzn-ErrorType", ""), json.loads(raw) if raw else None
    finally:
        connection.close()


def hello_runs(server: Serve) -> int:
    listed = lambda_client(server.url).list_durable_executions_by_function(FunctionName="Hello")
    return len(listed["DurableExecutions"])


def test_host_allow_list(server: Serve) -> None:
    for host in ("localhost", f"localhost:{server.port}", f"127.0.0.1:{server.port}", f"[::1]:{server.port}",
                 "perdure.internal:9000", "a.fleet.example"):
        status, code, _ = request(server, "GET", "/2025-12-01/functions/Hello/durable-executions", {"Host": host})
        assert (status, code) == (200, ""), host
    for host in ("attacker.example", f"attacker.example:{server.port}", "fleet.example", "127.0.0.1.nip.io"):
        status, code, body = request(server, "GET", "/2025-12-01/functions/Hello/durable-executions", {"Host": host})
        assert (status, code) == (403, "ForbiddenException"), host
        assert "--allowed-host" in body["message"]


def test_cross_site_browser_requests_change_nothing(server: Serve) -> None:
    before = hello_runs(server)
    local = f"127.0.0.1:{server.port}"
    payload = b'{"name": "csrf"}'
    refused = [
        ({"Host": local, "Origin": "http://attacker.example", "Content-Type": "application/json"}, 403, "ForbiddenException"),
        ({"Host": local, "Origin": "null", "Content-Type": "application/json"}, 403, "ForbiddenException"),
        ({"Host": local, "Sec-Fetch-Site": "cross-site"}, 403, "ForbiddenException"),
        ({"Host": local, "Content-Type": "text/plain"}, 415, "UnsupportedMediaTypeException"),
        ({"Host": local, "Content-Type": "application/x-www-form-urlencoded"}, 415, "UnsupportedMediaTypeException"),
        ({"Host": local, "Content-Type": "multipart/form-data; boundary=x"}, 415, "UnsupportedMediaTypeException"),
    ]
    for headers, status, code in refused:
        got = request(server, "POST", INVOKE, headers, payload)
        assert got[:2] == (status, code), (headers, got)
    assert hello_runs(server) == before
    # The same request from a page of this origin, or from a script without an Origin, runs.
    for headers in ({"Host": local, "Origin": f"http://{local}", "Content-Type": "text/plain"},
                    {"Host": local, "Content-Type": "application/json"}, {"Host": local}):
        status, code, body = request(server, "POST", INVOKE, headers, payload)
        assert (status, code) == (200, ""), (headers, body)
    assert hello_runs(server) == before + 3


def test_console_pages_handle_their_own_forms(server: Serve) -> None:
    local = f"127.0.0.1:{server.port}"
    form = {"Host": local, "Content-Type": "application/x-www-form-urlencoded"}
    # A same-origin (or Origin-less) form post to the console passes the guard (the
    # console answers: without --auth there is nothing to sign in to, so it redirects)...
    for headers in (form, {**form, "Origin": f"http://{local}", "Sec-Fetch-Site": "same-origin"}):
        status, code, _ = request(server, "POST", "/console/login", headers, b"a=b")
        assert (status, code) == (303, "")
    # ...one from another site does not.
    status, code, _ = request(server, "POST", "/console/login", {**form, "Origin": "http://attacker.example"}, b"a=b")
    assert (status, code) == (403, "ForbiddenException")


def _serve(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "perdure", "serve", "-t", str(HANDLERS / "template.yaml"),
         "--db", f"sqlite:///{tmp_path / 'db.sqlite'}", "--workers", "1", "--port", str(free_port()), *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
    )


def test_no_unauthenticated_serving_beyond_loopback(tmp_path: Path) -> None:
    for host in ("0.0.0.0", "::", "192.0.2.10"):
        proc = _serve(tmp_path, "--host", host)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 2, out
        assert f"--host {host} lets other machines reach the API" in out
        assert "--auth FILE" in out and "--insecure-no-auth" in out


@pytest.mark.parametrize("extra", [["--insecure-no-auth"], ["--auth", "AUTH"], ["ENV"]])
def test_a_wildcard_bind_starts_with_auth_or_when_asked(tmp_path: Path, extra: list[str]) -> None:
    auth = tmp_path / "auth.toml"
    auth.write_text('[[credentials]]\naccess_key_id = "AKIAX"\nsecret_access_key = "0123456789abcdef"\n'
                    'actions = ["*"]\nresources = ["*"]\n')
    options = [str(auth) if a == "AUTH" else a for a in extra if a != "ENV"]
    serve = Serve(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "serve.log", "--workers", "1",
                  "--host", "0.0.0.0", *options)
    if "ENV" in extra:
        serve.env["PERDURE_AUTH"] = str(auth)  # PERDURE_AUTH stands for --auth
    serve.start()
    try:
        status, code, _ = request(serve, "GET", "/2025-12-01/functions/Hello/durable-executions", {})
        if extra == ["--insecure-no-auth"]:
            assert (status, code) == (200, "")
        else:
            assert (status, code) == (403, "MissingAuthenticationTokenException")
    finally:
        serve.stop()


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[[credentials]]\naccess_key_id = 'AKIAX'\nsecret_access_key = 'short'\nactions=['*']\nresources=['*']\n",
         "secret_access_key must be at least 16 characters"),
        ("[[credentials]]\naccess_key_id = 'AKIAX'\nsecret_access_key = '0123456789abcdef'\n"
         "actions=['lambda:GetDurableExecutions']\nresources=['*']\n", "matches no Lambda action"),
        ("[[credentials]]\naccess_key_id = 'AKIAX'\nsecret_access_key = '0123456789abcdef'\nactions=['*']\n",
         "resources must be a non-empty list"),
        ("credentials = 3", "no [[credentials]] entries"),
        ("[[credentials\n", "not valid TOML"),
    ],
)
def test_bad_auth_files_are_named(tmp_path: Path, text: str, words: str) -> None:
    auth = tmp_path / "auth.toml"
    auth.write_text(text)
    proc = _serve(tmp_path, "--auth", str(auth))
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2, out
    assert f"auth file {auth}" in out and words in out, out
