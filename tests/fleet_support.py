"""``perdure serve`` and ``perdure worker`` as separate processes on one database."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tests.support import HANDLERS, Process, history
from tests.support import Serve as _Serve

FLEET_TEMPLATE = HANDLERS / "fleet.yaml"


class Serve(_Serve):
    def __init__(self, db_url: str, log_path: Path, *extra: str, template: Path = FLEET_TEMPLATE) -> None:
        super().__init__(db_url, log_path, *extra, template=template)


def worker(db_url: str, log_dir: Path, name: str, *extra: str, template: Path = FLEET_TEMPLATE) -> Process:
    """``perdure worker``; its handlers see ``PERDURE_TEST_WORKER=name``."""
    return Process(
        ["worker", "-t", str(template), "--db", db_url, *extra],
        log_dir / f"worker-{name}.log", env={"PERDURE_TEST_WORKER": name},
    )


class Workload:
    """Runs ``Chaos`` executions through a server: starts them, answers their callbacks
    as they are published, and checks every outcome, history and step run."""

    def __init__(self, server: Serve, tmp_path: Path, count: int, wait_s: int = 1) -> None:
        self.server = server
        self.count = count
        self.wait_s = wait_s
        self.steps = tmp_path / "steps.log"
        self.callbacks = tmp_path / "callbacks.log"
        self.steps.touch()
        self.callbacks.touch()
        self.arns: dict[int, str] = {}
        self._answered: set[str] = set()

    def start(self) -> None:
        client = self.server.client()
        for i in range(self.count):
            payload = {"i": i, "log": str(self.steps), "callbacks": str(self.callbacks), "wait_s": self.wait_s}
            response = _retrying(lambda p=payload: client.invoke(
                FunctionName="Chaos", InvocationType="Event", Payload=json.dumps(p)
            ))
            self.arns[i] = response["DurableExecutionArn"]

    def answer_callbacks(self) -> int:
        """Send the answer of every callback published and not yet answered."""
        client = self.server.client()
        sent = 0
        for line in self.callbacks.read_text().splitlines():
            i, callback_id = line.split(" ", 1)
            if callback_id in self._answered:
                continue
            _retrying(lambda c=callback_id, i=i: client.send_durable_execution_callback_success(
                CallbackId=c, Result=f"ok-{i}".encode()
            ))
            self._answered.add(callback_id)
            sent += 1
        return sent

    def run_until_done(self, timeout_s: float, during: Callable[[float], None] | None = None) -> float:
        """Answer callbacks until no execution is RUNNING; ``during(elapsed)`` is called
        on every round (to kill and restart processes). Returns the seconds taken."""
        started = time.monotonic()
        client = self.server.client()
        while True:
            elapsed = time.monotonic() - started
            assert elapsed < timeout_s, f"not done after {timeout_s} s"
            if during is not None:
                during(elapsed)
            self.answer_callbacks()
            running = _retrying(lambda: client.list_durable_executions_by_function(
                FunctionName="Chaos", Statuses=["RUNNING"], MaxItems=1
            ))["DurableExecutions"]
            if not running and len(self._answered) >= self.count:
                return time.monotonic() - started
            time.sleep(0.2)

    def check(self) -> dict[str, int]:
        """Every execution SUCCEEDED with the right result and a valid history, and no
        at-most-once step ran twice in one attempt. Returns counts for the report."""
        client = self.server.client()
        crashed = invocations = 0
        for i, arn in self.arns.items():
            execution = client.get_durable_execution(DurableExecutionArn=arn)
            assert execution["Status"] == "SUCCEEDED", (i, execution.get("Error"))
            result = json.loads(execution["Result"])
            assert result == {"i": i, "a": 2 * i, "answer": f"ok-{i}", "b": i + 1}, result
            events = history(client, arn)
            check_history(events)
            ended = [e for e in events if e["EventType"] == "InvocationCompleted"]
            invocations += len(ended)
            crashed += sum(1 for e in ended if "Error" in e["InvocationCompletedDetails"])
        runs = Counter(tuple(line.split()[:3]) for line in self.steps.read_text().splitlines())
        twice = {run: n for run, n in runs.items() if n > 1}
        assert not twice, f"at-most-once steps ran more than once in one attempt: {twice}"
        done = {(i, name) for i, name, _ in runs}
        assert done == {(str(i), name) for i in range(self.count) for name in ("a", "b")}
        return {"invocations": invocations, "failed_invocations": crashed, "step_runs": sum(runs.values())}


def check_history(events: list[dict[str, Any]]) -> None:
    """The shape every successful ``Chaos`` history has, however often it was interrupted."""
    ids = [e["EventId"] for e in events]
    assert ids == list(range(1, len(events) + 1)), ids
    types = [e["EventType"] for e in events]
    assert types[0] == "ExecutionStarted", types
    assert types[-2:] == ["InvocationCompleted", "ExecutionSucceeded"], types
    assert types.count("ExecutionSucceeded") == 1
    for once in ("WaitStarted", "WaitSucceeded", "CallbackStarted", "CallbackSucceeded"):
        assert types.count(once) == 1, (once, types)
    succeeded = Counter(e.get("Name") for e in events if e["EventType"] == "StepSucceeded")
    assert succeeded == {"a": 1, "publish": 1, "b": 1}, succeeded
    order = [
        e["Name"] if e["EventType"] == "StepSucceeded" else e["EventType"]
        for e in events
        if e["EventType"] in ("StepSucceeded", "WaitSucceeded", "CallbackSucceeded")
    ]
    # The callback id is published from inside the "publish" step, so the answer may be
    # recorded before that step's own checkpoint: either order is right.
    assert order[:2] == ["a", "WaitSucceeded"] and order[-1] == "b", order
    assert sorted(order[2:4]) == ["CallbackSucceeded", "publish"], order
    stamps = [e["EventTimestamp"] for e in events]
    assert stamps == sorted(stamps), "event timestamps go backwards"


def _retrying(call: Callable[[], Any], attempts: int = 40) -> Any:
    """An API call retried while the server cannot reach the database (a restart)."""
    for attempt in range(attempts):
        try:
            return call()
        except (BotoCoreError, ClientError) as exc:
            if attempt == attempts - 1 or _is_caller_error(exc):
                raise
            time.sleep(0.25)
    raise AssertionError("unreachable")


def _is_caller_error(exc: Exception) -> bool:
    if not isinstance(exc, ClientError):
        return False
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500))
    return 400 <= status < 500
