"""Who is looking, and whether a POST really comes from the console's own pages.

Authentication is a hook: ``authenticate(request)`` returns a :class:`Viewer` or a
response to send instead (a redirect to a login page, a 401). The default lets everyone
in with write access, as the API does when it requires no credentials. A server that
requires credentials passes its own function (see ``docs/console.md``); a viewer with
``can_write=False`` sees no action buttons and its POSTs are refused.

Cross-site requests: every page sets a random token in an HttpOnly, SameSite=Strict
cookie and puts the same token in its forms; a POST must carry both, equal, and, when
the browser sends an ``Origin`` header, come from the console's own origin.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

CSRF_COOKIE = "perdure_csrf"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True)
class Viewer:
    """The person using the console: a name to show (None when anonymous), whether they
    may act at all (stop, pause, resume, delete, callbacks: the buttons are shown), and,
    when signed in with an API credential, ``permits(action, resource names)``, its IAM
    check for each page and action."""

    name: str | None = None
    can_write: bool = True
    permits: Callable[[str, Sequence[str]], bool] | None = None
    signed_in: bool = False

    def may(self, action: str, names: Sequence[str]) -> bool:
        """Whether this viewer may do ``action`` (an IAM action name) on these resources."""
        return True if self.permits is None else self.permits(action, names)


Authenticate = Callable[[Request], Awaitable["Viewer | Response"]]


async def allow_everyone(request: Request) -> Viewer | Response:
    """The default when the server requires no credentials."""
    return Viewer()


class Forbidden(Exception):
    """A POST that is not allowed: bad CSRF token, foreign origin, read-only viewer."""


def csrf_token(request: Request) -> str:
    """The token of this browser (the cookie's), or a new one the response will set."""
    token = request.cookies.get(CSRF_COOKIE)
    if token and len(token) == 43:
        return token
    new: str = request.scope.setdefault("perdure.csrf_new", secrets.token_urlsafe(32))
    return new


def set_csrf_cookie(request: Request, response: Response) -> None:
    new = request.scope.get("perdure.csrf_new")
    if new:
        response.set_cookie(CSRF_COOKIE, new, httponly=True, samesite="strict", path="/")


def check_post(request: Request, submitted: str | None, viewer: Viewer) -> None:
    """Raise :class:`Forbidden` unless this POST may go ahead."""
    origin = request.headers.get("origin")
    if origin and origin != "null":
        expected = f"{request.url.scheme}://{request.headers.get('host', '')}"
        if origin != expected:
            raise Forbidden(f"cross-origin request refused (Origin {origin}, expected {expected})")
    cookie = request.cookies.get(CSRF_COOKIE) or ""
    if not cookie or not submitted or not hmac.compare_digest(cookie, submitted):
        raise Forbidden("missing or wrong CSRF token: reload the page and try again")
    if not viewer.can_write:
        raise Forbidden("this credential is read-only")
