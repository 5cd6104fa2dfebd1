"""Drive AWS's durable-execution conformance requirements against a perdure server.

The requirements (YAML) and the validator come from the
``aws-durable-execution-conformance-tests`` package; the handlers are ours
(``handlers/``), mapped to requirement ids by ``TestingMetadata`` in a SAM
template. This module supplies what the validator expects from AWS:

* an *invoker* (``ServerInvoker``) that starts executions through the Lambda
  ``Invoke`` API of our server and reports the ``DurableExecutionArn``;
* a boto3 ``lambda`` client pointed at our server, used by the validator for
  ``GetDurableExecution``, ``GetDurableExecutionHistory`` and the callback calls;
* boto3 ``logs`` and ``cloudformation`` clients pointed at the same server, with
  which the validator checks ``ExpectedLogs``: CloudFormation's
  ``DescribeStackResource`` names the function, CloudWatch Logs'
  ``FilterLogEvents`` returns its execution's log lines;
* ``PerdureServer``, which starts ``perdure serve`` on a free port;
* ``run_requirements``, which validates many requirements concurrently.

Requirements that also assert CloudWatch log lines (``ExpectedLogs``: 1-7, 1-17,
1-18, 3-11, 3-17 and the plugin suite) are validated whole, log lines included.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import yaml
from aws_durable_execution_conformance_tests import config as conformance_config
from aws_durable_execution_conformance_tests import validate
from aws_durable_execution_conformance_tests.sam import (
    EventFileReader,
    InvocationResult,
    InvokeError,
)
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

HERE = Path(__file__).resolve().parent
DEFAULT_TEMPLATE = HERE / "template.yaml"
# The same requirements, handled by TypeScript handlers on AWS's JavaScript SDK (ts/src/).
TS_TEMPLATE = HERE / "ts" / "template.yaml"
REGION = "us-east-1"
DUMMY_CREDENTIALS = {"aws_access_key_id": "perdure", "aws_secret_access_key": "perdure"}

# Requirement id prefix -> suite name (the folder under test_requirements/).
SUITES: dict[str, str] = {
    "1": "step",
    "2": "wait",
    "3": "child",
    "4": "callback",
    "5": "invoke",
    "6": "wait_for_condition",
    "7": "wait_for_callback",
    "8": "parallel",
    "9": "map",
    "10": "plugin",
}

# Requirements that also assert CloudWatch log lines (checked through the server's
# CloudWatch Logs API).
LOG_CHECKED: dict[str, str] = {
    "1-7": "asserts step_context.logger lines in CloudWatch Logs",
    "1-17": "asserts the step logged exactly once before the crash",
    "1-18": "asserts the step logged once per attempt",
    "3-11": "asserts the child body logged again on replay (ReplayChildren)",
    "3-17": "asserts the child body did not log again on replay",
    **{f"10-{i}": "asserts what instrumentation plugins print" for i in range(1, 8)},
}


def suite_of(requirement_id: str) -> str:
    return SUITES.get(requirement_id.split("-", 1)[0], "unknown")


def requirement_sort_key(requirement_id: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in requirement_id.split("-"))


@functools.cache
def requirement_files() -> dict[str, str]:
    """Requirement id -> YAML path, from the installed conformance package."""
    return validate.discover_test_files(conformance_config.TESTS_DIR)


class _TemplateLoader(yaml.SafeLoader):
    """SafeLoader that reads CloudFormation short-form tags (!Ref, !Sub, ...) as data."""


def _cfn_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node)}
    if isinstance(node, yaml.MappingNode):
        return {suffix: loader.construct_mapping(node)}
    return {suffix: None}


_TemplateLoader.add_multi_constructor("!", _cfn_tag)


def load_template(path: str | os.PathLike[str]) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        data = yaml.load(f, Loader=_TemplateLoader)
    return data if isinstance(data, dict) else {}


def template_requirements(template_path: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """(function logical id, requirement id) pairs from a template's TestingMetadata."""
    return validate.parse_function_descriptions(str(template_path))


def load_requirement(path: str | os.PathLike[str]) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f)
    return data if isinstance(data, dict) else {}


def is_async(requirement_id: str) -> bool:
    path = requirement_files().get(requirement_id)
    return bool(path and load_requirement(path).get("AsyncInvoke"))


@dataclass
class Result:
    """The outcome of validating one requirement."""

    requirement_id: str
    function_name: str
    passed: bool
    errors: list[str] = field(default_factory=list)
    suite: str = ""
    duration_s: float = 0.0
    execution_arn: str | None = None
    optional: bool = False
    notes: list[str] = field(default_factory=list)
    not_implemented: str | None = None
    validator_output: str = field(default="", repr=False)
    history_path: str | None = None

    def history(self) -> dict[str, Any] | None:
        """The execution history the validator saved, if any."""
        if not self.history_path:
            return None
        try:
            with open(self.history_path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    @property
    def reason(self) -> str:
        return "; ".join(self.errors) if self.errors else ""


# --- clients -------------------------------------------------------------------


def aws_client(
    service: str,
    server_url: str,
    *,
    read_timeout: float = 120.0,
    max_attempts: int = 3,
    pool: int = 32,
) -> Any:
    """A stock boto3 client of ``service`` talking to ``server_url`` with dummy credentials."""
    return boto3.client(
        service,
        endpoint_url=server_url,
        region_name=REGION,
        config=Config(
            retries={"mode": "standard", "total_max_attempts": max_attempts},
            connect_timeout=5,
            read_timeout=read_timeout,
            max_pool_connections=pool,
        ),
        **DUMMY_CREDENTIALS,
    )


def lambda_client(server_url: str, **kwargs: Any) -> Any:
    """A stock boto3 ``lambda`` client talking to ``server_url``."""
    return aws_client("lambda", server_url, **kwargs)


class ServerInvoker:
    """The validator's invoker, calling our server's Lambda ``Invoke`` API.

    Mirrors what ``sam remote invoke --output json`` prints (and what the
    conformance package's own boto3 invoker produces): the Invoke response as
    JSON, with the payload read into a string and ``DurableExecutionArn`` set.
    Function names are the template's logical ids (no CloudFormation lookup).
    """

    def __init__(
        self,
        client: Any,
        *,
        qualifier: str | None = "$LATEST",
        stack_name: str = "perdure-conformance",
    ) -> None:
        self._client = client
        self._qualifier = qualifier
        self._stack_name = stack_name

    @property
    def stack_name(self) -> str:
        return self._stack_name

    def _invoke(
        self, function_name: str, event_file_path: str | None, invocation_type: str
    ) -> InvocationResult:
        payload: Any = {}
        if event_file_path is not None:
            payload = EventFileReader.extract_payload(EventFileReader.read(event_file_path))
        kwargs: dict[str, Any] = {
            "FunctionName": function_name,
            "InvocationType": invocation_type,
            "Payload": json.dumps(payload).encode(),
        }
        if self._qualifier:
            kwargs["Qualifier"] = self._qualifier
        try:
            response = self._client.invoke(**kwargs)
            body = response["Payload"].read().decode() if "Payload" in response else ""
        except (BotoCoreError, ClientError, UnicodeDecodeError) as e:
            raise InvokeError(function_name, str(e)) from e
        arn = response.get("DurableExecutionArn") or response.get("ResponseMetadata", {}).get(
            "HTTPHeaders", {}
        ).get("x-amz-durable-execution-arn")
        output: dict[str, Any] = {"StatusCode": response.get("StatusCode"), "Payload": body}
        if arn:
            output["DurableExecutionArn"] = arn
        for key in ("ExecutedVersion", "FunctionError"):
            if response.get(key):
                output[key] = response[key]
        return InvocationResult(
            success=True,
            command=f"lambda.invoke {function_name} (InvocationType={invocation_type})",
            output=json.dumps(output),
            stderr="",
            function_name=function_name,
            execution_id=arn,
        )

    def invoke(
        self,
        function_name: str,
        event_file_path: str | None = None,
        parameters: list[str] | None = None,
    ) -> InvocationResult:
        invocation_type = "RequestResponse"
        for param in parameters or []:
            key, _, value = param.partition("=")
            if key != "InvocationType" or not value:
                raise InvokeError(function_name, f"unsupported invoke parameter {param!r}")
            invocation_type = value
        return self._invoke(function_name, event_file_path, invocation_type)

    def invoke_async(
        self, function_name: str, event_file_path: str | None = None
    ) -> InvocationResult:
        return self._invoke(function_name, event_file_path, "Event")


# --- the server ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def perdure_command() -> list[str]:
    """How to run the ``perdure`` console script of this interpreter's environment."""
    candidate = Path(sys.executable).parent / "perdure"
    if candidate.exists():
        return [str(candidate)]
    found = shutil.which("perdure")
    if found:
        return [found]
    return [sys.executable, "-m", "perdure.cli"]


def ping(server_url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{server_url}/ping", timeout=timeout) as r:
            return 200 <= r.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


class PerdureServer:
    """``perdure serve`` as a subprocess on a free port, with a fresh SQLite database.

    Use as a context manager; ``url`` is the endpoint once started. Server output
    goes to ``log_path`` (shown in the error if it fails to come up).
    """

    def __init__(
        self,
        template: str | os.PathLike[str] = DEFAULT_TEMPLATE,
        *,
        work_dir: str | os.PathLike[str] | None = None,
        port: int | None = None,
        startup_timeout: float = 60.0,
        extra_args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        db_url: str | None = None,
    ) -> None:
        self.template = Path(template).resolve()
        self._own_dir = work_dir is None
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="perdure-conformance-"))
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.startup_timeout = startup_timeout
        self.extra_args = list(extra_args)
        self.env = env or {}
        self.log_path = self.work_dir / "server.log"
        self.db_path = self.work_dir / "db.sqlite"
        self.db_url = db_url or f"sqlite:///{self.db_path}"
        self.state_dir = self.work_dir / "handler-state"
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None

    def command(self) -> list[str]:
        return [
            *perdure_command(),
            "serve",
            "--template",
            str(self.template),
            "--db",
            self.db_url,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            *self.extra_args,
        ]

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def start(self) -> PerdureServer:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.setdefault("CONFORMANCE_STATE_DIR", str(self.state_dir))
        env.update(self.env)
        self._log_file = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            self.command(),
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(self.work_dir),
        )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log_tail()
                self.stop()
                raise RuntimeError(
                    f"perdure serve exited with {self.process.returncode} before answering "
                    f"/ping; command: {' '.join(self.command())}\n{tail}"
                )
            if ping(self.url):
                return self
            time.sleep(0.2)
        tail = self.log_tail()
        self.stop()
        raise RuntimeError(f"perdure serve did not answer /ping in {self.startup_timeout}s\n{tail}")

    def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> PerdureServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def server_for(
    template: str | os.PathLike[str], url: str | None = None, **kwargs: Any
) -> Iterator[str]:
    """Yield a server URL: ``url`` as given, or that of a freshly started perdure."""
    if url:
        yield url.rstrip("/")
        return
    with PerdureServer(template, **kwargs) as server:
        yield server.url


# --- running requirements --------------------------------------------------------


class _Tee:
    """Route the validator's prints into per-thread buffers (it prints a lot)."""

    def __init__(self, original: Any) -> None:
        self.original = original
        self.local = threading.local()

    def write(self, s: str) -> int:
        buf = getattr(self.local, "buf", None)
        if buf is not None:
            buf.append(s)
            return len(s)
        return self.original.write(s)

    def flush(self) -> None:
        self.original.flush()


def validate_one(
    function_name: str,
    requirement_id: str,
    *,
    invoker: Any,
    aws_clients: Any,
    tmp_dir: Path,
    output_dir: Path,
    not_implemented: str | None = None,
) -> Result:
    """Validate one requirement; never raises (an exception becomes a failure)."""
    start = time.monotonic()
    files = requirement_files()
    path = files.get(requirement_id)
    result = Result(
        requirement_id=requirement_id,
        function_name=function_name,
        passed=False,
        suite=suite_of(requirement_id),
        not_implemented=not_implemented,
    )
    if path is None:
        result.errors = [f"no requirement {requirement_id} in the conformance package"]
        return result
    saved = output_dir / f"{requirement_id}.json"
    saved.unlink(missing_ok=True)  # never report a previous run's history
    data = load_requirement(path)
    result.optional = bool(data.get("optional", False))
    try:
        outcome = validate.validate_description(
            function_name,
            requirement_id,
            path,
            invoker,
            str(tmp_dir),
            REGION,
            aws_clients,
            output_dir=str(output_dir),
        )
        result.passed = bool(outcome.passed)
        result.errors = list(outcome.errors)
        result.execution_arn = outcome.execution_arn
    except Exception as e:  # the validator is third-party code: report, don't crash
        result.errors = [f"{type(e).__name__}: {e}"]
    if saved.exists():
        result.history_path = str(saved)
    result.duration_s = time.monotonic() - start
    return result


def _schedule_order(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Long-running (async) requirements first, so the pool packs well."""
    return sorted(
        pairs,
        key=lambda p: (not is_async(p[1]), requirement_sort_key(p[1])),
    )


def run_requirements(
    template_path: str | os.PathLike[str],
    server_url: str,
    ids: Iterable[str] | None = None,
    *,
    max_workers: int = 8,
    output_dir: str | os.PathLike[str] | None = None,
    quiet: bool = True,
    qualifier: str | None = "$LATEST",
) -> list[Result]:
    """Validate the template's requirements against the server at ``server_url``.

    ``ids`` restricts the run (default: every requirement id the template maps).
    Histories are saved as ``<output_dir>/<id>.json``. Results come back in
    requirement-id order.
    """
    pairs = template_requirements(template_path)
    not_implemented = validate.parse_not_implemented(str(template_path))
    if ids is not None:
        wanted = set(ids)
        pairs = [p for p in pairs if p[1] in wanted]
    tmp_dir = Path(tempfile.mkdtemp(prefix="perdure-conformance-run-"))
    out_dir = Path(output_dir) if output_dir else tmp_dir / "histories"
    out_dir.mkdir(parents=True, exist_ok=True)

    invoke_client = lambda_client(server_url, read_timeout=150, max_attempts=1)
    api_client = lambda_client(server_url, read_timeout=60, max_attempts=3)
    invoker = ServerInvoker(invoke_client, qualifier=qualifier)
    aws_clients = {
        "lambda": api_client,
        "logs": aws_client("logs", server_url, read_timeout=60, max_attempts=3),
        "cloudformation": aws_client("cloudformation", server_url, read_timeout=60, max_attempts=3),
    }

    tee = _Tee(sys.stdout) if quiet else None

    def work(pair: tuple[str, str]) -> Result:
        function_name, requirement_id = pair
        if tee is not None:
            tee.local.buf = []
        try:
            result = validate_one(
                function_name,
                requirement_id,
                invoker=invoker,
                aws_clients=aws_clients,
                tmp_dir=tmp_dir,
                output_dir=out_dir,
                not_implemented=not_implemented.get(requirement_id),
            )
            if tee is not None:
                result.validator_output = "".join(tee.local.buf)
            return result
        finally:
            if tee is not None:
                tee.local.buf = None

    old_stdout = sys.stdout
    if tee is not None:
        sys.stdout = tee  # type: ignore[assignment]
    try:
        with ThreadPoolExecutor(max_workers=max_workers) as pool:
            results = list(pool.map(work, _schedule_order(pairs)))
    finally:
        sys.stdout = old_stdout
    return sorted(results, key=lambda r: requirement_sort_key(r.requirement_id))


def describe_failure(result: Result) -> str:
    """A failed requirement as a test failure message: the validator's errors, the saved history."""
    lines = [
        f"requirement {result.requirement_id} ({result.suite}) on function {result.function_name} failed:",
        *(f"  - {e}" for e in result.errors),
    ]
    if result.notes:
        lines.append("notes: " + "; ".join(result.notes))
    if result.history_path:
        lines.append(f"history: {result.history_path}")
    return "\n".join(lines)


def summarize(results: Sequence[Result]) -> dict[str, dict[str, Any]]:
    """Per-suite counts: {suite: {"passed": n, "total": n, "failed": [ids]}}."""
    table: dict[str, dict[str, Any]] = {}
    for r in results:
        row = table.setdefault(r.suite, {"passed": 0, "total": 0, "failed": []})
        row["total"] += 1
        if r.passed:
            row["passed"] += 1
        else:
            row["failed"].append(r.requirement_id)
    return table
