"""The client of a running ``perdure serve``: boto3's ``lambda`` client configured once
(endpoint, region, credentials, timeouts, retries), and perdure's own JSON routes
(``/perdure/v1/...``) signed with the same credentials.

Importing this module imports neither boto3 nor botocore: a ``PerdureClient`` loads
them when it is made, so the CLI starts fast.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from typing import Any, Final

DUMMY_REGION: Final = "us-east-1"
DUMMY_KEY: Final = "perdure"
CONNECT_TIMEOUT_S: Final = 5
READ_TIMEOUT_S: Final = 60
PREFIX: Final = "/perdure/v1"


# Asks GetDurableExecutionHistory for perdure's own events too (``all``).
PERDURE_EVENTS_HEADER = "x-perdure-events"


class PerdureError(Exception):
    """A request to the server failed: ``status`` is the HTTP status of its answer
    (None when none came), ``code`` the error code (``x-amzn-ErrorType``, such as
    ``ResourceNotFoundException``; the status as text when the server gave none; or
    ``NoServer``, ``Timeout``, ``ConnectionClosed`` without an answer), ``message``
    the server's message."""

    # The codes of the errors raised without an answer (their status is None).
    NO_SERVER: Final = "NoServer"
    TIMEOUT: Final = "Timeout"
    CONNECTION_CLOSED: Final = "ConnectionClosed"
    PROFILE_NOT_FOUND: Final = "ProfileNotFound"

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message
        self.status = status

    @property
    def no_server(self) -> bool:
        """Nothing listens at the URL (or the connection could not be made in time)."""
        return self.code == self.NO_SERVER

    @classmethod
    def from_botocore(cls, exc: Exception, url: str) -> PerdureError | None:
        """The same error for one boto3 raised (None for one that is not about the
        server's answer, such as a parameter the client's model refuses)."""
        from botocore.exceptions import (
            ClientError,
            ConnectionClosedError,
            ConnectTimeoutError,
            EndpointConnectionError,
            ReadTimeoutError,
        )

        if isinstance(exc, EndpointConnectionError | ConnectTimeoutError):
            return cls(cls.NO_SERVER, f"no perdure server at {url} ({exc})")
        if isinstance(exc, ReadTimeoutError):
            return cls(cls.TIMEOUT, f"perdure server at {url} did not answer in time")
        if isinstance(exc, ConnectionClosedError):
            return cls(cls.CONNECTION_CLOSED, f"perdure server at {url} closed the connection")
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            return cls(
                str(error.get("Code") or "Error"),
                str(error.get("Message") or "").strip(),
                status if isinstance(status, int) else None,
            )
        return None


class PerdureClient:
    """A running ``perdure serve`` at ``url``.

    ``lambda_client`` is boto3's ``lambda`` client for it, signing with the credentials
    boto3 finds (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, the profile
    ``$PERDURE_PROFILE`` or ``$AWS_PROFILE`` names, ``~/.aws/credentials``), placeholder
    ones when none are set (a server without ``--auth`` accepts any); ``sign=False``
    sends requests unsigned. ``read_timeout`` and ``attempts`` (retries included) apply
    to every request. perdure's own routes (``get``, ``post`` and the methods named
    after them) raise ``PerdureError``; the boto3 clients raise botocore's errors, which
    ``PerdureError.from_botocore`` maps to the same.

    Raises ``PerdureError`` (``ProfileNotFound``) when the configured profile does not
    exist, and ``ValueError`` for a URL boto3 cannot use.
    """

    def __init__(
        self, url: str, *, read_timeout: float = READ_TIMEOUT_S, attempts: int = 2, sign: bool = True
    ) -> None:
        import boto3
        import botocore.session
        from botocore import UNSIGNED
        from botocore.config import Config
        from botocore.credentials import Credentials
        from botocore.exceptions import BotoCoreError, ProfileNotFound

        self.url = url.rstrip("/")
        self.read_timeout = read_timeout
        options: dict[str, Any] = {
            "connect_timeout": CONNECT_TIMEOUT_S,
            "read_timeout": read_timeout,
            "retries": {"total_max_attempts": attempts, "mode": "standard"},
        }
        if not sign:
            options["signature_version"] = UNSIGNED
        self._config = Config(**options)
        credentials: Any = None
        region: str | None = None
        try:
            core = botocore.session.get_session()
            profile = os.environ.get("PERDURE_PROFILE", "").strip()
            if profile:  # the profile of a server's credentials, apart from AWS_PROFILE
                core.set_config_variable("profile", profile)
            # Do not spend seconds probing EC2/container metadata for credentials.
            resolver = core.get_component("credential_provider")
            for method in ("iam-role", "container-role"):
                resolver.remove(method)
            session = boto3.session.Session(botocore_session=core)
            if sign:
                credentials = session.get_credentials()
            region = session.region_name
        except ProfileNotFound as exc:
            raise PerdureError(PerdureError.PROFILE_NOT_FOUND, str(exc)) from None
        except BotoCoreError:
            session = boto3.session.Session()
        self._session = session
        self.region: str = region or DUMMY_REGION
        self._keys: dict[str, str] = {}
        if sign and credentials is None:
            self._keys = {"aws_access_key_id": DUMMY_KEY, "aws_secret_access_key": DUMMY_KEY}
            credentials = Credentials(DUMMY_KEY, DUMMY_KEY)
        self._credentials = credentials
        self._clients: list[Any] = []
        self.lambda_client: Any = self.service_client("lambda")
        # perdure's own history events (TimerAdvanced) too, which the Lambda API leaves
        # out for AWS's tools.
        self.lambda_client.meta.events.register(
            "before-sign.lambda.GetDurableExecutionHistory",
            lambda request, **_: request.headers.__setitem__(PERDURE_EVENTS_HEADER, "all"),
        )

    def service_client(self, service: str) -> Any:
        """A boto3 client of another of the server's APIs (``logs``, ``cloudformation``),
        configured as ``lambda_client``."""
        client = self._session.client(
            service, endpoint_url=self.url, region_name=self.region, config=self._config, **self._keys
        )
        self._clients.append(client)
        return client

    def close(self) -> None:
        for client in self._clients:
            client.close()

    def __enter__(self) -> PerdureClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- perdure's own routes ------------------------------------------------------------

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """GET ``/perdure/v1/{path}``; ``params`` become the query (None values left
        out, lists repeated)."""
        return self._request("GET", path, params, None)

    def post(self, path: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """POST ``body`` as JSON to ``/perdure/v1/{path}``."""
        return self._request("POST", path, None, {} if body is None else body)

    def resolve_arn(self, ref: str, function: str | None = None) -> str:
        """The ARN of the execution ``ref`` names: an ARN, an execution name
        (``function`` when several functions use it) or a unique prefix of its id."""
        if ref.startswith("arn:"):
            return ref
        return str(self.resolve(ref, function)["DurableExecutionArn"])

    def resolve(self, ref: str, function: str | None = None) -> dict[str, Any]:
        """The summary of the execution ``ref`` names (``Durable``: false for an
        invoke of a plain function)."""
        return self.get("resolve", {"Ref": ref, "Function": function})

    def list_executions(self, statuses: list[str] | None = None, max_items: int = 100) -> list[dict[str, Any]]:
        """Executions of every function, newest first (each names its ``FunctionName``;
        timestamps in epoch seconds)."""
        found = self.get("executions", {"Statuses": statuses or None, "MaxItems": max_items})
        return list(found.get("DurableExecutions", []))

    def pending(self, arn: str) -> dict[str, Any]:
        """What the execution waits on: ``Waits``, ``Callbacks``, ``Retries``,
        ``Invokes``, ``Steps``, ``InvocationRetry``, and whether it is ``Invoking``."""
        return self.get(_execution_path("durable-executions", arn, "pending"))

    def callback_id(self, execution: str, name: str, function: str | None = None) -> str:
        """The id of the callback ``name`` (or operation id) ``execution`` waits on."""
        arn = self.resolve_arn(execution, function)
        callbacks = self.pending(arn).get("Callbacks") or []
        for callback in callbacks:
            if name in (callback.get("Name"), callback.get("Id")):
                return str(callback["CallbackId"])
        waiting = ", ".join(str(c.get("Name") or c.get("Id")) for c in callbacks) or "none"
        raise PerdureError(
            "ResourceNotFoundException",
            f"{execution} waits on no callback named {name!r} (pending callbacks: {waiting})",
        )

    def advance(self, arn: str, operation: str | None = None) -> list[dict[str, Any]]:
        """Fire the execution's pending wait or retry timers now (development)."""
        body = {"Operation": operation} if operation else {}
        answer = self.post(_execution_path("durable-executions", arn, "advance"), body)
        return list(answer.get("Advanced", []))

    def export(self, arn: str) -> dict[str, Any]:
        """The execution, its operations and its history as one document."""
        return self.get(_execution_path("executions", arn, "export"))

    def rerun(self, arn: str, request: Mapping[str, Any]) -> dict[str, Any]:
        """Start a new execution reusing recorded results (``FromOperation``,
        ``Input``, ``Name``, ``Version``)."""
        return self.post(_execution_path("executions", arn, "rerun"), request)

    def skip_timer(self, arn: str, unless_open: str | None = None) -> dict[str, Any]:
        """Fire the execution's next timer now, unless a callback named ``unless_open``
        ('' for any) already waits; the answer's ``State`` says what happened."""
        body = {"UnlessOpen": unless_open} if unless_open else {}
        return self.post(_execution_path("executions", arn, "skip-timer"), body)

    def pages(self, operation: str, **request: Any) -> Iterator[dict[str, Any]]:
        """Every page of a Marker/NextMarker listing of ``lambda_client`` (stops if the
        server repeats a marker)."""
        call = getattr(self.lambda_client, operation)
        seen: set[str] = set()
        marker: str | None = None
        while True:
            page: dict[str, Any] = call(**request, **({"Marker": marker} if marker else {}))
            yield page
            marker = page.get("NextMarker")
            if not marker or marker in seen:
                return
            seen.add(marker)

    def _request(
        self, method: str, path: str, params: Mapping[str, Any] | None, body: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        import urllib.error
        import urllib.parse
        import urllib.request

        query = {k: v for k, v in (params or {}).items() if v is not None}
        url = f"{self.url}{PREFIX}/{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query, doseq=True)
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json", **self._signature(method, url, data)}
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            # These routes answer at once: a longer read timeout is for synchronous invokes.
            with urllib.request.urlopen(request, timeout=min(self.read_timeout, READ_TIMEOUT_S)) as response:
                answer: dict[str, Any] = json.loads(response.read() or b"{}")
                return answer
        except urllib.error.HTTPError as exc:
            raise _http_error(exc) from None
        except TimeoutError:
            raise PerdureError(PerdureError.TIMEOUT, f"perdure server at {self.url} did not answer in time") from None
        except urllib.error.URLError as exc:
            raise PerdureError(PerdureError.NO_SERVER, f"no perdure server at {self.url} ({exc.reason})") from None
        except ConnectionError as exc:
            raise PerdureError(PerdureError.CONNECTION_CLOSED, f"perdure server at {self.url} closed the connection ({exc})") from None

    def _signature(self, method: str, url: str, data: bytes | None) -> dict[str, str]:
        """SigV4 headers, signed as ``lambda_client`` signs (a server started with
        ``--auth`` checks them)."""
        if self._credentials is None:
            return {}
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        request = AWSRequest(method=method, url=url, data=data or b"", headers={"Content-Type": "application/json"})
        SigV4Auth(self._credentials.get_frozen_credentials(), "lambda", self.region).add_auth(request)
        return {k: v for k, v in request.headers.items() if k.lower() != "content-type"}


def _execution_path(group: str, arn: str, action: str) -> str:
    from urllib.parse import quote

    return f"{group}/{quote(arn, safe='')}/{action}"


def _http_error(exc: Any) -> PerdureError:
    """The error of an HTTP answer other than 2xx: its ``x-amzn-ErrorType`` (else the
    status) and its JSON body's message (else the start of the body)."""
    raw: bytes = exc.read()
    try:
        error = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        error = None
    if not isinstance(error, dict):
        error = {}
    code = exc.headers.get("x-amzn-ErrorType") or str(exc.code)
    message = error.get("message") or error.get("Message") or raw.decode(errors="replace")[:200].strip()
    return PerdureError(str(code), str(message or exc.reason or ""), int(exc.code))
