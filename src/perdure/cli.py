"""The ``perdure`` command: run a server, and talk to a running one.

``perdure serve`` loads a SAM template and runs the server; ``perdure worker`` runs
handlers only, for a server sharing its PostgreSQL database. Every other command is a
client of a running server through boto3's ``lambda`` client (the same API AWS
serves), so anything shown here can also be scripted with boto3 or the AWS CLI
against ``--url``.

Exit codes: 0 success; 1 the service answered with an error (or the invoked function
failed); 2 bad usage, a bad template, or no server at ``--url``.
"""

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

from perdure.store.base import StoreError

__all__ = ["DEFAULT_URL", "build_parser", "default_db_url", "main"]

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
_DUMMY_REGION: Final = "us-east-1"
_DUMMY_KEY: Final = "perdure"
_CONNECT_TIMEOUT_S: Final = 5
_READ_TIMEOUT_S: Final = 60
_INVOKE_READ_TIMEOUT_S: Final = 960  # a synchronous invoke waits up to Lambda's 15 minutes


def default_db_url() -> str:
    """``$PERDURE_DB``, else SQLite under ``$XDG_DATA_HOME/perdure`` (``~/.local/share``)."""
    configured = os.environ.get("PERDURE_DB", "").strip()
    if configured:
        return configured
    return f"sqlite:///{_default_db_path()}"


def _default_db_path() -> Path:
    data_home = os.environ.get("XDG_DATA_HOME", "").strip()
    base = Path(data_home) if data_home and Path(data_home).is_absolute() else None
    if base is None:
        base = Path.home() / ".local" / "share"
    return base / "perdure" / "perdure.db"


# --------------------------------------------------------------------------- errors


class _UsageError(Exception):
    """Bad input caught after parsing; printed as ``perdure: error: ...``, exit 2."""


def _fail(message: str) -> NoReturn:
    raise _UsageError(message)


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="perdure",
        description="Self-hosted runtime for AWS Lambda durable functions.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    # -- serve
    serve = commands.add_parser(
        "serve",
        help="run the server for the functions of a SAM template",
        description="Run the perdure server for the functions of a SAM/CloudFormation template.",
    )
    serve.add_argument(
        "-t",
        "--template",
        metavar="PATH",
        help="SAM/CloudFormation template (default: template.yaml, .yml or .json here)",
    )
    serve.add_argument(
        "--db",
        metavar="URL",
        help="database URL (default: $PERDURE_DB or sqlite:///$XDG_DATA_HOME/perdure/perdure.db)",
    )
    serve.add_argument(
        "--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})"
    )
    serve.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, help=f"port to bind (default {DEFAULT_PORT})"
    )
    sizing = serve.add_mutually_exclusive_group()
    sizing.add_argument(
        "--workers",
        type=_positive_int,
        metavar="N",
        help="handler worker processes (default: the server's)",
    )
    sizing.add_argument(
        "--no-workers",
        action="store_true",
        help="run no handlers here: `perdure worker` processes sharing the PostgreSQL "
        "database run them",
    )
    serve.add_argument(
        "--threads",
        type=_positive_int,
        metavar="N",
        help="concurrent invocations per worker process (default: the server's)",
    )
    _add_fleet_options(serve)
    _add_template_options(serve)
    serve.set_defaults(handler=_cmd_serve)

    # -- worker
    worker = commands.add_parser(
        "worker",
        help="run handlers for a server that shares a PostgreSQL database",
        description="Run the handlers of some (default: all) functions of a SAM template, "
        "taking work from the PostgreSQL database a `perdure serve` shares. Run as many "
        "as you like, on as many machines; each takes only the functions it hosts.",
    )
    worker.add_argument(
        "-t",
        "--template",
        metavar="PATH",
        help="SAM/CloudFormation template (default: template.yaml, .yml or .json here)",
    )
    worker.add_argument(
        "--db",
        metavar="URL",
        help="PostgreSQL URL, postgresql://USER:PASSWORD@HOST:PORT/DATABASE (default: $PERDURE_DB)",
    )
    worker.add_argument(
        "--functions",
        metavar="NAME,...",
        help="host only these functions of the template (default: all of them)",
    )
    worker.add_argument(
        "--concurrency",
        type=_positive_int,
        metavar="N",
        help="handler worker processes (default: the server's default)",
    )
    worker.add_argument(
        "--threads",
        type=_positive_int,
        metavar="N",
        help="concurrent invocations per worker process (default: the server's default)",
    )
    _add_fleet_options(worker)
    _add_template_options(worker)
    worker.set_defaults(handler=_cmd_worker)

    # -- client commands share --url and --json
    client = argparse.ArgumentParser(add_help=False)
    client.add_argument(
        "--url",
        default=None,
        help=f"perdure server (default: $PERDURE_URL or {DEFAULT_URL})",
    )
    client.add_argument(
        "--json", action="store_true", help="print the API response as JSON (for scripts)"
    )

    invoke = commands.add_parser(
        "invoke",
        parents=[client],
        help="start an execution of a function",
        description="Invoke a function. Synchronous by default: waits for the execution "
        "to finish and prints its result; exits 1 when the function failed.",
    )
    invoke.add_argument("function", metavar="FUNCTION", help="function name or ARN")
    invoke.add_argument(
        "--payload",
        metavar="JSON",
        default="{}",
        help="input event as JSON; file://PATH reads a file, - reads stdin (default {})",
    )
    invoke.add_argument(
        "--async",
        dest="is_async",
        action="store_true",
        help="return as soon as the execution is started (InvocationType Event)",
    )
    invoke.add_argument(
        "--name", metavar="EXECUTION_NAME", help="execution name (idempotent start)"
    )
    invoke.set_defaults(handler=_cmd_invoke)

    executions = commands.add_parser(
        "executions", help="list and inspect durable executions"
    ).add_subparsers(dest="executions_command", metavar="ACTION", required=True)

    listing = executions.add_parser(
        "list", parents=[client], help="list the executions of a function"
    )
    listing.add_argument("--function", metavar="F", help="function name or ARN (required)")
    listing.add_argument(
        "--status",
        action="append",
        metavar="S",
        type=str.upper,
        help=f"only executions in this status (repeatable): {', '.join(EXECUTION_STATUSES)}",
    )
    listing.add_argument("--name", metavar="NAME", help="only executions with this name")
    listing.add_argument(
        "--max-items", type=_positive_int, metavar="N", help="stop after N executions"
    )
    listing.set_defaults(handler=_cmd_list)

    get = executions.add_parser("get", parents=[client], help="show one execution")
    get.add_argument("arn", metavar="ARN", help="durable execution ARN")
    get.add_argument("--no-data", action="store_true", help="leave out input, result and error")
    get.set_defaults(handler=_cmd_get)

    history = executions.add_parser(
        "history", parents=[client], help="show the event history of an execution"
    )
    history.add_argument("arn", metavar="ARN", help="durable execution ARN")
    history.add_argument("--no-data", action="store_true", help="leave out payloads")
    history.add_argument("--reverse", action="store_true", help="newest event first")
    history.set_defaults(handler=_cmd_history)

    stop = executions.add_parser("stop", parents=[client], help="stop a running execution")
    stop.add_argument("arn", metavar="ARN", help="durable execution ARN")
    _add_error_options(stop)
    stop.set_defaults(handler=_cmd_stop)
    pause = executions.add_parser(
        "pause", parents=[client], help="stop invoking an execution (waits and callbacks still complete)"
    )
    pause.add_argument("arn", metavar="ARN", help="durable execution ARN")
    pause.add_argument("--reason", help="recorded in the execution history")
    pause.add_argument(
        "--keep-timeout-running", action="store_true",
        help="let the execution timeout run on while paused (by default it is paused too)",
    )
    pause.set_defaults(handler=_cmd_pause)
    resume = executions.add_parser("resume", parents=[client], help="resume a paused execution")
    resume.add_argument("arn", metavar="ARN", help="durable execution ARN")
    resume.add_argument("--reason", help="recorded in the execution history")
    resume.set_defaults(handler=_cmd_resume)
    delete = executions.add_parser("delete", parents=[client], help="delete a closed execution and its history")
    delete.add_argument("arn", metavar="ARN", help="durable execution ARN")
    delete.set_defaults(handler=_cmd_delete)

    callback = commands.add_parser(
        "callback", help="complete or heartbeat a callback an execution waits on"
    ).add_subparsers(dest="callback_command", metavar="ACTION", required=True)

    succeed = callback.add_parser(
        "succeed", parents=[client], help="complete a callback with a result"
    )
    succeed.add_argument("callback_id", metavar="CALLBACK_ID")
    succeed.add_argument(
        "--payload",
        metavar="JSON",
        help="result as JSON; file://PATH reads a file, - reads stdin (default: no result)",
    )
    succeed.add_argument(
        "--raw", action="store_true", help="send --payload as is, without checking it is JSON"
    )
    succeed.set_defaults(handler=_cmd_callback_succeed)

    fail = callback.add_parser("fail", parents=[client], help="fail a callback")
    fail.add_argument("callback_id", metavar="CALLBACK_ID")
    _add_error_options(fail)
    fail.set_defaults(handler=_cmd_callback_fail)

    heartbeat = callback.add_parser(
        "heartbeat", parents=[client], help="tell a callback its worker is still alive"
    )
    heartbeat.add_argument("callback_id", metavar="CALLBACK_ID")
    heartbeat.set_defaults(handler=_cmd_callback_heartbeat)
    return parser


def _add_fleet_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lease-seconds",
        type=_positive_int,
        metavar="S",
        help="a running invocation is re-run elsewhere when its process has not renewed "
        "its lease for S seconds (default: the server's)",
    )


def _add_template_options(parser: argparse.ArgumentParser) -> None:
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


def _add_error_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--error-type", metavar="T", help="error type")
    parser.add_argument("--error-message", metavar="M", help="error message")
    parser.add_argument("--error-data", metavar="D", help="error data (text)")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0..65535, got {value}")
    return value


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("perdure")
    except PackageNotFoundError:
        return "(not installed)"


# --------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``perdure`` command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except _UsageError as exc:
        print(f"perdure: error: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:  # the database is unreachable, or newer than this perdure
        print(f"perdure: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


# --------------------------------------------------------------------------- serve


def _cmd_serve(args: argparse.Namespace) -> int:
    functions = _load_functions(args)
    db_url = args.db or default_db_url()
    if not args.db and not os.environ.get("PERDURE_DB", "").strip():
        _default_db_path().parent.mkdir(parents=True, exist_ok=True)
    if args.no_workers:
        _require_shared_db(db_url, "serve --no-workers")

    from perdure.server import run_server  # lazily: client commands never import it

    sizing = _given(
        workers=0 if args.no_workers else args.workers,
        threads=args.threads,
        lease_s=args.lease_seconds,
    )
    run_server(functions=functions, db_url=db_url, host=args.host, port=args.port, **sizing)
    return 0


def _cmd_worker(args: argparse.Namespace) -> int:
    functions = _load_functions(args)
    db_url = args.db or os.environ.get("PERDURE_DB", "").strip()
    if not db_url:
        _fail("perdure worker needs the server's database: pass --db postgresql://... or set PERDURE_DB")
    _require_shared_db(db_url, "worker")
    hosted = None
    if args.functions:
        hosted = [name.strip() for name in args.functions.split(",") if name.strip()]
        unknown = [name for name in hosted if name not in functions]
        if unknown or not hosted:
            _fail(
                f"--functions: {', '.join(unknown) or 'no function named'} not in the template "
                f"(it has {', '.join(sorted(functions))})"
            )

    from perdure.fleet import run_worker  # lazily, as serve

    sizing = _given(processes=args.concurrency, threads=args.threads, lease_s=args.lease_seconds)
    run_worker(functions=functions, db_url=db_url, hosted=hosted, **sizing)
    return 0


def _load_functions(args: argparse.Namespace) -> dict[str, Any]:
    from perdure.template import TemplateError, load_template

    template = _find_template(args.template)
    env_overrides = _read_env_vars(args.env_vars) if args.env_vars else None
    parameters = _parse_parameter_overrides(args.parameter_overrides)
    try:
        return load_template(template, parameter_overrides=parameters, env_overrides=env_overrides)
    except TemplateError as exc:
        _fail(str(exc))


def _require_shared_db(db_url: str, command: str) -> None:
    if not db_url.startswith(("postgresql://", "postgres://")):
        _fail(
            f"perdure {command} shares the database with other processes, which needs "
            "PostgreSQL (--db postgresql://...); with SQLite, `perdure serve` runs the "
            "handlers itself"
        )


def _given(**options: Any) -> dict[str, Any]:
    """The options the user gave (the rest keep the server's defaults)."""
    return {key: value for key, value in options.items() if value is not None}


def _find_template(given: str | None) -> Path:
    if given:
        return Path(given)
    for name in DEFAULT_TEMPLATES:
        if Path(name).is_file():
            return Path(name)
    _fail(f"no {' / '.join(DEFAULT_TEMPLATES)} here: pass --template PATH")


def _read_env_vars(path: str) -> dict[str, dict[str, str]]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        _fail(f"--env-vars {path}: {exc.strerror or exc}")
    except json.JSONDecodeError as exc:
        _fail(f"--env-vars {path}: not valid JSON: {exc}")
    if not isinstance(data, dict):
        _fail(f"--env-vars {path}: expected a JSON object of function ids")
    overrides: dict[str, dict[str, str]] = {}
    for function, variables in data.items():
        if not isinstance(variables, dict):
            _fail(f"--env-vars {path}: {function} must map variable names to values")
        key = "*" if function == "Parameters" else function
        overrides[key] = {
            str(name): _env_text(value, path, function, name) for name, value in variables.items()
        }
    return overrides


def _env_text(value: Any, path: str, function: str, name: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    _fail(f"--env-vars {path}: {function}.{name} must be a string, got {value!r}")


def _parse_parameter_overrides(items: Sequence[str]) -> dict[str, str]:
    result: dict[str, str] = {}
    for item in items:
        for pair in item.split():
            key, sep, value = pair.partition("=")
            if not sep or not key:
                _fail(f"--parameter-overrides expects KEY=VALUE, got {pair!r}")
            result[key] = value
    return result


# --------------------------------------------------------------------------- client


def _server_url(args: argparse.Namespace) -> str:
    url: str = args.url or os.environ.get("PERDURE_URL", "").strip() or DEFAULT_URL
    if not url.startswith(("http://", "https://")):
        _fail(f"--url must start with http:// or https://, got {url!r}")
    return url.rstrip("/")


def _lambda_client(url: str, *, read_timeout: float, attempts: int) -> Any:
    """A boto3 ``lambda`` client for ``url``; dummy credentials/region if none are set."""
    import boto3
    import botocore.session
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError

    config = Config(
        connect_timeout=_CONNECT_TIMEOUT_S,
        read_timeout=read_timeout,
        retries={"total_max_attempts": attempts, "mode": "standard"},
    )
    try:
        core = botocore.session.get_session()
        # Do not spend seconds probing EC2/container metadata for credentials.
        resolver = core.get_component("credential_provider")
        for method in ("iam-role", "container-role"):
            resolver.remove(method)
        session = boto3.session.Session(botocore_session=core)
        credentials = session.get_credentials()
        region = session.region_name
    except BotoCoreError:
        session, credentials, region = boto3.session.Session(), None, None
    keys: dict[str, str] = {}
    if credentials is None:
        keys = {"aws_access_key_id": _DUMMY_KEY, "aws_secret_access_key": _DUMMY_KEY}
    try:
        return session.client(
            "lambda",
            endpoint_url=url,
            region_name=region or _DUMMY_REGION,
            config=config,
            **keys,
        )
    except ValueError as exc:
        _fail(f"--url {url}: {exc}")


def _call_server(args: argparse.Namespace, action: Callable[[Any], int], **client: Any) -> int:
    """Run ``action(lambda_client)``, turning transport and API errors into exit codes."""
    from botocore.exceptions import (
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        ParamValidationError,
        ReadTimeoutError,
    )

    url = _server_url(args)
    lambda_client = _lambda_client(
        url,
        read_timeout=client.get("read_timeout", _READ_TIMEOUT_S),
        attempts=client.get("attempts", 2),
    )
    try:
        return action(lambda_client)
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
        _fail(" ".join(str(exc).split()))
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "Error")
        message = str(error.get("Message") or "").strip()
        hint = ""
        if code.isdigit():
            hint = f" (is {url} a perdure server?)"
        print(f"error: {code}: {message or 'no message'}{hint}", file=sys.stderr)
        return 1


def _payload_text(value: str, option: str = "--payload") -> str:
    if value == "-":
        return sys.stdin.read()
    if value.startswith("file://"):
        path = value[len("file://") :]
        try:
            return Path(path).expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            _fail(f"{option} {value}: {exc.strerror or exc}")
    return value


def _json_payload(value: str, option: str = "--payload") -> bytes:
    text = _payload_text(value, option)
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        _fail(f"{option} is not valid JSON ({exc}): {text[:80]!r}")
    return text.encode("utf-8")


def _cmd_invoke(args: argparse.Namespace) -> int:
    payload = _json_payload(args.payload)
    request: dict[str, Any] = {
        "FunctionName": args.function,
        "InvocationType": "Event" if args.is_async else "RequestResponse",
        "Payload": payload,
    }
    if args.name:
        request["DurableExecutionName"] = args.name

    def action(client: Any) -> int:
        response = _strip_metadata(client.invoke(**request))
        body = response.pop("Payload", None)
        raw = body.read() if body is not None else b""
        response["Payload"] = _decode_payload(raw)
        failed = bool(response.get("FunctionError"))
        out = _Output(args)
        if out.json:
            out.print_json(response)
        else:
            if args.is_async:
                status = "STARTED"
            else:
                status = f"FAILED ({response['FunctionError']})" if failed else "SUCCEEDED"
            rows: list[tuple[str, Any]] = [
                ("Function", args.function),
                ("Status", status),
                ("Execution", response.get("DurableExecutionArn")),
            ]
            if not args.is_async:
                rows.append(("Error" if failed else "Result", _payload_display(raw)))
            out.key_values(rows)
            arn = response.get("DurableExecutionArn")
            if args.is_async and arn:
                out.note(f"follow it with: perdure executions get '{arn}'")
        return 1 if failed else 0

    return _call_server(args, action, read_timeout=_INVOKE_READ_TIMEOUT_S, attempts=1)


def _cmd_list(args: argparse.Namespace) -> int:
    if not args.function:
        _fail(
            "executions list needs --function NAME "
            "(listing across all functions is not supported yet)"
        )
    statuses: list[str] = []
    for item in args.status or []:
        for status in item.split(","):
            status = status.strip()
            if status not in EXECUTION_STATUSES:
                _fail(f"--status {status!r}: expected one of {', '.join(EXECUTION_STATUSES)}")
            if status not in statuses:
                statuses.append(status)
    request: dict[str, Any] = {"FunctionName": args.function}
    if statuses:
        request["Statuses"] = statuses
    if args.name:
        request["DurableExecutionName"] = args.name

    def action(client: Any) -> int:
        executions: list[dict[str, Any]] = []
        for page in _pages(client.list_durable_executions_by_function, request):
            executions.extend(page.get("DurableExecutions", []))
            if args.max_items and len(executions) >= args.max_items:
                del executions[args.max_items :]
                break
        out = _Output(args)
        if out.json:
            out.print_json({"DurableExecutions": executions})
            return 0
        if not executions:
            out.note(f"no executions of {args.function}")
            return 0
        out.table(
            ["Name", "Status", "Started", "Ended", "Execution ARN"],
            [
                [
                    e.get("DurableExecutionName"),
                    _styled_status(e.get("Status")),
                    _time(e.get("StartTimestamp")),
                    _time(e.get("EndTimestamp")),
                    e.get("DurableExecutionArn"),
                ]
                for e in executions
            ],
            no_wrap=("Status", "Started", "Ended"),
        )
        return 0

    return _call_server(args, action)


def _cmd_get(args: argparse.Namespace) -> int:
    request: dict[str, Any] = {"DurableExecutionArn": args.arn}
    # Explicit either way, so the output does not depend on the server's default.
    request["IncludeExecutionData"] = not args.no_data

    def action(client: Any) -> int:
        execution = _strip_metadata(client.get_durable_execution(**request))
        out = _Output(args)
        if out.json:
            out.print_json(execution)
            return 0
        config = execution.get("DurableConfig") or {}
        rows: list[tuple[str, Any]] = [
            ("Name", execution.get("DurableExecutionName")),
            ("Status", _styled_status(execution.get("Status"))),
            ("Execution ARN", execution.get("DurableExecutionArn")),
            ("Function", execution.get("FunctionArn")),
            ("Version", execution.get("Version")),
            ("Started", _time(execution.get("StartTimestamp"))),
            ("Ended", _time(execution.get("EndTimestamp"))),
            ("Times out", _time(execution.get("ExpectedExecutionTimeoutTimestamp"))),
            ("Execution timeout", _seconds(config.get("ExecutionTimeout"))),
            ("Retention", _days(config.get("RetentionPeriodInDays"))),
            ("Input", execution.get("InputPayload")),
            ("Result", execution.get("Result")),
            ("Error", _error_text(execution.get("Error"))),
        ]
        out.key_values([(k, v) for k, v in rows if v not in (None, "")])
        return 0

    return _call_server(args, action)


def _cmd_history(args: argparse.Namespace) -> int:
    request: dict[str, Any] = {"DurableExecutionArn": args.arn}
    # Explicit either way, so the output does not depend on the server's default.
    request["IncludeExecutionData"] = not args.no_data
    if args.reverse:
        request["ReverseOrder"] = True

    def action(client: Any) -> int:
        events: list[dict[str, Any]] = []
        for page in _pages(client.get_durable_execution_history, request):
            events.extend(page.get("Events", []))
        out = _Output(args)
        if out.json:
            out.print_json({"Events": events})
            return 0
        out.table(
            ["#", "Time", "Event", "Name", "Id", "Details"],
            [
                [
                    event.get("EventId"),
                    _time(event.get("EventTimestamp"), date=False),
                    _event_label(event),
                    event.get("Name"),
                    _short_id(event.get("Id")),
                    _event_details(event),
                ]
                for event in events
            ],
            no_wrap=("#", "Time", "Event", "Id"),
        )
        waiting = _open_callbacks(events)
        if waiting:
            out.note("waiting on callbacks (complete with: perdure callback succeed ID):")
            for name, callback_id in waiting:
                out.note(f"  {name or '-'}  {callback_id}")
        return 0

    return _call_server(args, action)


def _open_callbacks(events: Sequence[Mapping[str, Any]]) -> list[tuple[Any, str]]:
    """(name, callback id) of the callbacks started and not yet completed."""
    started: dict[Any, tuple[Any, str]] = {}
    for event in events:
        kind = event.get("EventType")
        if kind == "CallbackStarted":
            details = event.get("CallbackStartedDetails") or {}
            if details.get("CallbackId"):
                started[event.get("Id")] = (event.get("Name"), str(details["CallbackId"]))
        elif kind in ("CallbackSucceeded", "CallbackFailed", "CallbackTimedOut"):
            started.pop(event.get("Id"), None)
    return list(started.values())


def _simple_execution_call(args: argparse.Namespace, method: str, request: dict[str, Any], done: str) -> int:
    """Call one execution-level API (stop, pause, resume, delete) and say what happened."""

    def action(client: Any) -> int:
        response = _strip_metadata(getattr(client, method)(**request))
        out = _Output(args)
        if out.json:
            out.print_json(response)
        else:
            when = response.get("StopTimestamp")
            out.note(f"{done} {args.arn}" + (f" at {_time(when)}" if when else ""))
        return 0

    return _call_server(args, action)


def _cmd_stop(args: argparse.Namespace) -> int:
    request: dict[str, Any] = {"DurableExecutionArn": args.arn}
    error = _error_object(args)
    if error:
        request["Error"] = error
    return _simple_execution_call(args, "stop_durable_execution", request, "stopped")


def _cmd_pause(args: argparse.Namespace) -> int:
    request: dict[str, Any] = {"DurableExecutionArn": args.arn, "ExecutionTimeoutPaused": not args.keep_timeout_running}
    if args.reason:
        request["Reason"] = args.reason
    return _simple_execution_call(args, "pause_durable_execution", request, "paused")


def _cmd_resume(args: argparse.Namespace) -> int:
    request: dict[str, Any] = {"DurableExecutionArn": args.arn}
    if args.reason:
        request["Reason"] = args.reason
    return _simple_execution_call(args, "resume_durable_execution", request, "resumed")


def _cmd_delete(args: argparse.Namespace) -> int:
    return _simple_execution_call(args, "delete_durable_execution", {"DurableExecutionArn": args.arn}, "deleted")


def _cmd_callback_succeed(args: argparse.Namespace) -> int:
    request: dict[str, Any] = {"CallbackId": args.callback_id}
    if args.payload is not None:
        if args.raw:
            request["Result"] = _payload_text(args.payload).encode("utf-8")
        else:
            request["Result"] = _json_payload(args.payload)
    return _callback(args, "send_durable_execution_callback_success", request, "succeeded")


def _cmd_callback_fail(args: argparse.Namespace) -> int:
    request: dict[str, Any] = {"CallbackId": args.callback_id}
    error = _error_object(args)
    if error:
        request["Error"] = error
    return _callback(args, "send_durable_execution_callback_failure", request, "failed")


def _cmd_callback_heartbeat(args: argparse.Namespace) -> int:
    request = {"CallbackId": args.callback_id}
    return _callback(args, "send_durable_execution_callback_heartbeat", request, "heartbeat sent")


def _callback(args: argparse.Namespace, operation: str, request: dict[str, Any], done: str) -> int:
    def action(client: Any) -> int:
        response = _strip_metadata(getattr(client, operation)(**request))
        out = _Output(args)
        if out.json:
            out.print_json(response)
        else:
            out.note(f"callback {args.callback_id}: {done}")
        return 0

    return _call_server(args, action)


def _error_object(args: argparse.Namespace) -> dict[str, str]:
    error: dict[str, str] = {}
    if args.error_type:
        error["ErrorType"] = args.error_type
    if args.error_message:
        error["ErrorMessage"] = args.error_message
    if args.error_data:
        error["ErrorData"] = args.error_data
    return error


def _pages(
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


def _strip_metadata(response: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _decode_payload(raw: bytes) -> Any:
    """An invoke response payload: parsed JSON when it is JSON, else its text."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _jsonable(raw)


def _payload_display(raw: bytes) -> str:
    if not raw:
        return ""
    try:
        return json.dumps(json.loads(raw), ensure_ascii=False)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return str(_jsonable(raw))


def _time(value: Any, *, date: bool = True) -> str:
    if not isinstance(value, dt.datetime):
        return "" if value is None else str(value)
    moment: dt.datetime = value
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    text = moment.strftime("%Y-%m-%d %H:%M:%S.%f" if date else "%H:%M:%S.%f")[:-3]
    return text + ("Z" if date and moment.tzinfo is not None else "")


def _seconds(value: Any) -> str | None:
    return None if value is None else f"{value} s"


def _days(value: Any) -> str | None:
    return None if value is None else f"{value} days"


def _error_text(error: Any) -> str | None:
    if not isinstance(error, Mapping) or not error:
        return None
    kind = error.get("ErrorType") or "Error"
    message = error.get("ErrorMessage")
    return f"{kind}: {message}" if message else str(kind)


def _short_id(value: Any) -> str:
    text = "" if value is None else str(value)
    return text[:12] + "…" if len(text) > 13 else text


def _event_label(event: Mapping[str, Any]) -> str:
    label = str(event.get("EventType") or "")
    if event.get("SubType"):
        label += f" ({event['SubType']})"
    return label


_KEEP_WHOLE: Final = frozenset({"ErrorType"})
_MAX_VALUE_CHARS: Final = 80


def _event_details(event: Mapping[str, Any]) -> str:
    """A one-line summary of an event's ``<EventType>Details``."""
    details = event.get(f"{event.get('EventType')}Details")
    if not isinstance(details, Mapping):
        details = next(
            (v for k, v in event.items() if k.endswith("Details") and isinstance(v, Mapping)),
            {},
        )
    parts: list[str] = []
    for path, value in _flatten(details):
        leaf = path.rsplit(".", 1)[-1]
        if isinstance(value, dt.datetime):
            text = _time(value)
        elif isinstance(value, str):
            text = value
        else:
            text = json.dumps(_jsonable(value), ensure_ascii=False)
        if leaf not in _KEEP_WHOLE and len(text) > _MAX_VALUE_CHARS:
            text = text[: _MAX_VALUE_CHARS - 1] + "…"
        parts.append(f"{path}={text}")
    return "  ".join(parts)


def _flatten(value: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, item in value.items():
        path = f"{prefix}{key}"
        if isinstance(item, Mapping) and item and set(item) <= {"Payload", "Truncated"}:
            # EventInput / EventResult / EventError: show the payload under the outer name.
            payload = item.get("Payload")
            if isinstance(payload, Mapping):
                payload = _error_text(payload) if key == "Error" else payload
            if item.get("Truncated"):
                path += "(truncated)"
            if payload not in (None, {}, []):
                yield path, payload
        elif isinstance(item, Mapping) and item:
            yield from _flatten(item, path + ".")
        elif item not in (None, {}, []):
            yield path, item


_PIPE_WIDTH: Final = 1000

_STATUS_STYLES: Final = {
    "RUNNING": "cyan",
    "SUCCEEDED": "green",
    "FAILED": "red",
    "TIMED_OUT": "red",
    "STOPPED": "yellow",
    "PAUSING": "yellow",
    "PAUSED": "yellow",
    "DELETING": "dim",
}


class _Styled(str):
    """Text shown with a rich style in tables."""

    style: str = ""


def _styled_status(status: Any) -> Any:
    if status is None:
        return None
    styled = _Styled(status)
    styled.style = _STATUS_STYLES.get(str(status), "")
    return styled


class _Output:
    """Tables for people, JSON for scripts."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.json: bool = bool(getattr(args, "json", False))
        self._stream: IO[str] = sys.stdout

    def print_json(self, value: Any) -> None:
        self._stream.write(json.dumps(_jsonable(value), indent=2, ensure_ascii=False) + "\n")

    def note(self, text: str) -> None:
        self._stream.write(text + "\n")

    def _console(self) -> Any:
        from rich.console import Console

        width = None
        if not self._stream.isatty() and not os.environ.get("COLUMNS"):
            width = _PIPE_WIDTH  # piped or redirected: do not wrap tables at 80 columns
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
