"""Runs scenarios through the community SDK's own local runner and prints what each
ended with, as JSON: the reference perdure's results are compared with. Run by the
SDK's Python (``.venv-async``); reads the scenarios as JSON on stdin: a list of
``{"id", "handler", "input", "callback"?, "invoke_results"?}``, where ``callback`` is the
result sent to the execution's pending callback and ``invoke_results`` maps a function
name to the id of an earlier scenario whose result that function's invoke returns."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import app
from async_durable_execution import create_local_runner


async def run(scenario: dict[str, Any], done: dict[str, dict[str, Any]]) -> dict[str, Any]:
    handler = getattr(app, scenario["handler"])
    runner = create_local_runner(handler=handler, input=json.dumps(scenario["input"]), poll_interval=0.05, timeout=120)
    async with runner:
        for function, earlier in (scenario.get("invoke_results") or {}).items():
            runner.mock_invoke_result(function, json.loads(done[earlier]["result"]))
        arn = await runner.run_async()
        if scenario.get("callback") is not None:
            callback_id = await runner.wait_for_callback(arn, timeout=60)
            await runner.send_callback_success(callback_id, scenario["callback"].encode())
        result = await runner.wait_for_result(arn, timeout=120)
    return {
        "status": result.status.value,
        "result": result.result,
        "error": result.error.to_dict() if result.error is not None else None,
        "operations": [[op.name, op.operation_type.value, op.status.value] for op in result.operations],
    }


async def main() -> None:
    done: dict[str, dict[str, Any]] = {}
    for scenario in json.load(sys.stdin):
        done[scenario["id"]] = await run(scenario, done)
    json.dump(done, sys.stdout)


if __name__ == "__main__":
    asyncio.run(main())
