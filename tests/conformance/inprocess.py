"""Validate the conformance handlers in-process, on AWS's testing SDK (no server).

A development aid for writing handlers without a running backend: each
requirement gets its own ``DurableFunctionTestRunner`` (the testing SDK's
in-memory engine), wrapped so that it looks to the conformance validator like
an invoker plus a boto3 ``lambda`` client. The validator itself is unchanged.

The testing SDK is a reference, not the oracle: its own engine is known to
differ from the real service in places (see docs on the conformance quirks),
so a failure here is a hint, not a verdict. Requirements whose handler kills
its process (1-17, 1-18, 3-12) are skipped: they would kill this one.

    .venv/bin/python tests/conformance/inprocess.py [--ids 1-1 1-2 ...] [--suite step]
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import tempfile
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import harness  # noqa: E402
from aws_durable_execution_conformance_tests.sam import (  # noqa: E402
    EventFileReader,
    InvocationResult,
)

CRASHING = {"1-17": "kills its process", "1-18": "kills its process", "3-12": "kills its process"}


def load_handlers(template_path: Path) -> dict[str, Callable[..., Any]]:
    """Logical id -> imported handler, for every function of a SAM template."""
    template = harness.load_template(template_path)
    globals_fn = (template.get("Globals") or {}).get("Function") or {}
    out: dict[str, Callable[..., Any]] = {}
    for name, resource in (template.get("Resources") or {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = {**globals_fn, **(resource.get("Properties") or {})}
        code_dir = (template_path.parent / props.get("CodeUri", ".")).resolve()
        if str(code_dir) not in sys.path:
            sys.path.insert(0, str(code_dir))
        module_name, _, attr = props["Handler"].rpartition(".")
        out[name] = getattr(importlib.import_module(module_name), attr)
    return out


class InProcessLambda:
    """The slice of the boto3 ``lambda`` client the validator uses, on a test runner."""

    def __init__(self, runner: Any) -> None:
        self.runner = runner

    def get_durable_execution_history(self, DurableExecutionArn: str, **kw: Any) -> dict:
        include = bool(kw.get("IncludeExecutionData", False))
        history = self.runner.get_execution_history(
            DurableExecutionArn, include_execution_data=include
        ).to_dict()
        # Known gap of the testing SDK's engine (the real service emits it): it
        # omits InvocationCompletedDetails. Fill it in so that gap does not hide
        # everything else; the missing RetryDetails on a StepSucceeded after
        # retries is left as it is and shows up as a failure.
        for event in history.get("Events", []):
            if event.get("EventType") == "InvocationCompleted":
                event.setdefault("InvocationCompletedDetails", {})
        return history

    def get_durable_execution(self, DurableExecutionArn: str) -> dict:
        return self.runner._executor.get_execution_details(DurableExecutionArn).to_dict()

    def send_durable_execution_callback_success(
        self, CallbackId: str, Result: bytes | None = None
    ) -> dict:
        self.runner.send_callback_success(CallbackId, Result)
        return {}

    def send_durable_execution_callback_failure(
        self, CallbackId: str, Error: dict | None = None
    ) -> dict:
        from aws_durable_execution_sdk_python.lambda_service import ErrorObject

        self.runner.send_callback_failure(
            CallbackId, ErrorObject.from_dict(Error) if Error else None
        )
        return {}

    def send_durable_execution_callback_heartbeat(self, CallbackId: str) -> dict:
        self.runner.send_callback_heartbeat(CallbackId)
        return {}


class InProcessInvoker:
    """The validator's invoker, starting executions on a test runner."""

    stack_name = "in-process"

    def __init__(self, runner: Any) -> None:
        self.runner = runner

    def _start(
        self, function_name: str, event_file_path: str | None, wait: bool
    ) -> InvocationResult:
        payload: Any = {}
        if event_file_path is not None:
            payload = EventFileReader.extract_payload(EventFileReader.read(event_file_path))
        arn = self.runner.run_async(
            input=json.dumps(payload),
            function_name=function_name,
            execution_name=uuid.uuid4().hex,
            execution_timeout=300,
        )
        if wait:
            try:
                self.runner.wait_for_result(execution_arn=arn, timeout=120)
            except Exception as e:  # failed executions still have a history
                print(f"wait_for_result: {e}")
        return InvocationResult(
            success=True,
            command="in-process",
            output=json.dumps({"StatusCode": 200, "DurableExecutionArn": arn}),
            stderr="",
            function_name=function_name,
        )

    def invoke(
        self, function_name: str, event_file_path: str | None = None, parameters: Any = None
    ) -> InvocationResult:
        return self._start(function_name, event_file_path, wait=True)

    def invoke_async(
        self, function_name: str, event_file_path: str | None = None
    ) -> InvocationResult:
        return self._start(function_name, event_file_path, wait=False)


def run(template: Path, ids: set[str] | None, workers: int, out_dir: Path) -> list[harness.Result]:
    from aws_durable_execution_sdk_python_testing.runner import DurableFunctionTestRunner

    handlers = load_handlers(template)
    pairs = [p for p in harness.template_requirements(template) if ids is None or p[1] in ids]
    tmp = Path(tempfile.mkdtemp(prefix="conformance-inprocess-"))
    out_dir.mkdir(parents=True, exist_ok=True)

    def work(pair: tuple[str, str]) -> harness.Result:
        function_name, rid = pair
        if rid in CRASHING:
            return harness.Result(
                rid, function_name, False, [f"skipped: {CRASHING[rid]}"], harness.suite_of(rid)
            )
        runner = DurableFunctionTestRunner(handler=handlers[function_name], skip_time=False)
        for name, handler in handlers.items():
            if name != function_name:
                runner.register_durable_function(name, handler)
        try:
            return harness.validate_one(
                function_name,
                rid,
                invoker=InProcessInvoker(runner),
                aws_clients={"lambda": InProcessLambda(runner)},
                tmp_dir=tmp,
                output_dir=out_dir,
            )
        finally:
            runner.close()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(work, harness._schedule_order(pairs)))
    return sorted(results, key=lambda r: harness.requirement_sort_key(r.requirement_id))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", type=Path, default=harness.DEFAULT_TEMPLATE)
    parser.add_argument("--ids", nargs="*")
    parser.add_argument("--suite", nargs="*")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument(
        "--output-dir", type=Path, default=Path(tempfile.gettempdir()) / "conformance-inprocess"
    )
    args = parser.parse_args(argv)
    ids: set[str] | None = set(args.ids) if args.ids else None
    if args.suite:
        suite_ids = {
            rid
            for _, rid in harness.template_requirements(args.template)
            if harness.suite_of(rid) in args.suite
        }
        ids = suite_ids if ids is None else ids & suite_ids
    results = run(args.template, ids, args.workers, args.output_dir)
    for r in results:
        mark = "PASS" if r.passed else "FAIL"
        print(
            f"{mark} {r.requirement_id:6} {r.function_name:28} {r.duration_s:5.1f}s {r.reason[:300]}"
        )
    print(f"{sum(r.passed for r in results)}/{len(results)} passed; histories in {args.output_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
