"""Console page times with much data: 10,000 executions and one execution of 1,000
operations in a SQLite database, the console served over real HTTP by uvicorn, each page
fetched ``--runs`` times (after one warm-up); prints the median and the slowest wall
time, and the median CPU time of this process (server and client) per request, which
stays meaningful when other work shares the cores.

    python bench/console.py [--executions 10000] [--steps 1000] [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

import uvicorn

from perdure.console import Console
from perdure.core.engine import Engine
from perdure.deploy.functions import FunctionSpec
from perdure.run.runtime import Runtime
from perdure.store import open_store

HERE = Path(__file__).resolve().parent


def fetch_ms(url: str) -> tuple[float, float, int]:
    """(wall ms, CPU ms of this process, bytes) of one GET."""
    started, cpu = time.perf_counter(), time.process_time()
    with urllib.request.urlopen(url, timeout=60) as r:
        size = len(r.read())
        assert r.status == 200, url
    return (time.perf_counter() - started) * 1000, (time.process_time() - cpu) * 1000, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--executions", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--port", type=int, default=9398)
    args = parser.parse_args()
    functions = {
        "Sequential": FunctionSpec(name="Sequential", handler="handlers.sequential", code_uri=HERE, timeout_s=300),
        "Orders": FunctionSpec(name="Orders", handler="handlers.await_callback", code_uri=HERE, timeout_s=60),
    }
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/console.db"
        started = time.perf_counter()
        with Runtime(url, functions, processes=1, threads=2) as runtime:
            big = runtime.invoke("Sequential", f'{{"steps": {args.steps}}}', name="big-one")
            row = runtime.wait(big, 600)
            assert row.status == "SUCCEEDED", row
        print(f"one execution of {args.steps} steps ran in {time.perf_counter() - started:.1f} s")
        engine = Engine(open_store(url), functions)
        started = time.perf_counter()
        for i in range(args.executions):
            arn = engine.start_execution("Orders", f'{{"order": {i}}}', f"order-{i:05d}")[0].arn
            if i % 4 == 0:
                engine.stop_execution(arn, {"ErrorType": "Bench", "ErrorMessage": "stopped"})
        print(f"{args.executions} executions written in {time.perf_counter() - started:.1f} s (none run)")

        server = uvicorn.Server(uvicorn.Config(Console(engine, plugins=[]), host="127.0.0.1", port=args.port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{args.port}"
        pages = [
            ("functions (counts by status)", "/"),
            ("executions, all, 50 newest", "/executions"),
            ("executions, 200 per page", "/executions?size=200"),
            ("executions, one function + status", "/executions?function=Orders&status=STOPPED"),
            ("executions, search 'order-0999'", "/executions?q=order-0999"),
            ("executions, page 2 (marker)", None),
            (f"execution of {args.steps} operations", f"/execution?arn={quote(big, safe='')}"),
        ]
        with urllib.request.urlopen(base + "/executions", timeout=60) as r:
            page = r.read().decode()
        marker = page.split('rel="next"', 1)[0].rsplit('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
        load = os.getloadavg()[0]
        print(f"\nconsole page times over HTTP, {args.runs} runs each (ms); load average {load:.1f} on {os.cpu_count()} cores")
        print(f"{'page':<40}{'median':>8}{'max':>8}{'CPU':>8}{'KB':>8}")
        try:
            for label, path in pages:
                target = base + ("/executions" + marker if path is None else path)
                fetch_ms(target)  # warm-up
                times, cpu, size = zip(*(fetch_ms(target) for _ in range(args.runs)), strict=True)
                print(f"{label:<40}{statistics.median(times):>8.1f}{max(times):>8.1f}"
                      f"{statistics.median(cpu):>8.1f}{size[0] / 1024:>8.0f}")
        finally:
            server.should_exit = True
            thread.join(10)


if __name__ == "__main__":
    main()
