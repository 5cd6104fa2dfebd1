"""Throughput: executions per second of a 3-step handler, on the embedded SQLite default
and on PostgreSQL with 1, 2 and 4 ``perdure worker`` processes, in one run.

Executions are started the way the API starts them (``Runtime.invoke``: a transaction
and a wake-up), as fast as one thread can, and the clock stops when the last one has
SUCCEEDED. SQLite runs as ``perdure serve`` does (one runtime, 2 handler processes).
On PostgreSQL the starting process hosts no function; each worker is a separate
``perdure worker --concurrency 1`` process (a scheduler and one handler process with
8 threads), so every execution crosses processes through the database.

PostgreSQL commits wait for the WAL to reach the disk (``synchronous_commit=on``);
SQLite's default (WAL, ``synchronous=NORMAL``) does not fsync on commit. The rows
with ``synchronous_commit=off`` show what that costs on this disk (that setting can
lose the last few hundred milliseconds of commits if PostgreSQL crashes).

    python bench/throughput.py [--executions 400] [--steps 3] [--workers 1,2,4] [--db URL]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pgfleet import DEFAULT_PG, Command, pg_schema, write_template

from perdure.deploy.template import load_template
from perdure.run.runtime import Runtime


def measure(runtime: Runtime, executions: int, steps: int) -> float:
    payload = json.dumps({"steps": steps})
    for arn in [runtime.invoke("Sequential", payload) for _ in range(8)]:  # warm-up
        assert runtime.wait(arn, 60).status == "SUCCEEDED"
    started = time.perf_counter()
    arns = [runtime.invoke("Sequential", payload) for _ in range(executions)]
    for arn in arns:
        row = runtime.wait(arn, 300)
        assert row.status == "SUCCEEDED" and row.result == str(sum(range(steps))), row
    return time.perf_counter() - started


def run_sqlite(template: Path, tmp: Path, executions: int, steps: int) -> float:
    with Runtime(f"sqlite:///{tmp}/throughput.db", load_template(template)) as runtime:
        return measure(runtime, executions, steps)


def run_postgres(
    base_url: str, template: Path, tmp: Path, workers: int, executions: int, steps: int, synchronous_commit: str
) -> float:
    with (
        pg_schema(base_url, synchronous_commit=synchronous_commit) as url,
        Runtime(url, load_template(template), processes=0) as runtime,
    ):
        fleet = [
            Command("worker", "-t", str(template), "--db", url, "--concurrency", "1", log=tmp / f"worker{n}.log")
            for n in range(workers)
        ]
        try:
            return measure(runtime, executions, steps)
        finally:
            for command in fleet:
                command.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--executions", type=int, default=400)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--workers", default="1,2,4", help="worker process counts on PostgreSQL")
    parser.add_argument("--db", default=DEFAULT_PG, help="PostgreSQL database (a schema is made and dropped)")
    args = parser.parse_args()
    rows: list[tuple[str, str, float]] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        template = write_template(tmp)
        rows.append(("SQLite (embedded)", "2 in perdure serve", run_sqlite(template, tmp, args.executions, args.steps)))
        for commit in ("on", "off"):
            for n in (int(x) for x in args.workers.split(",")):
                seconds = run_postgres(args.db, template, tmp, n, args.executions, args.steps, commit)
                rows.append((f"PostgreSQL, sync {commit}", f"{n} perdure worker", seconds))
    print(f"throughput: {args.executions} executions of a {args.steps}-step handler each")
    print(f"{'backend':<25}{'worker processes':<22}{'seconds':>9}{'executions/s':>14}{'steps/s':>10}")
    for backend, workers, seconds in rows:
        rate = args.executions / seconds
        print(f"{backend:<25}{workers:<22}{seconds:>9.2f}{rate:>14.1f}{rate * args.steps:>10.0f}")


if __name__ == "__main__":
    main()
