"""Resume latency: how soon a suspended execution runs again once it may.

* callback: from the service recording a callback's result (CallbackSucceeded) to the
  first operation the resumed invocation checkpoints (StepStarted of the next step);
* 1 s wait: from the wait's due time (ScheduledEndTimestamp) to that first operation.

Both are read from the execution's own history timestamps (millisecond precision),
with the embedded runtime (SQLite, worker processes) as ``perdure serve`` runs it.

    python bench/resume.py [--runs 20]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from perdure.core.engine import Engine
from perdure.deploy.functions import FunctionSpec
from perdure.run.runtime import Runtime

HERE = Path(__file__).resolve().parent


def _events(engine: Engine, arn: str) -> list[dict[str, Any]]:
    return engine.history(arn, None, None, False, True)[0]


def _wait_for(engine: Engine, arn: str, event_type: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in _events(engine, arn):
            if event["EventType"] == event_type:
                return event
        time.sleep(0.005)
    raise TimeoutError(f"{event_type} not seen in {arn}")


def _first_step_after(events: list[dict[str, Any]], after_ms: int) -> int:
    return min(e["EventTimestamp"] for e in events if e["EventType"] == "StepStarted" and e["EventTimestamp"] >= after_ms)


def callback_latency(runtime: Runtime) -> float:
    arn = runtime.invoke("AwaitCallback", "{}")
    started = _wait_for(runtime.engine, arn, "CallbackStarted")
    _wait_for(runtime.engine, arn, "InvocationCompleted")  # suspended
    runtime.engine.callback(started["CallbackStartedDetails"]["CallbackId"], "SUCCEEDED", result='"ok"')
    runtime.wait(arn, 10)
    events = _events(runtime.engine, arn)
    recorded = next(e["EventTimestamp"] for e in events if e["EventType"] == "CallbackSucceeded")
    return float(_first_step_after(events, recorded) - recorded)


def wait_latency(runtime: Runtime) -> float:
    arn = runtime.invoke("WaitOneSecond", "{}")
    runtime.wait(arn, 10)
    events = _events(runtime.engine, arn)
    due = next(e["WaitStartedDetails"]["ScheduledEndTimestamp"] for e in events if e["EventType"] == "WaitStarted")
    return float(_first_step_after(events, due) - due)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    functions = {
        name: FunctionSpec(name=name, handler=f"handlers.{handler}", code_uri=HERE, timeout_s=60)
        for name, handler in (("AwaitCallback", "await_callback"), ("WaitOneSecond", "wait_one_second"))
    }
    with tempfile.TemporaryDirectory() as tmp, Runtime(f"sqlite:///{tmp}/resume.db", functions, processes=1, threads=4) as runtime:
        callback_latency(runtime)  # warm the worker (imports, handler load)
        callbacks = [callback_latency(runtime) for _ in range(args.runs)]
        waits = [wait_latency(runtime) for _ in range(args.runs)]
    print(f"resume latency, embedded runtime on SQLite, {args.runs} runs each (ms)")
    print(f"{'event':<28}{'median':>8}{'p90':>8}{'max':>8}")
    for label, values in (("callback -> first step", callbacks), ("1 s wait due -> first step", waits)):
        ordered = sorted(values)
        p90 = ordered[int(0.9 * (len(ordered) - 1))]
        print(f"{label:<28}{statistics.median(values):>8.1f}{p90:>8.1f}{max(values):>8.1f}")


if __name__ == "__main__":
    main()
