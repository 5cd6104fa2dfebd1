"""Synchronous invokes that wait must not slow the rest of the API.

Starts ``perdure serve`` (SQLite), makes N concurrent RequestResponse invokes of an
execution that waits on a callback, and while all N wait measures the latency of
other calls (GetDurableExecution, an asynchronous Invoke, a history read). Then it
sends the N callbacks (timing each), checks that every caller gets its own result,
starts N waiting callers again and times how long SIGTERM takes to end the server.

    python bench/sync_invoke.py [--waiters 500] [--probes 200]
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import Serve, lambda_client  # noqa: E402


def _client(url: str, pool: int) -> Any:
    client = lambda_client(url, read_timeout=300)
    client.meta.config.max_pool_connections = pool
    return client


def _callback_ids(client: Any, count: int) -> list[str]:
    deadline = time.monotonic() + 300
    ids: dict[str, str] = {}
    while time.monotonic() < deadline:
        page = client.list_durable_executions_by_function(FunctionName="Approval", Statuses=["RUNNING"], MaxItems=1000)
        for row in page["DurableExecutions"]:
            arn = row["DurableExecutionArn"]
            if arn in ids:
                continue
            events = client.get_durable_execution_history(DurableExecutionArn=arn)["Events"]
            started = [e for e in events if e["EventType"] == "CallbackStarted"]
            if started:
                ids[arn] = started[0]["CallbackStartedDetails"]["CallbackId"]
        if len(ids) >= count:
            return list(ids.values())
        time.sleep(1)
    raise SystemExit(f"only {len(ids)} of {count} callbacks started")


def _quantiles(samples: list[float]) -> str:
    samples = sorted(samples)
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    return f"median {statistics.median(samples):6.1f} ms  p99 {p99:6.1f} ms  (n={len(samples)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--waiters", type=int, default=500)
    parser.add_argument("--probes", type=int, default=200)
    args = parser.parse_args()
    n = args.waiters
    with tempfile.TemporaryDirectory() as tmp:
        server = Serve(f"sqlite:///{tmp}/db.sqlite", Path(tmp) / "serve.log", "--max-waiting-invokes", str(n + 10)).start()
        try:
            client = _client(server.url, n + 10)
            pool = ThreadPoolExecutor(n + 10)
            payload = json.dumps({"timeout": 900}).encode()
            began = time.monotonic()
            calls = [pool.submit(client.invoke, FunctionName="Approval", Payload=payload) for _ in range(n)]
            ids = _callback_ids(client, n)
            print(f"{n} synchronous invokes waiting on callbacks after {time.monotonic() - began:.1f} s")

            probe = _client(server.url, 4)
            some_arn = probe.list_durable_executions_by_function(FunctionName="Approval", MaxItems=1)["DurableExecutions"][0]["DurableExecutionArn"]
            reads, starts, histories = [], [], []
            for _ in range(args.probes):
                t0 = time.perf_counter()
                probe.get_durable_execution(DurableExecutionArn=some_arn)
                t1 = time.perf_counter()
                probe.invoke(FunctionName="Hello", InvocationType="Event", Payload=b'{"name": "x"}')
                t2 = time.perf_counter()
                probe.get_durable_execution_history(DurableExecutionArn=some_arn)
                t3 = time.perf_counter()
                reads.append((t1 - t0) * 1000)
                starts.append((t2 - t1) * 1000)
                histories.append((t3 - t2) * 1000)
            print(f"while {n} wait: GetDurableExecution        {_quantiles(reads)}")
            print(f"while {n} wait: Invoke (Event)             {_quantiles(starts)}")
            print(f"while {n} wait: GetDurableExecutionHistory {_quantiles(histories)}")

            sends = []
            for i, callback_id in enumerate(ids):
                t0 = time.perf_counter()
                probe.send_durable_execution_callback_success(CallbackId=callback_id, Result=json.dumps(i).encode())
                sends.append((time.perf_counter() - t0) * 1000)
            print(f"SendDurableExecutionCallbackSuccess        {_quantiles(sends)}")
            results = sorted(int(json.loads(c.result(timeout=300)["Payload"].read())["approved"]) for c in calls)
            assert results == list(range(n)), "a caller got another execution's result"
            print(f"all {n} callers got their own result")

            calls = [pool.submit(client.invoke, FunctionName="Approval", Payload=payload) for _ in range(n)]
            _callback_ids(client, n)  # the first round has closed: these are the new ones
            assert server.proc is not None
            t0 = time.monotonic()
            server.proc.send_signal(signal.SIGTERM)
            server.proc.wait(timeout=60)
            print(f"SIGTERM with {n} callers waiting: server ended in {time.monotonic() - t0:.1f} s")
            pool.shutdown(wait=False, cancel_futures=True)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
