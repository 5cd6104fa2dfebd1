"""What every ``perdure`` command shares: usage errors, argument types, the boto3 client
of a running server, and output as tables for people or JSON for scripts."""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Final, NoReturn

DEFAULT_URL: Final = "http://127.0.0.1:9000"
DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 9000
DEFAULT_TEMPLATES: Final = ("template.yaml", "template.yml", "template.json")
EXECUTION_STATUSES: Final = (
    "RUNNING",
    "SUCCEEDED",
    "FAILED",
    "TIMED_OUT",
    "STOPPED",
    "DELETING",
    "PAUSING",
    "PAUSED",
)
DUMMY_REGION: Final = "us-east-1"
DUMMY_KEY: Final = "perdure"
CONNECT_TIMEOUT_S: Final = 5
READ_TIMEOUT_S: Final = 60
INVOKE_READ_TIMEOUT_S: Final = 960  # a synchronous invoke waits up to Lambda's 15 minutes


def default_db_url() -> str:
    """``$PERDURE_DB``, else SQLite under ``$XDG_DATA_HOME/perdure`` (``~/.local/share``)."""
    configured = os.environ.get("PERDURE_DB", "").strip()
    if configured:
        return configured
    return f"sqlite:///{default_db_path()}"


def default_db_path() -> Path:
    data_home = os.environ.get("XDG_DATA_HOME", "").strip()
    base = Path(data_home) if data_home and Path(data_home).is_absolute() else None
    if base is None:
        base = Path.home() / ".local" / "share"
    return base / "perdure" / "perdure.db"


# --------------------------------------------------------------------------- errors


class UsageError(Exception):
    """Bad input caught after parsing; printed as ``perdure: error: ...``, exit 2."""


def fail(message: str) -> NoReturn:
    raise UsageError(message)


def client_options() -> argparse.ArgumentParser:
    """The options client commands share (``--url``, ``--json``), as an argparse parent."""
    client = argparse.ArgumentParser(add_help=False)
    client.add_argument(
        "--url",
        default=None,
        help=f"perdure server (default: $PERDURE_URL or {DEFAULT_URL})",
    )
    client.add_argument(
        "--json", action="store_true", help="print the API response as JSON (for scripts)"
    )

    return client


def add_fleet_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lease-seconds",
        type=positive_int,
        metavar="S",
        help="a running invocation is re-run elsewhere when its process has not renewed "
        "its lease for S seconds (default: the server's)",
    )


def add_template_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--env-vars",
        metavar="FILE",
        help='JSON environment overrides: {"FunctionId": {"VAR": "value"}, '
        '"Parameters": {"VAR": "value for every function"}}',
    )
    parser.add_argument(
        "--parameter-overrides",
        nargs="+",
        metavar="KEY=VALUE",
        default=[],
        help="template parameter values replacing their defaults",
    )


def add_error_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--error-type", metavar="T", help="error type")
    parser.add_argument("--error-message", metavar="M", help="error message")
    parser.add_argument("--error-data", metavar="D", help="error data (text)")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def port_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0..65535, got {value}")
    return value


def version_text() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("perdure")
    except PackageNotFoundError:
        return "(not installed)"


# --------------------------------------------------------------------------- client


def server_url(args: argparse.Namespace) -> str:
    url: str = args.url or os.environ.get("PERDURE_URL", "").strip() or DEFAULT_URL
    if not url.startswith(("http://", "https://")):
        fail(f"--url must start with http:// or https://, got {url!r}")
    return url.rstrip("/")


def lambda_client(url: str, *, read_timeout: float, attempts: int, service: str = "lambda") -> Any:
    """A boto3 ``lambda`` (or ``service``) client for ``url``, signing with the
    credentials boto3 finds (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, the profile
    ``$PERDURE_PROFILE`` or ``$AWS_PROFILE`` names, ``~/.aws/credentials``); dummy ones
    when none are set (a server without ``--auth`` accepts any)."""
    import boto3
    import botocore.session
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError

    config = Config(
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=read_timeout,
        retries={"total_max_attempts": attempts, "mode": "standard"},
    )
    from botocore.exceptions import ProfileNotFound

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
        credentials = session.get_credentials()
        region = session.region_name
    except ProfileNotFound as exc:
        fail(f"{exc} (from $PERDURE_PROFILE or $AWS_PROFILE)")
    except BotoCoreError:
        session, credentials, region = boto3.session.Session(), None, None
    keys: dict[str, str] = {}
    if credentials is None:
        keys = {"aws_access_key_id": DUMMY_KEY, "aws_secret_access_key": DUMMY_KEY}
    try:
        return session.client(
            service,
            endpoint_url=url,
            region_name=region or DUMMY_REGION,
            config=config,
            **keys,
        )
    except ValueError as exc:
        fail(f"--url {url}: {exc}")


def call_server(args: argparse.Namespace, action: Callable[[Any], int], **client: Any) -> int:
    """Run ``action(lambda_client)``, turning transport and API errors into exit codes."""
    from botocore.exceptions import (
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        ParamValidationError,
        ReadTimeoutError,
    )

    url = server_url(args)
    service = lambda_client(
        url,
        read_timeout=client.get("read_timeout", READ_TIMEOUT_S),
        attempts=client.get("attempts", 2),
    )
    try:
        return action(service)
    except (EndpointConnectionError, ConnectTimeoutError):
        print(
            f"no perdure server at {url}: start one with `perdure serve --template ...`",
            file=sys.stderr,
        )
        return 2
    except ReadTimeoutError:
        print(f"perdure server at {url} did not answer in time", file=sys.stderr)
        return 1
    except ConnectionClosedError:
        print(f"perdure server at {url} closed the connection", file=sys.stderr)
        return 1
    except ParamValidationError as exc:
        fail(" ".join(str(exc).split()))
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "Error")
        message = str(error.get("Message") or "").strip()
        hint = ""
        if code.isdigit():
            hint = f" (is {url} a perdure server?)"
        print(f"error: {code}: {message or 'no message'}{hint}", file=sys.stderr)
        return 1


def payload_text(value: str, option: str = "--payload") -> str:
    if value == "-":
        return sys.stdin.read()
    if value.startswith("file://"):
        path = value[len("file://") :]
        try:
            return Path(path).expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            fail(f"{option} {value}: {exc.strerror or exc}")
    return value


def json_payload(value: str, option: str = "--payload") -> bytes:
    text = payload_text(value, option)
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"{option} is not valid JSON ({exc}): {text[:80]!r}")
    return text.encode("utf-8")


def error_object(args: argparse.Namespace) -> dict[str, str]:
    error: dict[str, str] = {}
    if args.error_type:
        error["ErrorType"] = args.error_type
    if args.error_message:
        error["ErrorMessage"] = args.error_message
    if args.error_data:
        error["ErrorData"] = args.error_data
    return error


def pages(
    call: Callable[..., dict[str, Any]], request: Mapping[str, Any]
) -> Iterator[dict[str, Any]]:
    """Every page of a Marker/NextMarker listing (stops if the server repeats a marker)."""
    seen: set[str] = set()
    marker: str | None = None
    while True:
        page = call(**request, **({"Marker": marker} if marker else {}))
        yield page
        marker = page.get("NextMarker")
        if not marker or marker in seen:
            return
        seen.add(marker)


# --------------------------------------------------------------------------- output


def strip_metadata(response: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


def jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def decode_payload(raw: bytes) -> Any:
    """An invoke response payload: parsed JSON when it is JSON, else its text."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return jsonable(raw)


def payload_display(raw: bytes) -> str:
    if not raw:
        return ""
    try:
        return json.dumps(json.loads(raw), ensure_ascii=False)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return str(jsonable(raw))


def fmt_time(value: Any, *, date: bool = True) -> str:
    if not isinstance(value, dt.datetime):
        return "" if value is None else str(value)
    moment: dt.datetime = value
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    text = moment.strftime("%Y-%m-%d %H:%M:%S.%f" if date else "%H:%M:%S.%f")[:-3]
    return text + ("Z" if date and moment.tzinfo is not None else "")


def fmt_seconds(value: Any) -> str | None:
    return None if value is None else f"{value} s"


def fmt_days(value: Any) -> str | None:
    return None if value is None else f"{value} days"


def error_text(error: Any) -> str | None:
    if not isinstance(error, Mapping) or not error:
        return None
    kind = error.get("ErrorType") or "Error"
    message = error.get("ErrorMessage")
    return f"{kind}: {message}" if message else str(kind)


def short_id(value: Any) -> str:
    text = "" if value is None else str(value)
    return text[:12] + "…" if len(text) > 13 else text


def event_label(event: Mapping[str, Any]) -> str:
    label = str(event.get("EventType") or "")
    if event.get("SubType"):
        label += f" ({event['SubType']})"
    if label.startswith("TimerAdvanced"):
        label += " [development: fired early by `perdure executions advance`]"
    return label


KEEP_WHOLE: Final = frozenset({"ErrorType"})
MAX_VALUE_CHARS: Final = 80


def event_details(event: Mapping[str, Any]) -> str:
    """A one-line summary of an event's ``<EventType>Details``."""
    details = event.get(f"{event.get('EventType')}Details")
    if not isinstance(details, Mapping):
        details = next(
            (v for k, v in event.items() if k.endswith("Details") and isinstance(v, Mapping)),
            {},
        )
    parts: list[str] = []
    for path, value in flatten(details):
        leaf = path.rsplit(".", 1)[-1]
        if isinstance(value, dt.datetime):
            text = fmt_time(value)
        elif isinstance(value, str):
            text = display_payload(value) or "" if value.startswith('{"t":') else value
        else:
            text = json.dumps(jsonable(value), ensure_ascii=False)
        if leaf not in KEEP_WHOLE and len(text) > MAX_VALUE_CHARS:
            text = text[: MAX_VALUE_CHARS - 1] + "…"
        parts.append(f"{path}={text}")
    return "  ".join(parts)


def flatten(value: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, item in value.items():
        path = f"{prefix}{key}"
        if isinstance(item, Mapping) and item and set(item) <= {"Payload", "Truncated"}:
            # EventInput / EventResult / EventError: show the payload under the outer name.
            payload = item.get("Payload")
            if isinstance(payload, Mapping):
                payload = error_text(payload) if key == "Error" else payload
            if item.get("Truncated"):
                path += "(truncated)"
            if payload not in (None, {}, []):
                yield path, payload
        elif isinstance(item, Mapping) and item:
            yield from flatten(item, path + ".")
        elif item not in (None, {}, []):
            yield path, item


PIPE_WIDTH: Final = 1000

STATUS_STYLES: Final = {
    "RUNNING": "cyan",
    "SUCCEEDED": "green",
    "FAILED": "red",
    "TIMED_OUT": "red",
    "STOPPED": "yellow",
    "PAUSING": "yellow",
    "PAUSED": "yellow",
    "DELETING": "dim",
}


class Styled(str):
    """Text shown with a rich style in tables."""

    style: str = ""


def styled_status(status: Any) -> Any:
    if status is None:
        return None
    styled = Styled(status)
    styled.style = STATUS_STYLES.get(str(status), "")
    return styled


class Output:
    """Tables for people, JSON for scripts."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.json: bool = bool(getattr(args, "json", False))
        self._stream: IO[str] = sys.stdout

    def print_json(self, value: Any) -> None:
        self._stream.write(json.dumps(jsonable(value), indent=2, ensure_ascii=False) + "\n")

    def note(self, text: str) -> None:
        self._stream.write(text + "\n")

    def _console(self) -> Any:
        from rich.console import Console

        width = None
        if not self._stream.isatty() and not os.environ.get("COLUMNS"):
            width = PIPE_WIDTH  # piped or redirected: do not wrap tables at 80 columns
        return Console(file=self._stream, highlight=False, width=width)

    @staticmethod
    def _cell(value: Any) -> Any:
        from rich.text import Text

        if value is None:
            return Text("")
        return Text(str(value), style=getattr(value, "style", ""))

    def key_values(self, rows: Sequence[tuple[str, Any]]) -> None:
        """Aligned ``key  value`` lines, never wrapped (ARNs stay copyable)."""
        from rich.text import Text

        console = self._console()
        width = max((len(key) for key, _ in rows), default=0)
        for key, value in rows:
            line = Text(key.ljust(width + 2), style="bold")
            line.append_text(self._cell(value))
            console.print(line, soft_wrap=True)

    def table(
        self,
        headers: Sequence[str],
        rows: Sequence[Sequence[Any]],
        *,
        no_wrap: Sequence[str] = (),
    ) -> None:
        from rich.table import Table

        table = Table(*headers, header_style="bold")
        for column in table.columns:
            column.overflow = "fold"
            column.no_wrap = column.header in no_wrap
        for row in rows:
            table.add_row(*(self._cell(value) for value in row))
        self._console().print(table)



# --------------------------------------------------------------------------- perdure's own routes


def perdure_call(client: Any, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                 body: Mapping[str, Any] | None = None, operation: str = "Perdure") -> dict[str, Any]:
    """Call one of perdure's own routes (``/perdure/v1/...``) of the server ``client``
    talks to. Errors are raised as botocore's, so ``call_server`` reports them alike."""
    import urllib.error
    import urllib.parse
    import urllib.request

    from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

    base = str(client.meta.endpoint_url).rstrip("/")
    query = "?" + urllib.parse.urlencode({k: v for k, v in (params or {}).items() if v is not None}, doseq=True) if params else ""
    data = json.dumps(body).encode() if body is not None else None
    url = f"{base}/perdure/v1/{path}{query}"
    headers = {"Content-Type": "application/json", **_signature(client, method, url, data)}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=READ_TIMEOUT_S) as response:
            answer: dict[str, Any] = json.loads(response.read() or b"{}")
            return answer
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            error = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            error = {}
        code = exc.headers.get("x-amzn-ErrorType") or str(exc.code)
        message = error.get("message") or error.get("Message") or raw.decode(errors="replace")[:200]
        raise ClientError({"Error": {"Code": code, "Message": message}}, operation) from None
    except TimeoutError:
        raise ReadTimeoutError(endpoint_url=base) from None
    except urllib.error.URLError:
        raise EndpointConnectionError(endpoint_url=base) from None


def _signature(client: Any, method: str, url: str, data: bytes | None) -> dict[str, str]:
    """SigV4 headers for a request to perdure's own routes, signed with the credentials
    the boto3 ``client`` signs with (a server started with ``--auth`` checks them)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    signer = getattr(client, "_request_signer", None)
    credentials = getattr(signer, "_credentials", None)
    if credentials is None:
        return {}
    request = AWSRequest(method=method, url=url, data=data or b"",
                         headers={"Content-Type": "application/json"})
    SigV4Auth(credentials.get_frozen_credentials(), "lambda", client.meta.region_name).add_auth(request)
    return {k: v for k, v in request.headers.items() if k.lower() != "content-type"}


def execution_path(arn: str, action: str) -> str:
    from urllib.parse import quote

    return f"durable-executions/{quote(arn, safe='')}/{action}"


def resolve_arn(client: Any, ref: str, function: str | None = None) -> str:
    """The ARN of the execution ``ref`` names: an ARN, an execution name (``function``
    when several functions use it) or a unique prefix of the execution id."""
    if ref.startswith("arn:"):
        return ref
    found = perdure_call(client, "GET", "resolve", params={"Ref": ref, "Function": function},
                         operation="ResolveExecution")
    return str(found["DurableExecutionArn"])


def pending_callback_id(client: Any, execution: str, name: str, function: str | None = None) -> str:
    """The id of the callback ``name`` (or operation id) that ``execution`` waits on."""
    from botocore.exceptions import ClientError

    arn = resolve_arn(client, execution, function)
    state = perdure_call(client, "GET", execution_path(arn, "pending"), operation="GetPending")
    callbacks = state.get("Callbacks") or []
    for callback in callbacks:
        if name in (callback.get("Name"), callback.get("Id")):
            return str(callback["CallbackId"])
    waiting = ", ".join(str(c.get("Name") or c.get("Id")) for c in callbacks) or "none"
    raise ClientError(
        {"Error": {"Code": "ResourceNotFoundException",
                   "Message": f"{execution} waits on no callback named {name!r} (pending callbacks: {waiting})"}},
        "FindCallback",
    )


def add_execution_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("arn", metavar="EXECUTION", help="execution ARN, name, or unique id prefix")
    parser.add_argument("--function", metavar="F", help="the function, when an execution name is used by several")


# --------------------------------------------------------------------------- payloads for people


def unwrap_envelope(value: Any) -> Any:
    """The SDK's serialisation envelope (``{"t": "m", "v": {...}}``) unwrapped for display."""
    if isinstance(value, dict):
        if set(value) == {"t", "v"} and isinstance(value["t"], str):
            inner = value["v"]
            if isinstance(inner, dict):
                return {k: unwrap_envelope(v) for k, v in inner.items()}
            if isinstance(inner, list):
                return [unwrap_envelope(v) for v in inner]
            return inner
        return {k: unwrap_envelope(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_envelope(v) for v in value]
    return value


def display_payload(text: Any) -> str | None:
    """A JSON payload as compact JSON for people, the SDK's envelope unwrapped."""
    if text is None or text == "":
        return None
    if not isinstance(text, str):
        return json.dumps(jsonable(text), ensure_ascii=False)
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text
    return json.dumps(unwrap_envelope(value), ensure_ascii=False)


def epoch_time(value: Any) -> str:
    """An epoch-seconds number (perdure's own routes) as a UTC time."""
    if not isinstance(value, int | float):
        return ""
    return fmt_time(dt.datetime.fromtimestamp(value, dt.UTC))


def in_how_long(value: Any) -> str:
    if not isinstance(value, int | float):
        return ""
    import time

    left = value - time.time()
    if left <= 0:
        return "due now"
    if left < 120:
        return f"in {left:.0f} s"
    if left < 7200:
        return f"in {left / 60:.0f} min"
    return f"in {left / 3600:.1f} h"


def pending_lines(state: Mapping[str, Any], arn: str) -> list[str]:
    """What an execution waits on, one line each, with the command that moves it on."""
    ref = arn.rsplit("/", 1)[-1]  # the execution id: unique, and no $ for the shell

    def label(kind: str, item: Mapping[str, Any]) -> str:
        return f"{kind} {item['Name']}" if item.get("Name") else kind

    lines: list[str] = []
    for wait in state.get("Waits") or []:
        due = wait.get("DueTimestamp")
        lines.append(f"{label('wait', wait)}: due {epoch_time(due)} ({in_how_long(due)});"
                     f" skip it: perdure executions advance {ref}")
    for callback in state.get("Callbacks") or []:
        lines.append(f"{label('callback', callback)}: id {callback.get('CallbackId')}; complete it:"
                     f" perdure callback succeed {callback.get('CallbackId')} --payload 'true'")
    for retry in state.get("Retries") or []:
        error = error_text(retry.get("Error"))
        when = retry.get("NextAttemptTimestamp")
        text = f"retry of {label('step', retry)}: attempt {int(retry.get('Attempt') or 0) + 1}"
        if when:
            text += f" at {epoch_time(when)} ({in_how_long(when)}); skip the delay: perdure executions advance {ref}"
        if error:
            text += f" (after {error})"
        lines.append(text)
    for invoke in state.get("Invokes") or []:
        lines.append(f"{label('invoke', invoke)}: execution {invoke.get('DurableExecutionArn')}")
    for step in state.get("Steps") or []:
        lines.append(f"{label('step', step)}: running")
    retry = state.get("InvocationRetry")
    if retry:
        due = retry.get("NextInvocationTimestamp")
        lines.append(f"re-invoke after {retry.get('FailedInvocations')} failed invocation(s): at {epoch_time(due)}"
                     f" ({in_how_long(due)}); skip the delay: perdure executions advance {ref}")
    return lines
