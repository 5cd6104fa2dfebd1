"""Handlers written with a second Python SDK, the community ``async-durable-execution``,
run unchanged on perdure and end as that SDK's own local runner says they should.

The SDK pins a botocore the official SDK's cannot share a Python with, so its handlers
come as a user whose function brings its own Python would ship them: a custom runtime
(``Runtime: provided.al2023``) whose ``bootstrap`` starts AWS's runtime interface client
in that Python (``.venv-async``, made by ``scripts/setup.sh``). perdure runs it in a
sandbox, hands it Lambda's JSON event through the Runtime API, and the SDK checkpoints
over HTTP to the endpoint in the sandbox's ``AWS_ENDPOINT_URL_LAMBDA``.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from perdure.deploy import load_template
from perdure.ops import export_execution
from perdure.run import Runtime
from tests.support import HANDLERS, ROOT

CODE = HANDLERS / "async_sdk"
PYTHON = ROOT / ".venv-async" / "bin" / "python"
FUNCTIONS = {
    "AsyncSteps": "steps", "AsyncRetries": "retries", "AsyncWaits": "waits",
    "AsyncApproval": "approval", "AsyncFanOut": "fan_out", "AsyncCaller": "caller",
}
CALLBACK_RESULT = '{"approved": true, "by": "ops"}'
SCENARIOS: list[dict[str, Any]] = [
    {"id": "steps", "function": "AsyncSteps", "input": {"n": 6}},
    {"id": "retries", "function": "AsyncRetries", "input": {}},
    {"id": "waits", "function": "AsyncWaits", "input": {"seconds": 1}},
    {"id": "approval", "function": "AsyncApproval", "input": {"request": "r-1"}, "callback": CALLBACK_RESULT},
    {"id": "fan_out", "function": "AsyncFanOut", "input": {"items": [1, 2, 3, 4]}},
    # What AsyncCaller's invoke starts, then AsyncCaller (the local runner answers the
    # invoke with that execution's result; perdure runs AsyncSteps for real).
    {"id": "child", "function": "AsyncSteps", "input": {"n": 4, "tag": "child"}},
    {"id": "caller", "function": "AsyncCaller", "input": {"n": 4}, "invoke_results": {"AsyncSteps": "child"}},
    *({"id": f"many-{i}", "function": "AsyncSteps", "input": {"n": i, "tag": f"t{i}"}} for i in range(8)),
]


def write_template(directory: Path) -> Path:
    lines = [
        "Transform: AWS::Serverless-2016-10-31",
        "Globals:",
        "  Function:",
        "    Runtime: provided.al2023",
        f"    CodeUri: {CODE}",
        "    Timeout: 30",
        "    DurableConfig: {ExecutionTimeout: 300}",
        "    Environment:",
        "      Variables:",
        f"        FUNCTION_PYTHON: {PYTHON}",
        "Resources:",
    ]
    for name, handler in FUNCTIONS.items():
        lines += [f"  {name}:", "    Type: AWS::Serverless::Function", "    Properties:", f"      Handler: app.{handler}"]
    path = directory / "template.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def reference() -> dict[str, dict[str, Any]]:
    """Every scenario run by the SDK's own local runner, in the SDK's Python."""
    assert PYTHON.is_file(), f"{PYTHON} is missing: scripts/setup.sh installs async-durable-execution there"
    scenarios = [{**s, "handler": FUNCTIONS[s["function"]]} for s in SCENARIOS]
    done = subprocess.run(
        [str(PYTHON), str(CODE / "local_runner.py")], input=json.dumps(scenarios), cwd=CODE,
        capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results: dict[str, dict[str, Any]] = json.loads(done.stdout)
    return results


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    directory = tmp_path_factory.mktemp("async-sdk")
    with Runtime(f"sqlite:///{directory / 'db.sqlite'}", load_template(write_template(directory))) as rt:
        yield rt


def run_on_perdure(runtime: Runtime, scenario: dict[str, Any]) -> dict[str, Any]:
    arn = runtime.invoke(scenario["function"], json.dumps(scenario["input"]))
    if "callback" in scenario:
        callback_id = runtime.callback_id(arn, "approval-callback", timeout=60)
        runtime.engine.callback(callback_id, "SUCCEEDED", result=scenario["callback"])
    row = runtime.wait(arn, timeout=120)
    operations = export_execution(runtime.engine, arn)["Operations"]
    return {
        "status": row.status,
        "result": row.result,
        "error": row.error,
        # The local runner lists the top-level operations (not the execution's own).
        "operations": [[op.get("Name"), op["Type"], op["Status"]]
                       for op in operations if op["Type"] != "EXECUTION" and not op.get("ParentId")],
    }


def assert_same(got: dict[str, Any], expected: dict[str, Any]) -> None:
    assert got["status"] == expected["status"] == "SUCCEEDED", (got, expected)
    assert json.loads(got["result"]) == json.loads(expected["result"])
    assert got["operations"] == expected["operations"]


def test_the_sdk_is_not_perdures() -> None:
    """The handlers cannot be running in perdure's own Python: the SDK is not there."""
    assert importlib.util.find_spec("async_durable_execution") is None


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if not s["id"].startswith("many-")], ids=lambda s: s["id"])
def test_handler_ends_as_the_local_runner_says(
    runtime: Runtime, reference: dict[str, dict[str, Any]], scenario: dict[str, Any]
) -> None:
    assert_same(run_on_perdure(runtime, scenario), reference[scenario["id"]])


def test_eight_executions_at_once(runtime: Runtime, reference: dict[str, dict[str, Any]]) -> None:
    many = [s for s in SCENARIOS if s["id"].startswith("many-")]
    with ThreadPoolExecutor(len(many)) as pool:
        results = list(pool.map(lambda s: run_on_perdure(runtime, s), many))
    for scenario, got in zip(many, results, strict=True):
        assert_same(got, reference[scenario["id"]])
