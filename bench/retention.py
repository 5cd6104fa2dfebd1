"""Retention keeps up: a backlog of expired executions is deleted within a minute,
without slowing the executions that run meanwhile.

For each backend: N closed executions (each with 3 operations and 8 history events,
like a small real one) are written with an end time past their retention; then a
runtime starts and the script measures how long until none is left, while it runs
3-step executions one after another. The same executions' latency on the same
database with no backlog is measured first, in the same run.

    python bench/retention.py [--executions 100000] [--backends sqlite,postgres]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from perdure.deploy.arns import function_arn  # noqa: E402
from perdure.deploy.functions import FunctionSpec  # noqa: E402
from perdure.run.runtime import Runtime  # noqa: E402
from perdure.store import open_store  # noqa: E402
from perdure.store.base import ExecutionRow  # noqa: E402

DAY_MS = 86_400_000


def seed(db_url: str, count: int) -> None:
    store = open_store(db_url)
    end = int(time.time() * 1000) - 2 * DAY_MS
    try:
        for first in range(0, count, 2000):
            with store.transaction() as tx:
                for i in range(first, min(count, first + 2000)):
                    arn = f"{function_arn('Old')}:$LATEST/durable-execution/old-{i}/{uuid.uuid4()}"
                    tx.insert_execution(ExecutionRow(
                        arn=arn, function_name="Old", name=f"old-{i}", status="SUCCEEDED", input="{}",
                        result="3", error=None, start_ms=end - 1000, end_ms=end, timeout_s=None, retention_days=1,
                    ))
                    for pos in range(3):
                        op = {"Id": f"op{pos}", "Type": "STEP", "Status": "SUCCEEDED", "Name": f"s{pos}"}
                        tx.put_operation(arn, op, pos + 1, pos + 1)
                    tx.append_events(arn, [{"EventId": n, "EventType": "StepSucceeded", "Id": "op0"} for n in range(1, 9)])
        if db_url.startswith("postgresql"):
            # Planner statistics for the rows just written, as autovacuum would have them
            # by the time a real backlog had built up (without them it scans whole tables).
            with store.transaction() as tx:
                for table in ("executions", "operations", "events", "timers", "callbacks"):
                    tx._exec(f"ANALYZE {table}")
    finally:
        store.close()


def run_one(runtime: Runtime) -> float:
    began = time.perf_counter()
    arn = runtime.invoke("Sequential", '{"steps": 3}')
    row = runtime.wait(arn, 30)
    assert row.status == "SUCCEEDED", row
    return (time.perf_counter() - began) * 1000


def left(db_url: str) -> bool:
    """Whether any of the seeded executions is left (read without locking any row)."""
    store = open_store(db_url)
    try:
        with store.transaction() as tx:
            return bool(tx.list_executions("Old", [], None, None, None, None, 1, False))
    finally:
        store.close()


def bench(db_url: str, count: int, samples: int) -> None:
    functions = {"Sequential": FunctionSpec(name="Sequential", handler="handlers.sequential", code_uri=HERE, timeout_s=60)}
    with Runtime(db_url, functions, processes=1, threads=4) as runtime:
        run_one(runtime)  # warm the worker
        baseline = [run_one(runtime) for _ in range(samples)]
    seed(db_url, count)
    assert left(db_url)
    with Runtime(db_url, functions, processes=1, threads=4) as runtime:
        began = time.monotonic()
        done_at: list[float] = []

        def watch() -> None:
            while left(db_url):
                time.sleep(0.5)
            done_at.append(time.monotonic() - began)

        watcher = threading.Thread(target=watch)
        watcher.start()
        during = []
        while watcher.is_alive() and len(during) < 10 * samples:
            during.append(run_one(runtime))
        watcher.join(timeout=300)
    base, busy = statistics.median(baseline), statistics.median(during)
    print(f"  {count} expired executions deleted in {done_at[0]:.1f} s" if done_at else "  backlog not gone within 5 minutes")
    print(f"  3-step execution, no backlog:       median {base:6.1f} ms (n={len(baseline)})")
    print(f"  3-step execution, while deleting:   median {busy:6.1f} ms (n={len(during)})  ratio {busy / base:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executions", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    for backend in args.backends.split(","):
        print(backend)
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                bench(f"sqlite:///{tmp}/retention.db", args.executions, args.samples)
        else:
            from tests.backends import postgres_schema

            with postgres_schema() as url:
                bench(url, args.executions, args.samples)


if __name__ == "__main__":
    main()
