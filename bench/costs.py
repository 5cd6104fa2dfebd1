"""CPU per execution in each process of a deployment, and what it projects for a fleet.

Runs N executions of a 3-step handler through ``perdure serve`` (started with boto3
Event invokes, 8 in flight, as bench/peers.py does) and reads, from ``/proc``, the CPU
time each process spent meanwhile:

* SQLite: ``perdure serve`` (API, scheduler) and its worker processes;
* PostgreSQL (``--postgres``): ``perdure serve --no-workers`` (API, timers), one
  ``perdure worker`` (its scheduler process and its handler processes), and the
  PostgreSQL server processes serving this run's sessions (the database's own CPU).

Dividing a machine's cores by a role's CPU per execution bounds the executions per
second that role can drive, which is how docs/deploy-postgres.md sizes a fleet. CPU
time, unlike wall time, hardly depends on what else the machine runs.

    python bench/costs.py [--executions 400] [--postgres] [--db URL]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pgfleet import DEFAULT_PG, Command, free_port, pg_schema, write_template

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU a live process has used (its live children: see ``tree``)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def tree(pid: int) -> list[int]:
    """A process and its descendants."""
    found = [pid]
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split() if Path(f"/proc/{pid}").exists() else []:
        found.extend(tree(int(child)))
    return found


def backends(url: str, application: str) -> list[int]:
    import psycopg

    with psycopg.connect(url.split("?", 1)[0], autocommit=True) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", (application,)).fetchall()
    return [int(pid) for (pid,) in rows]


def run(url: str, executions: int, tmp: Path, postgres: bool, application: str) -> dict[str, float]:
    import boto3
    from botocore.config import Config

    template = write_template(tmp)
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = Command("serve", "-t", str(template), "--db", url, "--port", str(port),
                     *(["--no-workers"] if postgres else []), log=tmp / "serve.log")
    workers = [Command("worker", "-t", str(template), "--db", url, "--concurrency", "1", log=tmp / "worker.log")] if postgres else []
    try:
        server.wait_for_http(endpoint)
        lam = boto3.client("lambda", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x",
                           aws_secret_access_key="x", config=Config(retries={"max_attempts": 0}, max_pool_connections=8))

        def start(_: int) -> str:
            response = lam.invoke(FunctionName="Sequential", InvocationType="Event", Payload=json.dumps({"steps": 3}).encode())
            response["Payload"].read()
            return str(response["DurableExecutionArn"])

        def running() -> bool:
            page = lam.list_durable_executions_by_function(FunctionName="Sequential", Statuses=["RUNNING"], MaxItems=1)
            return bool(page["DurableExecutions"])

        with ThreadPoolExecutor(8) as pool:  # warm up: imports, handler loading, connections
            list(pool.map(start, range(20)))
        while running():
            time.sleep(0.05)
        roles: dict[str, list[int]] = {"server": [server.proc.pid]}
        serve_children = [p for p in tree(server.proc.pid) if p != server.proc.pid]
        if postgres:
            worker_tree = tree(workers[0].proc.pid)
            roles["worker: scheduler"] = [workers[0].proc.pid]
            roles["worker: handler processes"] = [p for p in worker_tree if p != workers[0].proc.pid]
            roles["PostgreSQL"] = backends(url, application)
            roles["server"] += serve_children
        else:
            roles["worker processes"] = serve_children
        before = {role: sum(cpu_seconds(p) for p in pids) for role, pids in roles.items()}
        started = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(start, range(executions)))
        while running():
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
        after = {role: sum(cpu_seconds(p) for p in pids) for role, pids in roles.items()}
        costs = {role: (after[role] - before[role]) / executions * 1000 for role in roles}
        costs["wall (executions/s)"] = executions / elapsed
        return costs
    finally:
        for command in (*workers, server):
            command.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--executions", type=int, default=400)
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL: serve --no-workers + 1 perdure worker")
    parser.add_argument("--db", default=DEFAULT_PG, help="PostgreSQL database (a schema is made and dropped)")
    args = parser.parse_args()
    application = f"bench_costs_{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if args.postgres:
            with pg_schema(args.db) as url:
                costs = run(f"{url}&application_name={application}", args.executions, tmp, True, application)
        else:
            costs = run(f"sqlite:///{tmp}/costs.db", args.executions, tmp, False, application)
    rate = costs.pop("wall (executions/s)")
    backend = "PostgreSQL" if args.postgres else "SQLite"
    print(f"CPU per execution of a 3-step handler, {backend}, {args.executions} executions ({rate:.0f}/s on this machine)")
    for role, ms in costs.items():
        print(f"  {role:<28}{ms:>7.2f} ms   one core drives {1000 / ms if ms else float('inf'):>6.0f} executions/s")
    if args.postgres:
        worker = costs["worker: scheduler"] + costs["worker: handler processes"]
        print(f"projection: each worker core adds about {1000 / worker:.0f} executions/s, until PostgreSQL's cores "
              f"are busy at about {1000 / costs['PostgreSQL']:.0f} executions/s per database core "
              f"(API servers: {1000 / costs['server']:.0f} executions/s per core)")


if __name__ == "__main__":
    main()
