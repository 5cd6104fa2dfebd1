"""Safe defaults in front of the API: only expected ``Host`` names, and no requests a web
page could send from another site.

A page the user opens in a browser can reach a server on ``127.0.0.1`` in two ways:
DNS rebinding (its own name resolving to 127.0.0.1, so the ``Host`` header names the
attacker's domain) and "simple" cross-site requests (a form or ``fetch`` with a
``text/plain`` or form body, which no CORS preflight stops). ``RequestGuard`` refuses
both: ``Host`` must be a loopback name or one the operator allowed; a request from a page
of another origin (``Origin``, ``Sec-Fetch-Site``) is refused; and the content types a
browser may send cross-site unasked are refused on the API unless the request is
SigV4-signed (a page cannot add an ``Authorization`` header without a preflight) or
comes from a page this server served (same origin: the console).
"""

from __future__ import annotations

import ipaddress
import json
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, Final
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["LOOPBACK_NAMES", "HostPolicy", "RequestGuard", "is_loopback", "send_error", "send_json"]

LOOPBACK_NAMES: Final = ("localhost", "127.0.0.1", "::1")
CONSOLE_PREFIX: Final = "/console"
# The content types a browser sends cross-site without a CORS preflight.
SIMPLE_CONTENT_TYPES: Final = ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data")
SAFE_METHODS: Final = ("GET", "HEAD", "OPTIONS")


def is_loopback(host: str) -> bool:
    """A name or address that only this machine reaches (``localhost``, 127.0.0.0/8, ::1)."""
    name = host.strip().strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def split_host(value: str) -> str:
    """The name in a ``Host`` header (``name``, ``name:port``, ``[v6]:port``), lowercased."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value.rstrip(".")


class HostPolicy:
    """Loopback names, plus names given (``example.com``, ``*.example.com``, or ``*`` for any)."""

    def __init__(self, allowed: Iterable[str] = ()) -> None:
        self.names: set[str] = set()
        self.suffixes: list[str] = []
        self.any = False
        for entry in allowed:
            entry = entry.strip().lower()
            if not entry:
                continue
            if entry == "*":
                self.any = True
            elif entry.startswith("*."):
                self.suffixes.append(entry[1:])
            else:
                self.names.add(split_host(entry))

    def allows(self, host_header: str) -> bool:
        if self.any:
            return True
        name = split_host(host_header)
        if is_loopback(name) or name in self.names:
            return True
        return any(name.endswith(suffix) for suffix in self.suffixes)


class RequestGuard:
    """Refuses unexpected ``Host`` names and browser-style cross-site requests."""

    def __init__(self, app: ASGIApp, allowed_hosts: Sequence[str] = ()) -> None:
        self.app = app
        self.hosts = HostPolicy(allowed_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        refusal = self.refusal(scope)
        if refusal is not None and scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})  # before accept: HTTP 403
            return
        if refusal is not None:
            code, status, message = refusal
            await send_error(send, code, status, message)
            return
        await self.app(scope, receive, send)

    def refusal(self, scope: Scope) -> tuple[str, int, str] | None:
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope.get("headers", [])}
        host = headers.get("host")
        if host is not None and not self.hosts.allows(host):
            shown = host[:100]
            return (
                "ForbiddenException",
                403,
                f"Host {shown!r} is not a name this server answers to; start `perdure serve` "
                f"with --allowed-host {split_host(shown) or 'NAME'} to accept it",
            )
        site = headers.get("sec-fetch-site", "").lower()
        if site in ("cross-site", "same-site"):
            return ("ForbiddenException", 403, f"Requests from other sites are refused (Sec-Fetch-Site: {site})")
        origin = headers.get("origin")
        same_origin = False
        if origin is not None:
            netloc = urlsplit(origin).netloc.lower() if origin != "null" else ""
            same_origin = bool(netloc) and host is not None and netloc == host.strip().lower()
            if not same_origin:
                return ("ForbiddenException", 403, f"Cross-origin requests are refused (Origin: {origin[:100]})")
        path = str(scope.get("path", "/"))
        if (
            scope["type"] == "http"
            and scope["method"] not in SAFE_METHODS
            and not same_origin
            and not path.startswith(CONSOLE_PREFIX + "/")
            and not headers.get("authorization", "").startswith("AWS4-HMAC-SHA256 ")
        ):
            media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if media in SIMPLE_CONTENT_TYPES:
                return (
                    "UnsupportedMediaTypeException",
                    415,
                    f"Content-Type {media} is refused here (a web page can send it from "
                    "another site); send application/json",
                )
        return None


async def send_json(send: Send, status: int, body: Any, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


async def send_error(send: Send, code: str, status: int, message: str) -> None:
    """An error as AWS's front door answers it: botocore raises ``ClientError`` with
    this code and message."""
    await send_json(
        send,
        status,
        {"__type": code, "message": message},  # __type: the JSON protocols' code
        [(b"x-amzn-errortype", code.encode()), (b"x-amzn-requestid", str(uuid.uuid4()).encode())],
    )
