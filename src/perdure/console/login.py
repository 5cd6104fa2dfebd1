"""Signing in to the console with the API's own credentials (``perdure serve --auth``).

When the server checks signatures, ``SigV4Middleware`` puts its ``Authenticator`` in the
request scope (``"perdure.auth"``) and lets ``/console/`` through; the console then asks
for an access key id and its secret (``Authenticator.login``), and keeps the person
signed in with a cookie holding the key id, an expiry and an HMAC of both keyed by that
key's secret: nothing is stored on the server, a restart keeps people signed in, and
rotating or removing the key signs them out. Each page and action is checked against
the credential's IAM actions and resources (``Credential.allows``), as the API would
check the same request; a credential with no write action sees no buttons.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from perdure.console.security import Viewer
from perdure.deploy import function_arn

SESSION_COOKIE = "perdure_session"
SESSION_S = 12 * 3600
# The IAM action each console action needs: the one its Lambda API call needs.
ACTIONS = {
    "stop": "lambda:StopDurableExecution",
    "pause": "lambda:PauseDurableExecution",
    "resume": "lambda:ResumeDurableExecution",
    "delete": "lambda:DeleteDurableExecution",
    "advance": "lambda:StopDurableExecution",  # as `perdure executions advance` needs
    "succeed": "lambda:SendDurableExecutionCallbackSuccess",
    "fail": "lambda:SendDurableExecutionCallbackFailure",
    "heartbeat": "lambda:SendDurableExecutionCallbackHeartbeat",
}
READ_EXECUTION = "lambda:GetDurableExecution"
READ_HISTORY = "lambda:GetDurableExecutionHistory"
LIST_EXECUTIONS = "lambda:ListDurableExecutionsByFunction"
RERUN = "lambda:InvokeFunction"  # a rerun starts a new execution of the function


def resources(function_name: str, arn: str | None = None) -> tuple[str, ...]:
    """The names a request about this function (and execution) is checked against."""
    return (function_name, function_arn(function_name), *([arn] if arn else []))


def _signature(secret: str, key_id: str, expires: int) -> str:
    return hmac.new(secret.encode(), f"{key_id}|{expires}".encode(), hashlib.sha256).hexdigest()


def session_value(credential: Any, now: float) -> str:
    expires = int(now) + SESSION_S
    key_id = credential.access_key_id
    return f"{key_id}|{expires}|{_signature(credential.secret_access_key, key_id, expires)}"


def credential_of(authenticator: Any, value: str | None, now: float) -> Any:
    """The credential a session cookie names, or None (missing, expired, forged, or
    the key was removed or its secret rotated)."""
    if not value or value.count("|") != 2:
        return None
    key_id, expires_text, signature = value.split("|")
    if not expires_text.isdigit() or int(expires_text) < now:
        return None
    credential = authenticator.credential(key_id)
    if credential is None:
        return None
    expected = _signature(credential.secret_access_key, key_id, int(expires_text))
    return credential if hmac.compare_digest(expected, signature) else None


def viewer_of(credential: Any) -> Viewer:
    return Viewer(
        name=credential.principal,
        can_write=any(credential.allows_action(a) for a in ACTIONS.values()),
        permits=credential.allows,
        signed_in=True,
    )


async def authenticate(request: Request) -> Viewer | Response:
    """The console's authenticator in ``perdure serve``: everyone when the server checks
    no signatures, otherwise the signed-in credential or a redirect to the sign-in page."""
    authenticator = request.scope.get("perdure.auth")
    if authenticator is None:
        return Viewer()
    credential = credential_of(authenticator, request.cookies.get(SESSION_COOKIE), time.time())
    if credential is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"{request.scope.get('root_path', '')}/login?next={quote(target, safe='')}", status_code=303)
    return viewer_of(credential)


def safe_next(value: str | None, prefix: str) -> str:
    """Where to go after signing in: only a console path (no open redirect)."""
    if value and value.startswith(prefix + "/") and not value.startswith("//") and "\\" not in value:
        return value
    return prefix + "/"

