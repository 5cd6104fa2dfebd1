"""Figures for the debugging and testing tools, on the order workflow of examples/orders.

1. The testing kit: the example's two tests (a 7-day wait, three failed payment
   attempts retried with 30/60/120 s backoff, a one-day approval timeout) run in
   process under the virtual clock; wall time per test, median of ``--rounds``.
2. ``perdure replay --check``: ``--executions`` recorded orders (in a SQLite file)
   replayed against the unchanged code and against a copy with a renamed step, as a
   CI job would run it (a fresh ``perdure`` process each time).

    .venv/bin/python bench/debugging.py --executions 200
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "orders"


def time_tests(rounds: int) -> list[float]:
    from perdure.testing import TestEnv

    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        with TestEnv.from_template(EXAMPLE / "template.yaml") as env:
            run = env.start("OrderWorkflow", {"id": 7, "amount": 42, "failures": 3})
            env.send_callback_success(run.wait_for_callback("approval"), {"approved": True})
            assert run.result()["status"] == "shipped"
            assert env.clock is not None and env.clock.skipped_s > 7 * 86400
            late = env.start("OrderWorkflow", {"id": 8, "amount": 5, "failures": 3})
            assert late.result()["status"] == "cancelled"
        times.append(time.perf_counter() - started)
    return times


def record(db_url: str, count: int) -> None:
    from perdure.testing import TestEnv

    with TestEnv.from_template(EXAMPLE / "template.yaml", db_url=db_url) as env:
        for i in range(count):
            run = env.start("OrderWorkflow", {"id": i, "amount": i, "failures": i % 4})
            callback_id = run.wait_for_callback("approval")
            if i % 5:
                env.send_callback_success(callback_id, {"approved": i % 3 != 0})
                run.result()


def check(db_url: str, template: Path) -> tuple[float, int, dict[str, int]]:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "perdure", "replay", "--check", "--function", "OrderWorkflow",
         "--db", db_url, "-t", str(template), "--json"],
        capture_output=True, text=True, timeout=600,
    )
    elapsed = time.perf_counter() - started
    report = json.loads(result.stdout)
    outcomes: dict[str, int] = {}
    for row in report["Executions"]:
        outcomes[row["Outcome"]] = outcomes.get(row["Outcome"], 0) + 1
    return elapsed, result.returncode, outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--executions", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("PERDURE_LOG_LEVEL", "ERROR")
    import logging

    logging.disable(logging.CRITICAL)  # the example's payment failures log tracebacks

    times = time_tests(args.rounds)
    print(f"testing kit: 2 order tests (7-day wait, 3 retries with backoff, 1-day callback timeout): "
          f"median {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms over {args.rounds} rounds")

    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite:///{Path(tmp) / 'orders.db'}"
        started = time.perf_counter()
        record(db_url, args.executions)
        print(f"recorded {args.executions} orders in {time.perf_counter() - started:.1f} s (virtual clock)")
        elapsed, rc, outcomes = check(db_url, EXAMPLE / "template.yaml")
        print(f"replay --check, unchanged code: {elapsed:.1f} s, exit {rc}, {outcomes}")
        renamed = Path(tmp) / "renamed"
        renamed.mkdir()
        source = (EXAMPLE / "orders.py").read_text().replace('name="charge",', 'name="charge-card",')
        (renamed / "orders.py").write_text(source)
        (renamed / "template.yaml").write_text((EXAMPLE / "template.yaml").read_text())
        elapsed, rc, outcomes = check(db_url, renamed / "template.yaml")
        print(f"replay --check, a step renamed:  {elapsed:.1f} s, exit {rc}, {outcomes}")
    print(f"({os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
