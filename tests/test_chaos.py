"""Chaos: 200 executions (steps, a wait, a callback) on one server and three workers,
separate processes sharing PostgreSQL; two workers are SIGKILLed (with their worker
processes, as if their machines died) at random moments and started again.

Every execution must succeed with the right result and a valid history, and no step
with at-most-once semantics may run twice in one attempt. ``PERDURE_CHAOS_SEED``
replays a run's kill schedule."""

from __future__ import annotations

import os
import random
from pathlib import Path

from tests.fleet_support import Process, Serve, Workload, worker

EXECUTIONS = 200
LEASE = "2"


def test_chaos(pg_url: str, tmp_path: Path) -> None:
    seed = int(os.environ.get("PERDURE_CHAOS_SEED") or random.randrange(1_000_000))
    rng = random.Random(seed)
    server = Serve(pg_url, tmp_path / "serve.log", "--no-workers", "--lease-seconds", LEASE).start()
    workers: list[Process] = [
        worker(pg_url, tmp_path, f"w{n}", "--concurrency", "1", "--lease-seconds", LEASE).start() for n in range(3)
    ]
    # Two workers die at random moments while executions run (their first steps, their
    # waits, or the steps after them), and come back 0.5-1.5 s later. Every execution waits 8 s between its first step and its callback, so the
    # run outlasts the last restart however fast the fleet is.
    plan: list[tuple[float, str, Process]] = []
    for victim in rng.sample(workers, 2):
        at = rng.uniform(0.5, 8.0)
        plan += [(at, "kill", victim), (at + rng.uniform(0.5, 1.5), "start", victim)]
    plan.sort(key=lambda step: step[0])
    done: list[str] = []

    def during(elapsed: float) -> None:
        while plan and plan[0][0] <= elapsed:
            at, action, process = plan.pop(0)
            process.kill() if action == "kill" else process.start()
            done.append(f"{action} {process.log_path.stem} at {at:.1f} s")

    load = Workload(server, tmp_path, EXECUTIONS, wait_s=8)
    try:
        load.start()
        took = load.run_until_done(timeout_s=170, during=during)
        counts = load.check()
    finally:
        for process in [*workers, server]:
            process.stop()
    assert len(done) == 4, f"the run ended before the kills (seed {seed}): {done}"
    print(f"chaos seed {seed}: {EXECUTIONS} executions SUCCEEDED in {took:.1f} s; {'; '.join(done)}; {counts}")
