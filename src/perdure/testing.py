"""Testing durable functions: a pytest plugin with a virtual clock.

``perdure_env(template)`` (a fixture) gives a ``TestEnv``: it runs the template's
functions in this process on a temporary SQLite database, with the same engine and
SDK as ``perdure serve``, under a **virtual clock**: whenever nothing can run, the
clock jumps to the next due timer (a wait, a step retry, a callback or heartbeat
timeout, the execution timeout), so a seven-day wait takes no time and timers fire in
due order. With ``pytest --perdure-url URL`` the same test drives a live
``perdure serve`` instead (``LiveEnv``), skipping time through perdure's own
``skip-timer`` path, so a test can prove the deployment behaves as the in-process run.

    def test_order(perdure_env):
        env = perdure_env("template.yaml")
        run = env.start("OrderWorkflow", {"id": 7})
        callback_id = run.wait_for_callback("approval")
        env.send_callback_success(callback_id, {"approved": True})
        assert run.result() == {"order": 7, "approved": True}
        assert run.operation("charge")["StepDetails"]["Attempt"] == 3

The plugin is registered through the ``pytest11`` entry point. Each in-process
environment gives its engine a clock of its own, so several can be open at once.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest
from aws_durable_execution_sdk_python import state as sdk_state

from perdure.clock import SYSTEM_CLOCK
from perdure.core import Engine
from perdure.deploy import FunctionSpec, load_template
from perdure.http import PerdureClient
from perdure.ops import export_execution
from perdure.run import Worker
from perdure.store import open_store

__all__ = ["ExecutionFailed", "LiveEnv", "Stuck", "TestEnv", "TestExecution", "VirtualClock"]

CLOSED = {"SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED"}
MAX_STEPS = 100_000


class ExecutionFailed(AssertionError):
    """The execution ended other than SUCCEEDED (``status``, ``error``)."""

    def __init__(self, status: str, error: dict[str, Any] | None) -> None:
        error = error or {}
        super().__init__(f"execution ended {status}: {error.get('ErrorType')}: {error.get('ErrorMessage')}")
        self.status = status
        self.error = error


class Stuck(AssertionError):
    """The execution waits on something only the test can give (a callback)."""


class VirtualClock:
    """Epoch milliseconds: real time plus how far the clock has been moved ahead."""

    def __init__(self) -> None:
        self.offset_ms = 0

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.offset_ms

    def advance_to(self, due_ms: int) -> None:
        ahead = due_ms - self.now_ms()
        if ahead > 0:
            self.offset_ms += ahead

    @property
    def skipped_s(self) -> float:
        return self.offset_ms / 1000


class TestExecution:
    """One execution started by a test environment."""

    __test__ = False

    def __init__(self, env: TestEnv | LiveEnv, arn: str) -> None:
        self.env = env
        self.arn = arn

    def result(self) -> Any:
        """Run to the end (skipping time) and return the decoded result; raises
        ``ExecutionFailed`` when it ends otherwise."""
        document = self.env.drive(self.arn, None)
        execution = document["Execution"]
        if execution["Status"] != "SUCCEEDED":
            raise ExecutionFailed(execution["Status"], execution.get("Error"))
        text = execution.get("Result")
        return json.loads(text) if text else None

    def outcome(self) -> dict[str, Any]:
        """Run to the end and return the execution (Status, Result, Error) without raising."""
        return dict(self.env.drive(self.arn, None)["Execution"])

    def wait_for_callback(self, name: str | None = None) -> str:
        """Run (skipping time) until a callback (named ``name``) waits; its callback id."""
        document = self.env.drive(self.arn, name or "")
        for op in document["Operations"]:
            if op["Type"] == "CALLBACK" and op["Status"] == "STARTED" and (name is None or op.get("Name") == name):
                return str(op["CallbackDetails"]["CallbackId"])
        status = document["Execution"]["Status"]
        raise Stuck(f"no callback {name or ''} is waiting: the execution is {status}")

    def export(self) -> dict[str, Any]:
        return self.env.export(self.arn)

    def operations(self) -> list[dict[str, Any]]:
        return list(self.export()["Operations"])

    def operation(self, name: str) -> dict[str, Any]:
        """The (first) operation with this name."""
        operations = self.operations()
        for op in operations:
            if op.get("Name") == name:
                return op
        names = ", ".join(sorted({str(op["Name"]) for op in operations if op.get("Name")}))
        raise KeyError(f"no operation {name!r}; operations: {names or '(none)'}")

    def history(self) -> list[dict[str, Any]]:
        return list(self.export()["History"])

    def events(self, event_type: str, name: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.history() if e["EventType"] == event_type and (name is None or e.get("Name") == name)]

    @property
    def status(self) -> str:
        return str(self.export()["Execution"]["Status"])


class TestEnv:
    """Functions of a template run in this process, on a temporary database, under a
    virtual clock."""

    __test__ = False

    def __init__(self, functions: dict[str, FunctionSpec], db_url: str | None = None, *, virtual_clock: bool = True) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if db_url is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="perdure-test-")
            db_url = f"sqlite:///{Path(self._tmp.name) / 'perdure.db'}"
        self.functions = functions
        self.store = open_store(db_url)
        self.clock: VirtualClock | None = VirtualClock() if virtual_clock else None
        self.engine = Engine(self.store, functions, clock=self.clock or SYSTEM_CLOCK)
        # The SDK's checkpoint thread notices the end of an invocation within 100 ms;
        # in a test that is idle time on every invocation, so it looks more often.
        self._saved_poll = sdk_state._STOP_SIGNAL_POLL_SECONDS
        sdk_state._STOP_SIGNAL_POLL_SECONDS = 0.002
        self._environ = dict(os.environ)
        self._worker = Worker(self.engine, lambda message: None)

    @classmethod
    def from_template(cls, template: str | Path, **kwargs: Any) -> TestEnv:
        return cls(load_template(template), **kwargs)

    def close(self) -> None:
        sdk_state._STOP_SIGNAL_POLL_SECONDS = self._saved_poll
        os.environ.clear()
        os.environ.update(self._environ)
        self.store.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> TestEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what a test does --------------------------------------------------------------

    def start(self, function: str, payload: Any = None, *, name: str | None = None) -> TestExecution:
        row, _ = self.engine.start_execution(function, None if payload is None else json.dumps(payload), name)
        return TestExecution(self, row.arn)

    def send_callback_success(self, callback_id: str, result: Any = None) -> None:
        self.engine.callback(callback_id, "SUCCEEDED", result=None if result is None else json.dumps(result))

    def send_callback_failure(self, callback_id: str, error_type: str = "Error", message: str = "") -> None:
        self.engine.callback(callback_id, "FAILED", error={"ErrorType": error_type, "ErrorMessage": message})

    def send_callback_heartbeat(self, callback_id: str) -> None:
        self.engine.callback(callback_id, "HEARTBEAT")

    def export(self, arn: str) -> dict[str, Any]:
        return export_execution(self.engine, arn)

    # -- the driver ------------------------------------------------------------------

    def drive(self, arn: str, callback: str | None) -> dict[str, Any]:
        """Run invocations and fire timers until the execution closes or (``callback``
        not None) a callback of that name ('' for any) waits. Returns the export."""
        for _ in range(MAX_STEPS):
            document = self.export(arn)
            if document["Execution"]["Status"] in CLOSED or _callback_waiting(document, callback):
                return document
            if self._run_ready():
                continue
            due = self.engine.next_wakeup_ms()
            if due is None:
                raise Stuck(f"the execution waits on something only the test can give: {_waiting_on(document)}")
            if self.clock is not None:
                self.clock.advance_to(due)
            else:
                time.sleep(max(0.0, due / 1000 - time.time()))
            self.engine.fire_due()
        raise Stuck(f"the execution did not settle after {MAX_STEPS} steps")

    def _run_ready(self) -> bool:
        invocations = self.engine.claim(None, 8, owner="perdure.testing")
        for invocation in invocations:
            spec = self.functions[invocation.function_name]
            self._worker.bind(spec)
            self._worker.run(invocation, spec)
        return bool(invocations)


class LiveEnv:
    """The same interface against a running ``perdure serve`` (``--perdure-url``),
    through a ``PerdureClient`` (so with the credentials the CLI would sign with)."""

    __test__ = False

    def __init__(self, url: str, timeout_s: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.perdure = PerdureClient(self.url)
        self.client = self.perdure.lambda_client

    def close(self) -> None:
        self.perdure.close()

    def start(self, function: str, payload: Any = None, *, name: str | None = None) -> TestExecution:
        request: dict[str, Any] = {"FunctionName": function, "InvocationType": "Event"}
        if payload is not None:
            request["Payload"] = json.dumps(payload).encode()
        if name:
            request["DurableExecutionName"] = name
        response = self.client.invoke(**request)
        return TestExecution(self, response["DurableExecutionArn"])

    def send_callback_success(self, callback_id: str, result: Any = None) -> None:
        self.client.send_durable_execution_callback_success(
            CallbackId=callback_id, Result=b"" if result is None else json.dumps(result).encode()
        )

    def send_callback_failure(self, callback_id: str, error_type: str = "Error", message: str = "") -> None:
        self.client.send_durable_execution_callback_failure(
            CallbackId=callback_id, Error={"ErrorType": error_type, "ErrorMessage": message}
        )

    def send_callback_heartbeat(self, callback_id: str) -> None:
        self.client.send_durable_execution_callback_heartbeat(CallbackId=callback_id)

    def export(self, arn: str) -> dict[str, Any]:
        return self.perdure.export(arn)

    def drive(self, arn: str, callback: str | None) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            document = self.export(arn)
            if document["Execution"]["Status"] in CLOSED or _callback_waiting(document, callback):
                return document
            answer = self.perdure.skip_timer(arn, callback)
            if answer["State"] == "idle":
                raise Stuck(f"the execution waits on something only the test can give: {_waiting_on(document)}")
            if answer["State"] != "fired":
                time.sleep(0.02)
        raise Stuck(f"the execution did not settle within {self.timeout_s} s")


def _callback_waiting(document: dict[str, Any], name: str | None) -> bool:
    if name is None:
        return False
    return any(
        op["Type"] == "CALLBACK" and op["Status"] == "STARTED" and (not name or op.get("Name") == name)
        for op in document["Operations"]
    )


def _waiting_on(document: dict[str, Any]) -> str:
    open_ops = [op for op in document["Operations"] if op["Status"] in ("STARTED", "PENDING") and op["Type"] != "EXECUTION"]
    parts = []
    for op in open_ops:
        if op["Type"] == "CALLBACK":
            parts.append(f"callback {op.get('Name') or op['Id']} ({op['CallbackDetails']['CallbackId']})")
        elif op["Type"] in ("CHAINED_INVOKE", "WAIT"):
            parts.append(f"{op['Type'].lower()} {op.get('Name') or op['Id']}")
    return ", ".join(parts) or "nothing it can name"


# --------------------------------------------------------------------------- pytest plugin


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("perdure")
    group.addoption(
        "--perdure-url", default=os.environ.get("PERDURE_TEST_URL") or None, metavar="URL",
        help="run perdure_env tests against this live `perdure serve` instead of in process "
        "(default: $PERDURE_TEST_URL)",
    )


@pytest.fixture
def perdure_env(request: pytest.FixtureRequest) -> Iterator[Callable[..., TestEnv | LiveEnv]]:
    """A factory: ``perdure_env("template.yaml")`` gives an environment for the test
    (in process with a virtual clock, or the live server of ``--perdure-url``)."""
    url = request.config.getoption("--perdure-url", default=None)
    made: list[TestEnv | LiveEnv] = []

    def make(template: str | Path | None = None, **kwargs: Any) -> TestEnv | LiveEnv:
        env: TestEnv | LiveEnv
        if url:
            env = LiveEnv(str(url))
        else:
            if template is None:
                raise ValueError("perdure_env needs the template whose functions the test runs")
            env = TestEnv.from_template(template, **kwargs)
        made.append(env)
        return env

    try:
        yield make
    finally:
        for env in reversed(made):
            with suppress(Exception):
                env.close()
