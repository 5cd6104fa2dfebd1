"""Authentication: AWS Signature Version 4, as boto3, the AWS CLI and the SDK sign requests.

``perdure serve --auth FILE`` reads a TOML file of credentials, each with the IAM actions
(``lambda:InvokeFunction``, ``lambda:GetDurableExecution*``...) and the resources
(function names or ARNs) it may use. ``SigV4Middleware`` wraps the API: it verifies each
request's signature with botocore's own canonicalisation (``SigV4Auth`` over a rebuilt
``AWSRequest``), its credential scope and its clock skew, maps the route to its IAM
action and resource, and answers as AWS does, so that botocore raises the same errors:
``MissingAuthenticationTokenException``, ``IncompleteSignatureException``,
``UnrecognizedClientException``, ``InvalidSignatureException``, ``AccessDeniedException``.

Paths under ``/console/`` are passed through: the console signs its users in with the
same credentials (``Authenticator.login`` and ``Credential.allows``, found in the ASGI
scope under ``"perdure.auth"``) and guards its own forms.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import os
import re
import stat
import threading
import time
import tomllib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl

import anyio.to_thread
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from perdure.deploy import function_arn, parse_function_name
from perdure.http.request_guard import CONSOLE_PREFIX, send_error, send_json

__all__ = [
    "CLOCK_SKEW_S",
    "CONSOLE_PREFIX",
    "AuthConfig",
    "AuthError",
    "Authenticator",
    "Credential",
    "SigV4Middleware",
    "lambda_route",
    "load_auth",
]

log = logging.getLogger("perdure.auth")

CLOCK_SKEW_S: Final = 300  # a signature is valid 5 minutes either side of its X-Amz-Date
MAX_SIGNED_BODY_BYTES: Final = 6 * 1024 * 1024 + 64 * 1024  # the API's own body limit
SERVICES: Final = ("lambda", "logs", "cloudformation")  # services this server answers for
RELOAD_CHECK_S: Final = 1.0
_KEY_ID_RE: Final = re.compile(r"^[A-Za-z0-9_.\-]{3,128}$")
_ACTION_RE: Final = re.compile(r"^(\*|[a-z0-9\-]+:[A-Za-z0-9*?]+)$")
_AUTH_PART_RE: Final = re.compile(r"(\w+)=([^,\s]*)")
_AMZ_DATE_FORMAT: Final = "%Y%m%dT%H%M%SZ"


# --------------------------------------------------------------------------- errors


class AuthError(Exception):
    """A refused request, answered as AWS answers it (status, error type, message)."""

    def __init__(self, code: str, status: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message


def _missing() -> AuthError:
    return AuthError("MissingAuthenticationTokenException", 403, "Missing Authentication Token")


def _incomplete(message: str) -> AuthError:
    return AuthError("IncompleteSignatureException", 400, message)


def _invalid_signature(message: str) -> AuthError:
    return AuthError("InvalidSignatureException", 403, message)


def _unrecognized() -> AuthError:
    return AuthError(
        "UnrecognizedClientException", 403, "The security token included in the request is invalid."
    )


_MISMATCH: Final = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service "
    "documentation for details."
)


# --------------------------------------------------------------------------- policy


@lru_cache(maxsize=1024)
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """IAM wildcards: ``*`` any run of characters, ``?`` any one character."""
    body = "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern
    )
    return re.compile(f"^{body}$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


@dataclass(frozen=True)
class Credential:
    """One access key: its secret, and the actions and resources it may use."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    name: str = ""

    @property
    def principal(self) -> str:
        return self.name or self.access_key_id

    def allows_action(self, action: str) -> bool:
        """IAM action names compare case-insensitively."""
        return any(_wildcard(p, True).match(action) for p in self.actions)

    def allows_resource(self, candidates: Sequence[str]) -> bool:
        """Resources compare case-sensitively; ``*`` also covers what has no name
        (a callback that does not exist, say)."""
        for pattern in self.resources:
            if pattern == "*":
                return True
            if any(_wildcard(pattern, False).match(c) for c in candidates):
                return True
        return False

    def allows(self, action: str, candidates: Sequence[str]) -> bool:
        return self.allows_action(action) and self.allows_resource(candidates)


@dataclass(frozen=True)
class AuthConfig:
    """The credentials of an auth file, by access key id."""

    credentials: dict[str, Credential]
    region: str | None = None  # when set, signatures must be scoped to this region
    source: Path | None = None


def _lambda_actions() -> frozenset[str]:
    from perdure.http.iam_actions import ROUTES

    return frozenset(route.action.lower() for route in ROUTES)


def load_auth(path: str | os.PathLike[str]) -> AuthConfig:
    """Read and check an auth file. Raises ``ValueError`` with a message naming the
    file and the entry at fault."""
    source = Path(path)
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"auth file {source}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"auth file {source}: not valid TOML: {exc}") from None
    where = f"auth file {source}"
    unknown = set(data) - {"credentials", "region"}
    if unknown:
        raise ValueError(f"{where}: unknown setting(s) {', '.join(sorted(unknown))}")
    region = data.get("region")
    if region is not None and (not isinstance(region, str) or not region):
        raise ValueError(f"{where}: region must be a region name such as \"us-east-1\"")
    entries = data.get("credentials")
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{where}: no [[credentials]] entries")
    known = _lambda_actions()
    credentials: dict[str, Credential] = {}
    for index, entry in enumerate(entries, 1):
        here = f"{where}: credentials #{index}"
        if not isinstance(entry, dict):
            raise ValueError(f"{here}: expected a table")
        extra = set(entry) - {"access_key_id", "secret_access_key", "actions", "resources", "name"}
        if extra:
            raise ValueError(f"{here}: unknown key(s) {', '.join(sorted(extra))}")
        key_id = entry.get("access_key_id")
        if not isinstance(key_id, str) or not _KEY_ID_RE.match(key_id):
            raise ValueError(f"{here}: access_key_id must be 3-128 characters of A-Z a-z 0-9 _ . -")
        if key_id in credentials:
            raise ValueError(f"{here}: access_key_id {key_id} appears twice")
        secret = entry.get("secret_access_key")
        if not isinstance(secret, str) or len(secret) < 16:
            raise ValueError(f"{here} ({key_id}): secret_access_key must be at least 16 characters")
        actions = _strings(entry.get("actions"), f"{here} ({key_id}): actions")
        for action in actions:
            if not _ACTION_RE.match(action):
                raise ValueError(
                    f"{here} ({key_id}): {action!r} is not an IAM action such as "
                    "\"lambda:InvokeFunction\" (wildcards * and ? allowed)"
                )
            if action.lower().startswith("lambda:") and not any(
                _wildcard(action, True).match(name) for name in known
            ):
                raise ValueError(f"{here} ({key_id}): {action!r} matches no Lambda action perdure serves")
        resources = _strings(entry.get("resources"), f"{here} ({key_id}): resources")
        name = entry.get("name", "")
        if not isinstance(name, str):
            raise ValueError(f"{here} ({key_id}): name must be text")
        credentials[key_id] = Credential(key_id, secret, tuple(actions), tuple(resources), name)
    return AuthConfig(credentials, region, source)


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{where} must be a non-empty list of strings (use [\"*\"] for all)")
    return list(value)


class Authenticator:
    """The credentials in force, re-read when the auth file changes (so keys rotate
    without a restart; a file that no longer reads keeps the previous credentials)."""

    def __init__(self, config: AuthConfig) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._checked = time.monotonic()
        self._stamp = self._file_stamp()
        if config.source is not None:
            warn_if_readable(config.source)

    @property
    def config(self) -> AuthConfig:
        if self._config.source is not None and time.monotonic() - self._checked >= RELOAD_CHECK_S:
            self._maybe_reload()
        return self._config

    def _file_stamp(self) -> tuple[int, int, int] | None:
        if self._config.source is None:
            return None
        try:
            info = self._config.source.stat()
        except OSError:
            return None
        return (info.st_mtime_ns, info.st_size, info.st_ino)

    def _maybe_reload(self) -> None:
        with self._lock:
            self._checked = time.monotonic()
            stamp = self._file_stamp()
            if stamp is None or stamp == self._stamp:
                return
            self._stamp = stamp
            assert self._config.source is not None
            try:
                self._config = load_auth(self._config.source)
            except ValueError as exc:
                log.error("%s; keeping the previous credentials", exc)
                return
            log.warning("auth file %s re-read: %d credential(s)", self._config.source, len(self._config.credentials))

    def credential(self, access_key_id: str) -> Credential | None:
        return self.config.credentials.get(access_key_id)

    def login(self, access_key_id: str, secret_access_key: str) -> Credential | None:
        """The credential of a key and secret (for the console's sign-in form), or None."""
        credential = self.credential(access_key_id)
        if credential is None:
            hmac.compare_digest(secret_access_key.encode(), b"x" * 40)  # same work for unknown keys
            return None
        if not hmac.compare_digest(secret_access_key.encode(), credential.secret_access_key.encode()):
            return None
        return credential


def warn_if_readable(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        log.warning("auth file %s is readable by other users: chmod 600 it", path)


# --------------------------------------------------------------------------- signatures


@dataclass(frozen=True)
class SignedRequest:
    """What the ``Authorization`` header says."""

    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_authorization(header: str) -> SignedRequest:
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != "AWS4-HMAC-SHA256":
        raise _incomplete(
            f"Authorization header requires the AWS4-HMAC-SHA256 algorithm, got {algorithm[:40]!r}."
        )
    parts = dict(_AUTH_PART_RE.findall(rest))
    missing = [p for p in ("Credential", "SignedHeaders", "Signature") if not parts.get(p)]
    if missing:
        raise _incomplete(
            "Authorization header requires "
            + ", ".join(f"'{p}'" for p in missing)
            + " parameter(s). Authorization="
            + header[:200]
        )
    scope = parts["Credential"].split("/")
    if len(scope) != 5:
        raise _incomplete(
            "Credential should be 'ACCESS_KEY/YYYYMMDD/REGION/SERVICE/aws4_request', "
            f"got {parts['Credential'][:200]!r}."
        )
    key, date, region, service, terminator = scope
    if terminator != "aws4_request":
        raise _invalid_signature("Credential should be scoped with a valid terminator: 'aws4_request'.")
    signed = tuple(parts["SignedHeaders"].lower().split(";"))
    if "host" not in signed:
        raise _invalid_signature("'Host' must be a signed header.")
    return SignedRequest(key, date, region, service, signed, parts["Signature"])


def _request_time(headers: dict[str, list[str]]) -> tuple[str, dt.datetime]:
    raw = (headers.get("x-amz-date") or [""])[0].strip()
    if not raw:
        raise _incomplete("Authorization header requires an X-Amz-Date header.")
    try:
        when = dt.datetime.strptime(raw, _AMZ_DATE_FORMAT).replace(tzinfo=dt.UTC)
    except ValueError:
        raise _incomplete(f"X-Amz-Date must be YYYYMMDD'T'HHMMSS'Z', got {raw[:40]!r}.") from None
    return raw, when


def check_time(amz_date: str, when: dt.datetime, now: dt.datetime) -> None:
    """Refuse a signature more than five minutes away from ``now`` (AWS's messages)."""
    skew = dt.timedelta(seconds=CLOCK_SKEW_S)
    fmt = _AMZ_DATE_FORMAT
    if when < now - skew:
        raise _invalid_signature(
            f"Signature expired: {amz_date} is now earlier than "
            f"{(now - skew).strftime(fmt)} ({now.strftime(fmt)} - 5 min.)"
        )
    if when > now + skew:
        raise _invalid_signature(
            f"Signature not yet current: {amz_date} is still later than "
            f"{(now + skew).strftime(fmt)} ({now.strftime(fmt)} + 5 min.)"
        )


class _Verifier(SigV4Auth):  # type: ignore[misc]
    """botocore's signer, told which headers the client signed and what its body hashed to
    (its defaults pick the headers a client would sign, not those a client did sign)."""

    def __init__(self, credential: Credential, signed: SignedRequest, headers: dict[str, list[str]], body_sha256: str) -> None:
        super().__init__(
            Credentials(credential.access_key_id, credential.secret_access_key),
            signed.service,
            signed.region,
        )
        self._signed = signed
        self._headers = headers
        self._body_sha256 = body_sha256

    def headers_to_sign(self, request: AWSRequest) -> Any:
        from botocore.compat import HTTPHeaders

        chosen = HTTPHeaders()
        for name in self._signed.signed_headers:
            for value in self._headers.get(name, []):
                chosen.add_header(name, value)
            if name not in self._headers:
                chosen[name] = ""
        return chosen

    def payload(self, request: AWSRequest) -> str:
        return self._body_sha256


def expected_signature(
    credential: Credential,
    signed: SignedRequest,
    *,
    method: str,
    raw_path: str,
    query: str,
    headers: dict[str, list[str]],
    amz_date: str,
    body: bytes,
) -> str:
    """The signature of this request with ``credential``'s secret, computed by botocore."""
    body_sha256 = hashlib.sha256(body).hexdigest()
    claimed = next(iter(headers.get("x-amz-content-sha256", [])), None)
    if claimed is not None and claimed != body_sha256:
        raise _invalid_signature("The provided 'x-amz-content-sha256' header does not match what was computed.")
    verifier = _Verifier(credential, signed, headers, body_sha256)
    url = f"http://signed{raw_path}" + (f"?{query}" if query else "")
    request = AWSRequest(method=method, url=url, data=body)
    request.context["timestamp"] = amz_date
    canonical = verifier.canonical_request(request)
    string_to_sign = verifier.string_to_sign(request, canonical)
    return str(verifier.signature(string_to_sign, request))


# --------------------------------------------------------------------------- middleware


CallbackResolver = Callable[[str], str | None]


@dataclass(frozen=True)
class Target:
    """The IAM action a request asks for and the names of the resource it acts on."""

    action: str
    resources: tuple[str, ...]


def lambda_route(method: str, raw_path: str) -> tuple[str, dict[str, str]] | None:
    """(IAM action, path labels) of a Lambda API request, from botocore's model."""
    from perdure.http.iam_actions import match_route

    return match_route(method, raw_path)


def _function_names(value: str) -> tuple[str, ...]:
    try:
        name = parse_function_name(value)
    except ValueError:
        return (value,)
    return (name, function_arn(name))


class SigV4Middleware:
    """Verifies SigV4 signatures and IAM-style permissions in front of ``app``."""

    def __init__(
        self,
        app: ASGIApp,
        authenticator: Authenticator,
        callback_arn: CallbackResolver | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.callback_arn = callback_arn
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        scope["perdure.auth"] = self.authenticator
        raw_path = _raw_path(scope)
        if raw_path == CONSOLE_PREFIX or raw_path.startswith(CONSOLE_PREFIX + "/"):
            await self.app(scope, receive, send)  # the console signs its users in itself
            return
        if scope["type"] == "websocket":  # the API has none, and SigV4 does not cover them
            await send({"type": "websocket.close", "code": 1008})
            return
        headers = _headers(scope)
        if raw_path == "/" and scope.get("method") in ("GET", "HEAD") and "authorization" not in headers:
            await self.app(scope, receive, send)  # a browser at the root: redirected to the console
            return
        if raw_path == "/ping" and "authorization" not in headers:
            await send_json(send, 200, {"status": "ok"})  # a health check, naming nothing
            return
        try:
            credential, body = await self._authenticate(scope, receive, headers, raw_path)
            target = await self._target(scope, raw_path, headers, body)
            if target is not None and not credential.allows(target.action, target.resources):
                resource = target.resources[-1] if target.resources else "*"
                raise AuthError(
                    "AccessDeniedException",
                    403,
                    f"User: {credential.principal} is not authorized to perform: {target.action} "
                    f"on resource: {resource} because no identity-based policy allows the "
                    f"{target.action} action",
                )
        except AuthError as exc:
            log.info("refused %s %s: %s", scope["method"], raw_path[:200], exc.code)
            if raw_path == "/" and _is_query_protocol(headers):
                await _send_xml_error(send, exc)
            else:
                await send_error(send, exc.code, exc.status, exc.message)
            return
        scope["perdure.principal"] = credential
        await self.app(scope, _replay(body, receive), send)

    async def _authenticate(
        self, scope: Scope, receive: Receive, headers: dict[str, list[str]], raw_path: str
    ) -> tuple[Credential, bytes]:
        header = (headers.get("authorization") or [""])[0]
        if not header:
            raise _missing()
        signed = parse_authorization(header)
        amz_date, when = _request_time(headers)
        if signed.date != amz_date[:8]:
            raise _invalid_signature(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of "
                f"date from HTTP: '{signed.date[:20]}' != '{amz_date[:8]}', from 'X-Amz-Date'."
            )
        if signed.service not in SERVICES:
            raise _invalid_signature(
                f"Credential should be scoped to correct service: one of {', '.join(SERVICES)}."
            )
        config = self.authenticator.config
        if config.region is not None and signed.region != config.region:
            raise _invalid_signature(f"Credential should be scoped to a valid region, not '{signed.region[:40]}'.")
        credential = config.credentials.get(signed.access_key_id)
        if credential is None:
            raise _unrecognized()
        check_time(amz_date, when, dt.datetime.fromtimestamp(self.clock(), dt.UTC))
        body = await _read_body(receive)
        expected = expected_signature(
            credential,
            signed,
            method=scope["method"],
            raw_path=raw_path,
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            amz_date=amz_date,
            body=body,
        )
        if not hmac.compare_digest(expected.encode(), signed.signature.encode()):
            raise _invalid_signature(_MISMATCH)
        return credential, body

    async def _target(
        self, scope: Scope, raw_path: str, headers: dict[str, list[str]], body: bytes
    ) -> Target | None:
        """The action and resource asked for; None when nothing names one (a path no
        API serves, answered 404 by the app)."""
        from perdure.http.perdure_api import iam_target

        own = iam_target(scope["method"], raw_path)  # perdure's own routes (CLI, console)
        if own is not None:
            action, execution = own
            return Target(action, (*_function_names(execution), execution) if execution else ())
        route = lambda_route(scope["method"], raw_path)
        if route is not None:
            action, labels = route
            if "FunctionName" in labels:
                return Target(action, _function_names(labels["FunctionName"]))
            if "DurableExecutionArn" in labels:
                arn = labels["DurableExecutionArn"]
                return Target(action, (*_function_names(arn), arn))
            if "CallbackId" in labels and self.callback_arn is not None:
                try:
                    arn_or_none = await anyio.to_thread.run_sync(self.callback_arn, labels["CallbackId"])
                except Exception as exc:  # the database is restarting: the client retries (5xx)
                    log.warning("cannot look up callback %s: %s", labels["CallbackId"][:100], exc)
                    raise AuthError("ServiceException", 500, "Database unavailable, retry") from exc
                if arn_or_none is None:
                    return Target(action, ())
                return Target(action, (*_function_names(arn_or_none), arn_or_none))
            return Target(action, ())
        service = _signed_service(headers)
        target = (headers.get("x-amz-target") or [""])[0]
        if target and "." in target:  # JSON 1.0/1.1 protocols (CloudWatch Logs)
            return Target(f"{service}:{target.rsplit('.', 1)[1]}", ())
        content_type = (headers.get("content-type") or [""])[0]
        if scope["method"] == "POST" and content_type.startswith("application/x-www-form-urlencoded"):
            fields = dict(parse_qsl(body.decode("utf-8", "replace")))  # query protocol
            if fields.get("Action"):
                return Target(f"{service}:{fields['Action']}", ())
        return None


def _is_query_protocol(headers: dict[str, list[str]]) -> bool:
    """A form-encoded request (on ``/``: CloudFormation's ``Action=...``), which expects
    XML errors."""
    content_type = (headers.get("content-type") or [""])[0].lower()
    return content_type.startswith("application/x-www-form-urlencoded")


# The names the query-protocol services (CloudFormation) give the same errors.
_QUERY_CODES: Final = {
    "MissingAuthenticationTokenException": "MissingAuthenticationToken",
    "IncompleteSignatureException": "IncompleteSignature",
    "UnrecognizedClientException": "InvalidClientTokenId",
    "InvalidSignatureException": "SignatureDoesNotMatch",
    "AccessDeniedException": "AccessDenied",
}


async def _send_xml_error(send: Send, exc: AuthError) -> None:
    from xml.sax.saxutils import escape

    request_id = str(uuid.uuid4())
    payload = (
        "<ErrorResponse><Error><Type>Sender</Type>"
        f"<Code>{escape(_QUERY_CODES.get(exc.code, exc.code))}</Code>"
        f"<Message>{escape(exc.message)}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": exc.status,
            "headers": [
                (b"content-type", b"text/xml"),
                (b"content-length", str(len(payload)).encode()),
                (b"x-amzn-requestid", request_id.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def _signed_service(headers: dict[str, list[str]]) -> str:
    header = (headers.get("authorization") or [""])[0]
    match = re.search(r"Credential=[^/]*/[^/]*/[^/]*/([^/]*)/", header)
    return match.group(1) if match else "unknown"


def _raw_path(scope: Scope) -> str:
    raw = scope.get("raw_path")
    if raw:
        return bytes(raw).decode("latin-1").split("?", 1)[0]
    return str(scope.get("path", "/"))


def _headers(scope: Scope) -> dict[str, list[str]]:
    headers: dict[str, list[str]] = {}
    for name, value in scope.get("headers", []):
        headers.setdefault(name.decode("latin-1").lower(), []).append(value.decode("latin-1"))
    return headers


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_SIGNED_BODY_BYTES:
            raise AuthError(
                "RequestTooLargeException", 413, f"Request must be smaller than {MAX_SIGNED_BODY_BYTES} bytes"
            )
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the body read already, then the client's own messages
    (so the app still hears of a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def store_callback_resolver(store: Any) -> CallbackResolver:
    """Which execution a callback id belongs to, read from the database (the resource a
    ``SendDurableExecutionCallback*`` request acts on)."""

    def resolve(callback_id: str) -> str | None:
        with store.read() as tx:
            found = tx.get_callback(callback_id)
        return str(found[0]) if found else None

    return resolve
