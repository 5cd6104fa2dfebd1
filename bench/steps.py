"""Per-step cost of a sequential 100-step handler: perdure's engine vs the SDK's floor.

The floor is the same handler run by the same SDK against a service client that does
no work at all (keeps nothing, answers at once). "perdure" runs it exactly as a perdure
worker does: claim the invocation, run the handler with checkpoints going into a real
SQLite file, record the invocation's end. Both run in this process, interleaved, so
the machine's noise hits both alike; medians over the rounds are printed.

    python bench/steps.py [--steps 100] [--rounds 15]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from aws_durable_execution_sdk_python.execution import (
    DurableExecutionInvocationInputWithClient,
    InitialExecutionState,
)
from aws_durable_execution_sdk_python.lambda_service import (
    CheckpointOutput,
    CheckpointUpdatedExecutionState,
    ExecutionDetails,
    Operation,
    OperationStatus,
    OperationType,
    StateOutput,
)

sys.path.insert(0, str(Path(__file__).parent))
import handlers

from perdure.core.engine import Engine
from perdure.deploy.functions import FunctionSpec
from perdure.run.worker import LambdaContext, Worker
from perdure.store import open_store


class NullClient:
    """A zero-work service: accepts every checkpoint, stores nothing."""

    def checkpoint(
        self, durable_execution_arn: str, checkpoint_token: str, updates: list[Any], client_token: str | None
    ) -> CheckpointOutput:
        return CheckpointOutput(checkpoint_token=checkpoint_token, new_execution_state=CheckpointUpdatedExecutionState())

    def get_execution_state(
        self, durable_execution_arn: str, checkpoint_token: str, next_marker: str, max_items: int = 1000
    ) -> StateOutput:
        return StateOutput()


def run_floor(steps: int) -> float:
    execution_op = Operation(
        operation_id="i", operation_type=OperationType.EXECUTION, status=OperationStatus.STARTED,
        execution_details=ExecutionDetails(input_payload=json.dumps({"steps": steps})),
    )
    event = DurableExecutionInvocationInputWithClient(
        durable_execution_arn="arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST/durable-execution/n/i",
        checkpoint_token="dG9rZW4=",
        initial_execution_state=InitialExecutionState(operations=[execution_op], next_marker=""),
        service_client=NullClient(),
    )
    context = LambdaContext("req", "f", "arn", deadline_ms=int(time.time() * 1000) + 60_000)
    started = time.perf_counter()
    output = handlers.sequential(event, context)
    elapsed = time.perf_counter() - started
    assert output["Status"] == "SUCCEEDED", output
    return elapsed


def run_perdure(engine: Engine, worker: Worker, spec: FunctionSpec, steps: int) -> float:
    started = time.perf_counter()
    row, _ = engine.start_execution(spec.name, json.dumps({"steps": steps}))
    [invocation] = engine.claim([spec.name], 1, "bench")
    outcome = worker._invoke(invocation, spec)
    engine.complete_invocation(invocation.arn, invocation.invocation_id, outcome, invocation=invocation)
    elapsed = time.perf_counter() - started
    final = engine.get_execution(row.arn)
    assert final.status == "SUCCEEDED" and final.result == str(sum(range(steps))), final
    return elapsed


def _maintain(engine: Engine, stop: threading.Event) -> None:
    while not stop.wait(1.0):
        engine.store.maintain()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    spec = FunctionSpec(name="Sequential", handler="handlers.sequential", code_uri=Path(__file__).parent, timeout_s=300)
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(open_store(f"sqlite:///{tmp}/bench.db"), {spec.name: spec})
        worker = Worker(engine, lambda message: None)
        # As in ``perdure serve``: WAL checkpoints run in the background once a second.
        stop = threading.Event()
        maintenance = threading.Thread(target=_maintain, args=(engine, stop), daemon=True)
        maintenance.start()
        run_floor(args.steps), run_perdure(engine, worker, spec, args.steps)  # warm up
        floor, ours = [], []
        for _ in range(args.rounds):
            floor.append(run_floor(args.steps))
            ours.append(run_perdure(engine, worker, spec, args.steps))
        stop.set()
    f_ms = statistics.median(floor) / args.steps * 1000
    o_ms = statistics.median(ours) / args.steps * 1000
    print(f"sequential handler, {args.steps} steps, median of {args.rounds} rounds (SQLite WAL, synchronous=NORMAL)")
    print(f"{'backend':<34}{'per execution':>16}{'per step':>12}")
    print(f"{'SDK floor (zero-work client)':<34}{statistics.median(floor) * 1000:>13.1f} ms{f_ms:>9.3f} ms")
    print(f"{'perdure engine (SQLite)':<34}{statistics.median(ours) * 1000:>13.1f} ms{o_ms:>9.3f} ms")
    print(f"ratio perdure / floor: {o_ms / f_ms:.3f}  (overhead {100 * (o_ms / f_ms - 1):+.1f}%)")
    print(f"engine cost per step: {o_ms - f_ms:.3f} ms")


if __name__ == "__main__":
    main()
