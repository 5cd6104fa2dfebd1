"""perdure against its peers, side by side in one run: the same four workloads on

* perdure embedded (``Runtime`` in the calling process, SQLite, its default worker processes),
* ``perdure serve`` driven through a stock boto3 ``lambda`` client (SQLite; and, with
  ``--postgres``, again on PostgreSQL),
* AWS's local runner (``aws-durable-execution-sdk-python-testing``'s
  ``DurableFunctionTestRunner``: in memory, nothing on disk), same SDK, same handlers,
* DBOS (``dbos``) on its SQLite system database in WAL mode with ``synchronous=NORMAL``
  (perdure's own SQLite setting), the same workloads as ``@DBOS.workflow``/``@DBOS.step``.

Workloads:

  a  one execution of 100 sequential steps (start to result)
  b  400 executions of a 3-step handler started at once (start of the first to the end
     of the last: executions per second); DBOS also one after another
  c  a 10-way map, one step per item (start to result)
  d  a callback round trip: from sending the callback result to the execution's result

Each system runs in its own long-lived process (warm, imports done); the rounds are
interleaved (round 1 of every system, then round 2...) so the shared machine's noise
hits all alike, and medians with ratios to ``perdure serve`` are printed, then the
targets. Needs the ``bench`` extra: ``pip install -e ".[bench,postgres]"``.

    python bench/peers.py [--rounds 7] [--throughput-rounds 3] [--executions 400]
                          [--workloads a,b,c,d] [--postgres] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

STEPS = 100
THREE = 3
ITEMS = 10
CLIENT_THREADS = 8  # boto3 requests in flight at once when starting executions through the API
WORKLOADS = {
    "a": f"{STEPS} sequential steps (ms)",
    "b": "3-step executions started at once (executions/s)",
    "c": f"{ITEMS}-way map (ms)",
    "d": "callback round trip (ms)",
}

Workload = Callable[[], float]


# -- drivers: one per system, each in its own process ---------------------------------


def _poll(check: Callable[[], bool], timeout: float = 60.0, every: float = 0.002) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("timed out")
        time.sleep(every)


def perdure_embedded(tmp: Path, args: argparse.Namespace) -> dict[str, Workload]:
    from pgfleet import write_template

    from perdure.deploy.template import load_template
    from perdure.run.runtime import Runtime

    sizing = {"threads": args.threads} if args.threads else {}
    runtime = Runtime(f"sqlite:///{tmp}/embedded.db", load_template(write_template(tmp)), **sizing)
    runtime.start()
    engine = runtime.engine

    def run(function: str, payload: dict[str, Any], expect: str) -> float:
        started = time.perf_counter()
        row = runtime.wait(runtime.invoke(function, json.dumps(payload)), 120)
        elapsed = time.perf_counter() - started
        assert row.status == "SUCCEEDED" and row.result == expect, row
        return elapsed

    def throughput() -> float:
        payload = json.dumps({"steps": THREE})
        started = time.perf_counter()
        arns = [runtime.invoke("Sequential", payload) for _ in range(args.executions)]
        rows = [runtime.wait(arn, 300) for arn in arns]
        elapsed = time.perf_counter() - started
        assert all(r.status == "SUCCEEDED" for r in rows)
        return args.executions / elapsed

    def callback() -> float:
        arn = runtime.invoke("AwaitCallback", "{}")
        callback_id = ""

        def suspended() -> bool:
            nonlocal callback_id
            events = engine.history(arn, None, None, False, False)[0]
            types = [e["EventType"] for e in events]
            if "CallbackStarted" not in types or "InvocationCompleted" not in types:
                return False
            started = next(e for e in events if e["EventType"] == "CallbackStarted")
            callback_id = started["CallbackStartedDetails"]["CallbackId"]
            return True

        _poll(suspended)
        started = time.perf_counter()
        engine.callback(callback_id, "SUCCEEDED", result='"ok"')
        runtime.poke()  # what the API does after a callback
        row = runtime.wait(arn, 60)
        elapsed = time.perf_counter() - started
        assert row.status == "SUCCEEDED" and "ok" in (row.result or ""), row
        return elapsed

    return {
        "a": lambda: run("Sequential", {"steps": STEPS}, str(sum(range(STEPS)))),
        "b": throughput,
        "c": lambda: run("MapItems", {"items": ITEMS}, str(sum(2 * i for i in range(ITEMS)))),
        "d": callback,
        "close": lambda: runtime.stop() or 0.0,
    }


def perdure_serve(tmp: Path, args: argparse.Namespace, db_url: str | None = None) -> dict[str, Workload]:
    import boto3
    from botocore.config import Config
    from pgfleet import Command, free_port, write_template

    port = (args.port + (1 if db_url else 0)) if args.port else free_port()
    url = f"http://127.0.0.1:{port}"
    db = db_url or f"sqlite:///{tmp}/serve.db"
    sizing = ["--threads", str(args.threads)] if args.threads else []
    server = Command(
        "serve", "-t", str(write_template(tmp)), "--db", db, "--port", str(port), *sizing, log=tmp / f"serve-{port}.log"
    )
    server.wait_for_http(url)
    config = Config(retries={"max_attempts": 0}, read_timeout=300, max_pool_connections=CLIENT_THREADS)
    lam = boto3.client(
        "lambda", endpoint_url=url, region_name="us-east-1", aws_access_key_id="x",
        aws_secret_access_key="x", config=config,
    )

    def run(function: str, payload: dict[str, Any], expect: str) -> float:
        started = time.perf_counter()
        response = lam.invoke(FunctionName=function, Payload=json.dumps(payload).encode())
        body = response["Payload"].read().decode()
        elapsed = time.perf_counter() - started
        assert "FunctionError" not in response and body == expect, body
        return elapsed

    def throughput() -> float:
        payload = json.dumps({"steps": THREE}).encode()
        started = time.perf_counter()
        # As a client starting many at once would: requests in flight side by side.
        with ThreadPoolExecutor(CLIENT_THREADS) as pool:
            arns = list(pool.map(
                lambda _: _started(lam.invoke(FunctionName="Sequential", InvocationType="Event", Payload=payload)),
                range(args.executions),
            ))

        def all_closed() -> bool:
            page = lam.list_durable_executions_by_function(FunctionName="Sequential", Statuses=["RUNNING"], MaxItems=1)
            return not page["DurableExecutions"]

        _poll(all_closed, 300, 0.01)
        elapsed = time.perf_counter() - started
        for arn in arns:
            assert lam.get_durable_execution(DurableExecutionArn=arn)["Status"] == "SUCCEEDED"
        return args.executions / elapsed

    def callback() -> float:
        result: dict[str, Any] = {}

        def invoke() -> None:
            response = lam.invoke(FunctionName="AwaitCallback", Payload=b"{}", DurableExecutionName=name)
            result["body"] = response["Payload"].read().decode()
            result["at"] = time.perf_counter()

        name = f"cb-{time.time_ns()}"
        caller = threading.Thread(target=invoke)
        caller.start()
        arn = ""
        callback_id = ""

        def suspended() -> bool:
            nonlocal arn, callback_id
            if not arn:
                page = lam.list_durable_executions_by_function(FunctionName="AwaitCallback", DurableExecutionName=name)
                if not page["DurableExecutions"]:
                    return False
                arn = page["DurableExecutions"][0]["DurableExecutionArn"]
            events = lam.get_durable_execution_history(DurableExecutionArn=arn)["Events"]
            types = [e["EventType"] for e in events]
            if "CallbackStarted" not in types or "InvocationCompleted" not in types:
                return False
            started = next(e for e in events if e["EventType"] == "CallbackStarted")
            callback_id = started["CallbackStartedDetails"]["CallbackId"]
            return True

        _poll(suspended, every=0.005)
        started = time.perf_counter()
        lam.send_durable_execution_callback_success(CallbackId=callback_id, Result=b'"ok"')
        caller.join(60)
        assert "ok" in result.get("body", ""), result
        return float(result["at"] - started)

    return {
        "a": lambda: run("Sequential", {"steps": STEPS}, str(sum(range(STEPS)))),
        "b": throughput,
        "c": lambda: run("MapItems", {"items": ITEMS}, str(sum(2 * i for i in range(ITEMS)))),
        "d": callback,
        "close": lambda: server.stop() or 0.0,
    }


def _started(response: dict[str, Any]) -> str:
    """The ARN of an execution an Event invoke started. Reading the (empty) body hands
    the connection back to boto3's pool; left unread, every call opens a new one."""
    response["Payload"].read()
    return str(response["DurableExecutionArn"])


def perdure_serve_postgres(tmp: Path, args: argparse.Namespace) -> dict[str, Workload]:
    from pgfleet import pg_schema

    schema = pg_schema(args.db)
    url = schema.__enter__()
    drivers = perdure_serve(tmp, args, url)
    stop = drivers["close"]

    def close() -> float:
        stop()
        schema.__exit__(None, None, None)
        return 0.0

    drivers["close"] = close
    return drivers


def aws_runner(tmp: Path, args: argparse.Namespace) -> dict[str, Workload]:
    import handlers
    from aws_durable_execution_sdk_python_testing.runner import DurableFunctionTestRunner

    runners = {
        name: DurableFunctionTestRunner(handler=handler, poll_interval=0.002)
        for name, handler in (
            ("Sequential", handlers.sequential),
            ("MapItems", handlers.map_items),
            ("AwaitCallback", handlers.await_callback),
        )
    }
    counter = iter(range(10**9))

    def run(function: str, payload: dict[str, Any], expect: str) -> float:
        started = time.perf_counter()
        result = runners[function].run(input=json.dumps(payload), execution_name=f"e{next(counter)}")
        elapsed = time.perf_counter() - started
        assert result.status.value == "SUCCEEDED" and result.result == expect, result
        return elapsed

    def throughput() -> float:
        runner = runners["Sequential"]
        payload = json.dumps({"steps": THREE})
        started = time.perf_counter()
        arns = [runner.run_async(input=payload, execution_name=f"e{next(counter)}") for _ in range(args.executions)]
        results = [runner.wait_for_result(arn, timeout=300) for arn in arns]
        elapsed = time.perf_counter() - started
        assert all(r.status.value == "SUCCEEDED" for r in results)
        return args.executions / elapsed

    def callback() -> float:
        runner = runners["AwaitCallback"]
        arn = runner.run_async(input="{}", execution_name=f"e{next(counter)}")
        callback_id = runner.wait_for_callback(arn, timeout=60)
        started = time.perf_counter()
        runner.send_callback_success(callback_id, result=b'"ok"')
        result = runner.wait_for_result(arn, timeout=60)
        elapsed = time.perf_counter() - started
        assert result.status.value == "SUCCEEDED" and "ok" in (result.result or ""), result
        return elapsed

    def close() -> float:
        for runner in runners.values():
            runner.close()
        return 0.0

    return {
        "a": lambda: run("Sequential", {"steps": STEPS}, str(sum(range(STEPS)))),
        "b": throughput,
        "c": lambda: run("MapItems", {"items": ITEMS}, str(sum(2 * i for i in range(ITEMS)))),
        "d": callback,
        "close": close,
    }


def dbos(tmp: Path, args: argparse.Namespace) -> dict[str, Workload]:
    import sqlite3

    import sqlalchemy
    from dbos import DBOS, DBOSConfig

    path = tmp / "dbos.sqlite"
    with sqlite3.connect(path) as conn:  # WAL is a property of the file: set once, kept
        conn.execute("PRAGMA journal_mode=WAL")

    @sqlalchemy.event.listens_for(sqlalchemy.engine.Engine, "connect")
    def _normal(dbapi_conn: Any, _record: Any) -> None:
        # perdure's own SQLite setting (no fsync per commit in WAL mode), for both sides.
        dbapi_conn.execute("PRAGMA synchronous=NORMAL")

    config: DBOSConfig = {"name": "peers", "system_database_url": f"sqlite:///{path}", "log_level": "WARNING"}
    DBOS(config=config)
    import dbos_app

    DBOS.launch()

    def timed(fn: Callable[[], Any], expect: Any) -> float:
        started = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - started
        assert result == expect, result
        return elapsed

    def at_once() -> float:
        started = time.perf_counter()
        handles = [DBOS.start_workflow(dbos_app.sequential, THREE) for _ in range(args.executions)]
        results = [h.get_result() for h in handles]
        elapsed = time.perf_counter() - started
        assert results == [sum(range(THREE))] * args.executions
        return args.executions / elapsed

    def one_after_another() -> float:
        started = time.perf_counter()
        results = [dbos_app.sequential(THREE) for _ in range(args.executions)]
        elapsed = time.perf_counter() - started
        assert results == [sum(range(THREE))] * args.executions
        return args.executions / elapsed

    def callback() -> float:
        handle = DBOS.start_workflow(dbos_app.await_message)
        DBOS.get_event(handle.workflow_id, "ready", timeout_seconds=60)
        started = time.perf_counter()
        DBOS.send(handle.workflow_id, "ok", topic="callback")
        result = handle.get_result()
        elapsed = time.perf_counter() - started
        assert result == "ok", result
        return elapsed

    return {
        "a": lambda: timed(lambda: dbos_app.sequential(STEPS), sum(range(STEPS))),
        "b": at_once,
        "b-serial": one_after_another,
        "c": lambda: timed(lambda: dbos_app.map_items(ITEMS), sum(2 * i for i in range(ITEMS))),
        "d": callback,
        "close": lambda: DBOS.destroy() or 0.0,
    }


SYSTEMS: dict[str, tuple[str, Callable[[Path, argparse.Namespace], dict[str, Workload]]]] = {
    "embedded": ("perdure embedded (SQLite)", perdure_embedded),
    "serve": ("perdure serve, boto3 (SQLite)", perdure_serve),
    "serve-pg": ("perdure serve, boto3 (PostgreSQL)", perdure_serve_postgres),
    "aws": ("AWS local runner (in memory)", aws_runner),
    "dbos": ("DBOS (SQLite WAL)", dbos),
}


def driver_main(system: str, args: argparse.Namespace) -> None:
    """Serve one system's workloads: a JSON line in (the workload), a JSON line out."""
    with tempfile.TemporaryDirectory() as tmp_name:
        out = sys.stdout
        sys.stdout = sys.stderr  # libraries' prints must not mix with the replies
        workloads = SYSTEMS[system][1](Path(tmp_name), args)
        out.write(json.dumps({"ready": sorted(workloads)}) + "\n")
        out.flush()
        for line in sys.stdin:
            name = json.loads(line)["workload"]
            if name == "close":
                break
            try:
                out.write(json.dumps({"value": workloads[name]()}) + "\n")
            except Exception as exc:
                out.write(json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n")
            out.flush()
        workloads["close"]()


# -- the conductor -------------------------------------------------------------------


class Driver:
    def __init__(self, system: str, argv: list[str]) -> None:
        self.system = system
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--driver", system, *argv],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
        )
        self.workloads: list[str] = self._read()["ready"]

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.system} driver exited (code {self.proc.wait()})")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def run(self, workload: str) -> float:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"workload": workload}) + "\n")
        reply = self._read()
        if "error" in reply:
            raise RuntimeError(f"{self.system} {workload}: {reply['error']}")
        return float(reply["value"])

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps({"workload": "close"}) + "\n")
            self.proc.stdin.close()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@contextmanager
def drivers(systems: list[str], argv: list[str]) -> Iterator[dict[str, Driver]]:
    started: dict[str, Driver] = {}
    try:
        for system in systems:
            started[system] = Driver(system, argv)
        yield started
    finally:
        for driver in started.values():
            driver.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7, help="rounds of workloads a, c, d")
    parser.add_argument("--throughput-rounds", type=int, default=3, help="rounds of workload b")
    parser.add_argument("--executions", type=int, default=400)
    parser.add_argument("--workloads", default="a,b,c,d")
    parser.add_argument("--systems", default="embedded,serve,aws,dbos")
    parser.add_argument("--postgres", action="store_true", help="also perdure serve on PostgreSQL")
    parser.add_argument("--db", default=os.environ.get("PERDURE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--threads", type=int, help="perdure: invocations per worker process (default: perdure's)")
    parser.add_argument("--port", type=int, help="perdure serve's port (the PostgreSQL one: +1; default: free ports)")
    parser.add_argument("--driver", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.driver:
        driver_main(args.driver, args)
        return
    systems = args.systems.split(",") + (["serve-pg"] if args.postgres else [])
    workloads = args.workloads.split(",")
    argv = ["--executions", str(args.executions), "--db", args.db]
    argv += ["--port", str(args.port)] if args.port else []
    argv += ["--threads", str(args.threads)] if args.threads else []
    samples: dict[tuple[str, str], list[float]] = {}
    with drivers(systems, argv) as running:
        for warm in ("a", "c", "d"):  # first runs pay for imports and handler loading
            for driver in running.values():
                if warm in workloads:
                    driver.run(warm)
        for n in range(max(args.rounds, args.throughput_rounds)):
            order = systems[n % len(systems):] + systems[: n % len(systems)]
            for workload in workloads:
                if n >= (args.throughput_rounds if workload == "b" else args.rounds):
                    continue
                for system in order:
                    for name in (workload, "b-serial") if workload == "b" else (workload,):
                        if name in running[system].workloads:
                            samples.setdefault((system, name), []).append(running[system].run(name))
            print(f"round {n + 1} done", file=sys.stderr)
    report(systems, workloads, samples, args)


def report(systems: list[str], workloads: list[str], samples: dict[tuple[str, str], list[float]], args: argparse.Namespace) -> None:
    cpus = os.cpu_count()
    print(f"peers.py, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {cpus} CPUs, Python {sys.version.split()[0]}")
    print(f"medians: {args.rounds} rounds (a, c, d), {args.throughput_rounds} rounds (b, {args.executions} executions); "
          "ratio = system / perdure serve (SQLite); for b, higher is better")
    medians: dict[tuple[str, str], float] = {}
    for workload in workloads:
        print(f"\n{workload}) {WORKLOADS[workload]}")
        rows = []
        for system in systems:
            for name in (workload, "b-serial") if workload == "b" else (workload,):
                values = samples.get((system, name))
                if not values:
                    continue
                median = statistics.median(values)
                medians[(system, name)] = median
                label = SYSTEMS[system][0] + (", one after another" if name == "b-serial" else ", started at once" if system == "dbos" and workload == "b" else "")
                rows.append((label, median, values))
        reference = medians.get(("serve", workload))
        for label, median, values in rows:
            shown = median if workload == "b" else median * 1000
            spread = ", ".join(f"{v if workload == 'b' else v * 1000:.0f}" for v in values)
            ratio = f"{median / reference:.2f}" if reference else "-"
            print(f"  {label:<48}{shown:>9.1f}   ratio {ratio:>5}   [{spread}]")
    print("\ntargets")
    serve_a, aws_a = medians.get(("serve", "a")), medians.get(("aws", "a"))
    if serve_a and aws_a:
        verdict = "MET" if serve_a <= aws_a else "NOT MET"
        print(f"  (a) perdure serve {serve_a * 1000:.1f} ms <= AWS runner {aws_a * 1000:.1f} ms: {verdict} ({serve_a / aws_a:.2f}x)")
    dbos_best = max((medians[k] for k in (("dbos", "b"), ("dbos", "b-serial")) if k in medians), default=None)
    if dbos_best:
        for system, floor in (("serve", 1.0), ("serve-pg", 0.8)):
            ours = medians.get((system, "b"))
            if ours:
                verdict = "MET" if ours >= floor * dbos_best else "NOT MET"
                print(f"  (b) {SYSTEMS[system][0]} {ours:.1f}/s >= {floor:.0%} of DBOS's best {dbos_best:.1f}/s: "
                      f"{verdict} ({ours / dbos_best:.2f}x)")


if __name__ == "__main__":
    main()
