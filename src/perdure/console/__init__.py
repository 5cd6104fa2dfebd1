"""The web console ``perdure serve`` serves at ``/console/``: functions, executions, an
execution's operation tree and timeline, and actions (stop, pause, resume, delete,
callbacks). See ``docs/console.md``.

May import the packages below it (``store`` to ``run``); ``perdure serve`` (``http``)
and other packages' pages (podscribe's review page) mount it."""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from perdure.console.app import PREFIX, Console
from perdure.console.plugins import ConsolePlugin
from perdure.console.security import Authenticate, Viewer, allow_everyone

__all__ = ["PREFIX", "Authenticate", "Console", "ConsolePlugin", "Viewer", "allow_everyone", "with_console"]


def with_console(api: ASGIApp, console: Console) -> ASGIApp:
    """One ASGI app: ``/console/...`` to the console, a GET of ``/`` redirected there,
    everything else (and the lifespan) to ``api``."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope.get("path", "")
            if path == PREFIX or (path == "/" and scope.get("method") in ("GET", "HEAD")):
                await send({"type": "http.response.start", "status": 307,
                            "headers": [(b"location", f"{PREFIX}/".encode()), (b"content-length", b"0")]})
                await send({"type": "http.response.body", "body": b""})
                return
            if path.startswith(PREFIX + "/"):
                # Starlette (>= 0.33) routes on the path minus root_path.
                child: dict[str, Any] = dict(scope)
                child["root_path"] = scope.get("root_path", "") + PREFIX
                await console(child, receive, send)
                return
        await api(scope, receive, send)

    return app
