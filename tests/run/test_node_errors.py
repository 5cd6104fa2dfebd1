"""Node.js and custom-runtime functions that fail: each failure is recorded in the
execution's history (the invocation's error type and message) and in its logs, and is
retried or failed as Lambda does (as perdure treats the same failure of a Python
handler), while a healthy execution in the same Runtime runs to completion beside it.

All the executions start together in one Runtime (the module's fixture); each test reads
what happened to its own. The functions are in tests/fixtures/node/errors/template.yaml.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from perdure import Runtime, load_template
from perdure.deploy import FunctionSpec
from perdure.logs import execution_rows
from perdure.run.runtimes.sandbox import sandbox_environment
from perdure.store import ExecutionRow

FIXTURE = Path(__file__).parents[1] / "fixtures" / "node" / "errors"
REPO = Path(__file__).parents[2]
GAVE_UP = "(gave up after 6 failed invocations)"

# What each execution is started with. Healthy waits long enough to be running when
# every other execution's first invocation ends.
CASES: dict[str, dict[str, Any]] = {
    "Healthy": {"seconds": 8},
    "MissingFile": {},
    "PythonMissingFile": {},
    "MissingExport": {},
    "BadSyntax": {},
    "Rejection": {},
    "ExitOnce": {"tag": "once"},
    "StallOnce": {},
    "TooLarge": {"bytes": 7_000_000},
    "MissingDependency": {},
    "RequireInEsm": {},
    "EsmInCommonJs": {},
    "EsmInTypelessJs": {},
    "EsmInTypelessJs22": {},
    "TsOk": {"n": 7},
    "Custom": {"hello": "plain"},
    "CustomDurable": {"hello": "durable"},
}


@dataclass
class Ran:
    """How each execution of ``CASES`` ended: its row, history and log records."""

    rows: dict[str, ExecutionRow]
    histories: dict[str, list[dict[str, Any]]]
    logs: dict[str, list[dict[str, Any]]]
    template: Path

    def invocation_errors(self, name: str) -> list[dict[str, Any] | None]:
        """The error of each of the execution's invocations, None where it had none."""
        return [
            (e["InvocationCompletedDetails"].get("Error") or {}).get("Payload")
            for e in self.histories[name] if e["EventType"] == "InvocationCompleted"
        ]

    def messages(self, name: str) -> str:
        return "\n".join(str(body.get("message", "")) for body in self.logs[name])

    def steps_succeeded(self, name: str, step: str) -> int:
        return sum(1 for e in self.histories[name] if e["EventType"] == "StepSucceeded" and e.get("Name") == step)


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ran]:
    root = tmp_path_factory.mktemp("node-errors")
    app = root / "app"
    shutil.copytree(FIXTURE, app, symlinks=True)  # its builds are written next to its template
    # The repository's Node packages (the SDK, esbuild), found by walking up as npm does.
    (root / "node_modules").symlink_to(REPO / "node_modules", target_is_directory=True)
    markers = root / "markers"
    markers.mkdir()
    functions = load_template(app / "template.yaml", env_overrides={"*": {"MARKERS": str(markers)}})
    with Runtime(f"sqlite:///{root / 'perdure.db'}", functions, processes=4) as runtime:
        arns = {name: runtime.invoke(name, json.dumps(payload)) for name, payload in CASES.items()}
        rows = {name: runtime.wait(arn, timeout=90) for name, arn in arns.items()}
        histories = {name: runtime.engine.history(arn, None, 1000, False, True)[0] for name, arn in arns.items()}
        logs = {name: [r.body for r in execution_rows(runtime.store, arn)] for name, arn in arns.items()}
    yield Ran(rows, histories, logs, app / "template.yaml")


def assert_healthy_ran_beside(ran: Ran, name: str) -> None:
    """The healthy execution succeeded, and was running when ``name``'s first
    invocation ended."""
    healthy = ran.histories["Healthy"]
    assert ran.rows["Healthy"].status == "SUCCEEDED", ran.rows["Healthy"]
    assert json.loads(ran.rows["Healthy"].result or "null") == {"done": "healthy"}
    first_end = next(e for e in ran.histories[name] if e["EventType"] == "InvocationCompleted")
    assert healthy[0]["EventTimestamp"] <= first_end["EventTimestamp"] <= healthy[-1]["EventTimestamp"]


def assert_failed_after_retries(ran: Ran, name: str, error_type: str, message: str) -> None:
    """Six invocations failed with the same error; the execution failed with it."""
    errors = ran.invocation_errors(name)
    assert len(errors) == 6, errors
    for error in errors:
        assert error is not None and error["ErrorType"] == error_type, error
        assert message in error["ErrorMessage"], error
    row = ran.rows[name]
    assert row.status == "FAILED", row
    error = json.loads(row.error or "{}")
    assert error["ErrorType"] == error_type and error["ErrorMessage"].endswith(GAVE_UP), error


def init_errors_logged(ran: Ran, name: str, error_type: str) -> list[str]:
    """The runtime's own "Init Error" lines and the platform's INIT_REPORT, per invocation."""
    reports = [m for m in ran.messages(name).splitlines() if m.startswith("INIT_REPORT")]
    assert len(reports) == 6 and all(f"Status: error\tError Type: {error_type}" in r for r in reports), reports
    init_lines = [b["message"] for b in ran.logs[name] if str(b.get("message", "")).startswith("Init Error")]
    assert init_lines and all(f'"errorType":"{error_type}"' in line for line in init_lines), init_lines
    return init_lines


# --------------------------------------------------------------------------- handlers that cannot load


def test_missing_handler_file_fails_to_init_is_retried_then_fails(ran: Ran) -> None:
    assert_failed_after_retries(ran, "MissingFile", "Runtime.ImportModuleError", "Cannot find module 'nothere'")
    init_errors_logged(ran, "MissingFile", "Runtime.ImportModuleError")
    assert_healthy_ran_beside(ran, "MissingFile")
    # A Python handler whose module is missing is retried and failed the same way.
    python = ran.invocation_errors("PythonMissingFile")
    assert len(python) == 6 and all(e and "No module named 'nothere'" in e["ErrorMessage"] for e in python), python
    assert ran.rows["PythonMissingFile"].status == "FAILED"


def test_missing_export_is_handler_not_found(ran: Ran) -> None:
    assert_failed_after_retries(ran, "MissingExport", "Runtime.HandlerNotFound", "noexport.handler is undefined or not exported")
    init_errors_logged(ran, "MissingExport", "Runtime.HandlerNotFound")
    assert_healthy_ran_beside(ran, "MissingExport")


def test_syntax_error_is_user_code_syntax_error_naming_the_line(ran: Ran) -> None:
    assert_failed_after_retries(ran, "BadSyntax", "Runtime.UserCodeSyntaxError", "SyntaxError: Unexpected token ';'")
    init_errors_logged(ran, "BadSyntax", "Runtime.UserCodeSyntaxError")
    assert re.search(r"syntax\.js:5\b", ran.messages("BadSyntax")), ran.messages("BadSyntax")[:2000]
    assert_healthy_ran_beside(ran, "BadSyntax")


def test_missing_npm_dependency_is_import_module_error_naming_the_requiring_file(ran: Ran) -> None:
    assert_failed_after_retries(
        ran, "MissingDependency", "Runtime.ImportModuleError", "Cannot find module 'perdure-no-such-package'"
    )
    assert "missingdep.js" in (ran.invocation_errors("MissingDependency")[0] or {})["ErrorMessage"]
    init_errors_logged(ran, "MissingDependency", "Runtime.ImportModuleError")
    assert_healthy_ran_beside(ran, "MissingDependency")


@pytest.mark.parametrize(("name", "error_type", "message"), [
    # require() in an .mjs file: the module's evaluation throws.
    ("RequireInEsm", "ReferenceError", "require is not defined in ES module scope"),
    # import/export in a package.json "type": "commonjs" package.
    ("EsmInCommonJs", "Runtime.UserCodeSyntaxError", "Cannot use import statement outside a module"),
    # import/export in a .js file with no "type" on nodejs22.x, where Lambda turns
    # Node's module-syntax detection off.
    ("EsmInTypelessJs22", "Runtime.UserCodeSyntaxError", "Cannot use import statement outside a module"),
])
def test_esm_and_commonjs_mixed_up(ran: Ran, name: str, error_type: str, message: str) -> None:
    assert_failed_after_retries(ran, name, error_type, message)
    init_errors_logged(ran, name, error_type)
    assert_healthy_ran_beside(ran, name)


def test_esm_in_a_typeless_js_file_loads_on_nodejs24(ran: Ran) -> None:
    # nodejs24.x keeps Node's module-syntax detection: the same file loads as an ES module.
    assert ran.rows["EsmInTypelessJs"].status == "SUCCEEDED", ran.rows["EsmInTypelessJs"]
    assert json.loads(ran.rows["EsmInTypelessJs"].result or "null") == "loaded as an ES module"
    assert ran.invocation_errors("EsmInTypelessJs") == [None]


# --------------------------------------------------------------------------- handlers that end badly


def test_unhandled_rejection_ends_the_runtime_and_is_retried_without_rerunning_steps(ran: Ran) -> None:
    # The runtime interface client leaves unhandled rejections to Node, which ends the
    # process: the invocation ends as Runtime.ExitError, with Node's report in the logs.
    assert_failed_after_retries(ran, "Rejection", "Runtime.ExitError", "Runtime exited with error: exit status 1")
    logged = ran.messages("Rejection")
    assert "Error: nobody caught this rejection" in logged
    assert re.search(r"rejection\.js:6\b", logged)
    assert logged.count("Runtime exited with error: exit status 1\nRuntime.ExitError") == 6
    assert ran.steps_succeeded("Rejection", "before") == 1
    assert_healthy_ran_beside(ran, "Rejection")


def test_process_exit_is_exit_error_and_the_retry_completes(ran: Ran) -> None:
    errors = ran.invocation_errors("ExitOnce")
    assert len(errors) == 2 and errors[1] is None, errors
    assert errors[0] is not None and errors[0]["ErrorType"] == "Runtime.ExitError"
    assert errors[0]["ErrorMessage"].endswith("Error: Runtime exited with error: exit status 3")
    assert ran.rows["ExitOnce"].status == "SUCCEEDED"
    assert json.loads(ran.rows["ExitOnce"].result or "null") == "survived"
    logged = ran.messages("ExitOnce")
    assert "exiting the process" in logged
    assert "Error: Runtime exited with error: exit status 3\nRuntime.ExitError" in logged
    assert ran.steps_succeeded("ExitOnce", "before") == 1  # checkpointed before the exit, not run again
    assert_healthy_ran_beside(ran, "ExitOnce")


def test_runtime_that_never_calls_next_times_out_and_its_sandbox_is_replaced(ran: Ran) -> None:
    errors = ran.invocation_errors("StallOnce")
    assert len(errors) == 2 and errors[1] is None, errors
    assert errors[0] is not None and errors[0]["ErrorType"] == "Sandbox.Timedout"
    assert "Task timed out after 2.00 seconds" in errors[0]["ErrorMessage"]
    logged = ran.messages("StallOnce")
    assert "Task timed out after 2.00 seconds" in logged
    # A new bootstrap process ran the retry, and answered it.
    stalled = re.findall(r"bootstrap (\d+) stalls", logged)
    ready = re.findall(r"bootstrap (\d+) ready", logged)
    assert len(stalled) == 1 and len(ready) == 1 and stalled != ready, logged
    assert ran.rows["StallOnce"].status == "SUCCEEDED"
    assert json.loads(ran.rows["StallOnce"].result or "null")["pid"] == int(ready[0])
    assert_healthy_ran_beside(ran, "StallOnce")


def test_response_over_6_mb_fails_the_invocation_at_once(ran: Ran) -> None:
    # A function without DurableConfig: like a synchronous Lambda invoke, not retried.
    row = ran.rows["TooLarge"]
    assert row.status == "FAILED", row
    error = json.loads(row.error or "{}")
    assert error["ErrorType"] == "Function.ResponseSizeTooLarge"
    assert "Response payload size exceeded maximum allowed payload size (6291456 bytes)" in error["ErrorMessage"]
    assert len(ran.invocation_errors("TooLarge")) == 1
    failed = next(e for e in ran.histories["TooLarge"] if e["EventType"] == "ExecutionFailed")
    assert failed["ExecutionFailedDetails"]["Error"]["Payload"]["ErrorType"] == "Function.ResponseSizeTooLarge"
    assert "exceeded maximum allowed payload size (6291456 bytes).\nFunction.ResponseSizeTooLarge" in ran.messages("TooLarge")
    assert_healthy_ran_beside(ran, "TooLarge")


# --------------------------------------------------------------------------- building and custom runtimes


def test_typescript_build_failure_names_the_file_and_line_and_the_rest_is_served(
    ran: Ran, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="perdure"):
        functions = load_template(ran.template)
    assert "TsBroken" not in functions
    assert {"TsOk", "Healthy", "Custom"} <= set(functions)
    (logged,) = [r.getMessage() for r in caplog.records if "TsBroken" in r.getMessage()]
    assert "esbuild failed" in logged and "app.ts:4:36" in logged and 'Unexpected ";"' in logged, logged
    assert "the other functions are served" in logged
    # Served beside it: the TypeScript function built from the same template ran.
    assert ran.rows["TsOk"].status == "SUCCEEDED" and json.loads(ran.rows["TsOk"].result or "null") == 49


def test_custom_runtime_bootstrap_serves_plain_and_durable_functions(ran: Ran) -> None:
    plain = ran.rows["Custom"]
    assert plain.status == "SUCCEEDED", plain
    assert json.loads(plain.result or "null")["echo"] == {"hello": "plain"}
    durable = ran.rows["CustomDurable"]
    assert durable.status == "SUCCEEDED", durable
    assert json.loads(durable.result or "null")["input"] == {"hello": "durable"}
    assert ran.invocation_errors("CustomDurable") == [None]
    assert "ready for custom-durable" in ran.messages("CustomDurable")


# --------------------------------------------------------------------------- Lambda's Node options


def _node_spec(runtime: str, options: str | None = None) -> FunctionSpec:
    env = {"NODE_OPTIONS": options} if options is not None else {}
    return FunctionSpec(name="Fn", handler="app.handler", code_uri=None, runtime=runtime, environment=env)


def test_nodejs22_turns_off_what_lambda_turns_off_unless_the_function_turns_it_on() -> None:
    def options(runtime: str, own: str | None = None) -> str:
        return sandbox_environment(_node_spec(runtime, own), {}, "127.0.0.1:1").get("NODE_OPTIONS", "")

    assert options("nodejs22.x").split() == ["--no-experimental-require-module", "--no-experimental-detect-module"]
    assert options("nodejs22.x", "--experimental-detect-module --max-old-space-size=100").split() == [
        "--experimental-detect-module", "--max-old-space-size=100", "--no-experimental-require-module",
    ]
    assert options("nodejs24.x") == ""
    assert options("nodejs24.x", "--trace-warnings") == "--trace-warnings"
