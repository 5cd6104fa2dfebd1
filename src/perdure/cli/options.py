"""What ``perdure`` commands take from their command lines: usage errors, argument
types, the options several commands share (a template's, a server's ``--url``, an
error's), payloads, and the client of the server ``--url`` names."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NoReturn

if TYPE_CHECKING:
    from perdure.deploy import FunctionSpec
    from perdure.http import PerdureClient, PerdureError

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


# --------------------------------------------------------------------------- shared options


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
    parser.add_argument(
        "--node",
        metavar="PATH",
        help="the node that runs Node functions (default: $PERDURE_NODE, then the Node in "
        "this Python environment, then node on PATH; 22 or newer)",
    )


def add_error_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--error-type", metavar="T", help="error type")
    parser.add_argument("--error-message", metavar="M", help="error message")
    parser.add_argument("--error-data", metavar="D", help="error data (text)")


def add_execution_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("arn", metavar="EXECUTION", help="execution ARN, name, or unique id prefix")
    parser.add_argument("--function", metavar="F", help="the function, when an execution name is used by several")


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


# --------------------------------------------------------------------------- templates


def load_functions(args: argparse.Namespace) -> dict[str, FunctionSpec]:
    """The functions of the template ``--template`` names (or finds here), with
    ``--env-vars`` and ``--parameter-overrides`` applied; a usage error otherwise."""
    from perdure.deploy import TemplateError, load_template

    template = find_template(args.template)
    env_overrides = _read_env_vars(args.env_vars) if args.env_vars else None
    parameters = _parse_parameter_overrides(args.parameter_overrides)
    if getattr(args, "node", None):
        # Worker processes and the build read it from here too.
        os.environ["PERDURE_NODE"] = str(Path(args.node).expanduser().absolute())
    try:
        functions = load_template(template, parameter_overrides=parameters, env_overrides=env_overrides)
    except TemplateError as exc:
        fail(str(exc))
    return refuse_unrunnable(functions)


def refuse_unrunnable(functions: dict[str, FunctionSpec]) -> dict[str, FunctionSpec]:
    """The functions whose runtime can run here; each other one is named on stderr with
    why and what to do. Fails when none is left."""
    from perdure.run import runtime_problem

    runnable: dict[str, FunctionSpec] = {}
    for name, spec in functions.items():
        problem = runtime_problem(spec)
        if problem is None:
            runnable[name] = spec
        else:
            print(f"perdure: not serving {name} (Runtime: {spec.runtime}): {problem}", file=sys.stderr)
    if not runnable:
        fail("no function of the template can run here (see above)")
    return runnable


def find_template(given: str | None) -> Path:
    """``given``, else the first of ``DEFAULT_TEMPLATES`` in the current directory."""
    if given:
        return Path(given)
    for name in DEFAULT_TEMPLATES:
        if Path(name).is_file():
            return Path(name)
    fail(f"no {' / '.join(DEFAULT_TEMPLATES)} here: pass --template PATH")


def read_json_file(path: str, what: str) -> Any:
    """The JSON in a file a user named, or a usage error (exit 2) that says ``what``."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        fail(f"{what}: {exc.strerror or exc}")
    except json.JSONDecodeError as exc:
        fail(f"{what}: not valid JSON: {exc}")


def _read_env_vars(path: str) -> dict[str, dict[str, str]]:
    data = read_json_file(path, f"--env-vars {path}")
    if not isinstance(data, dict):
        fail(f"--env-vars {path}: expected a JSON object of function ids")
    overrides: dict[str, dict[str, str]] = {}
    for function, variables in data.items():
        if not isinstance(variables, dict):
            fail(f"--env-vars {path}: {function} must map variable names to values")
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
    fail(f"--env-vars {path}: {function}.{name} must be a string, got {value!r}")


def _parse_parameter_overrides(items: Sequence[str]) -> dict[str, str]:
    result: dict[str, str] = {}
    for item in items:
        for pair in item.split():
            key, sep, value = pair.partition("=")
            if not sep or not key:
                fail(f"--parameter-overrides expects KEY=VALUE, got {pair!r}")
            result[key] = value
    return result


# --------------------------------------------------------------------------- payloads


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


# --------------------------------------------------------------------------- the server


def server_url(args: argparse.Namespace) -> str:
    url: str = args.url or os.environ.get("PERDURE_URL", "").strip() or DEFAULT_URL
    if not url.startswith(("http://", "https://")):
        fail(f"--url must start with http:// or https://, got {url!r}")
    return url.rstrip("/")


def connect(args: argparse.Namespace, **options: Any) -> PerdureClient:
    """The client of the server ``--url`` (``$PERDURE_URL``) names, made with
    ``options`` (``read_timeout``, ``attempts``); a usage error for a bad URL or a
    profile that does not exist."""
    from perdure.http import PerdureClient, PerdureError

    url = server_url(args)
    try:
        return PerdureClient(url, **options)
    except PerdureError as exc:  # the only one raised here: no such profile
        fail(f"{exc.message} (from $PERDURE_PROFILE or $AWS_PROFILE)")
    except ValueError as exc:
        fail(f"--url {url}: {exc}")


def call_server(
    args: argparse.Namespace,
    action: Callable[[PerdureClient], int],
    **options: Any,
) -> int:
    """Run ``action(client)`` with the client ``connect`` makes, turning transport and
    API errors into exit codes."""
    from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

    from perdure.http import PerdureError

    client = connect(args, **options)
    try:
        return action(client)
    except ParamValidationError as exc:
        fail(" ".join(str(exc).split()))
    except (BotoCoreError, ClientError) as exc:
        error = PerdureError.from_botocore(exc, client.url)
        if error is None:
            raise
        return report_error(client.url, error)
    except PerdureError as exc:
        return report_error(client.url, exc)
    finally:
        client.close()


def report_error(url: str, error: PerdureError) -> int:
    """Print a failed request as people read it; the exit code: 2 when no server
    answered at ``url``, else 1."""
    if error.no_server:
        print(f"no perdure server at {url}: start one with `perdure serve --template ...`", file=sys.stderr)
        return 2
    if error.code == error.TIMEOUT:
        print(f"perdure server at {url} did not answer in time", file=sys.stderr)
        return 1
    if error.code == error.CONNECTION_CLOSED:
        print(f"perdure server at {url} closed the connection", file=sys.stderr)
        return 1
    hint = f" (is {url} a perdure server?)" if error.code.isdigit() else ""
    print(f"error: {error.code}: {error.message or 'no message'}{hint}", file=sys.stderr)
    return 1
