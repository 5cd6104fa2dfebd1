"""Logging overhead: a sequential 100-step handler whose every step logs one line
(``step_context.logger.info``, captured, attributed and stored per execution) against
the same handler without logging, in the same run, interleaved, with the embedded
runtime (SQLite, worker processes) as ``perdure serve`` runs it. Target: logging adds
at most 10% (ratio of medians <= 1.10).

    python bench/logs.py [--rounds 15] [--steps 100]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from perdure.deploy.functions import FunctionSpec
from perdure.logs.reader import execution_rows
from perdure.run.runtime import Runtime

HERE = Path(__file__).resolve().parent
TARGET = 1.10


def run_once(runtime: Runtime, function: str, steps: int) -> float:
    started = time.perf_counter()
    arn = runtime.invoke(function, json.dumps({"steps": steps}))
    row = runtime.wait(arn, 120)
    elapsed = time.perf_counter() - started
    if row.status != "SUCCEEDED":
        raise RuntimeError(f"{function} ended {row.status}: {row.error}")
    return elapsed * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    functions = {
        name: FunctionSpec(name=name, handler=f"handlers.{handler}", code_uri=HERE, timeout_s=120)
        for name, handler in (("Plain", "sequential"), ("Logged", "logged_sequential"))
    }
    times: dict[str, list[float]] = {"Plain": [], "Logged": []}
    with tempfile.TemporaryDirectory() as tmp, Runtime(f"sqlite:///{tmp}/logs.db", functions, processes=1, threads=4) as runtime:
        run_once(runtime, "Plain", args.steps)  # warm the worker process and both handlers
        arn = runtime.invoke("Logged", json.dumps({"steps": args.steps}))
        runtime.wait(arn, 120)
        stored = len(execution_rows(runtime.store, arn))
        if stored != args.steps:
            raise RuntimeError(f"expected {args.steps} stored log lines, found {stored}")
        for i in range(args.rounds):
            order = ("Plain", "Logged") if i % 2 == 0 else ("Logged", "Plain")
            for function in order:
                times[function].append(run_once(runtime, function, args.steps))
    plain = statistics.median(times["Plain"])
    logged = statistics.median(times["Logged"])
    ratio = logged / plain
    print(f"logging overhead, {args.steps} sequential steps, {args.rounds} interleaved rounds, embedded runtime on SQLite")
    print(f"{'handler':<34}{'median':>10}{'per step':>10}")
    print(f"{'no logging':<34}{plain:>8.1f} ms{plain / args.steps:>8.2f} ms")
    print(f"{'one line per step (stored)':<34}{logged:>8.1f} ms{logged / args.steps:>8.2f} ms")
    print(f"ratio {ratio:.3f} (target <= {TARGET:.2f}: {'met' if ratio <= TARGET else 'MISSED'})")


if __name__ == "__main__":
    main()
