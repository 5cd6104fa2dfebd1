"""Replaying a recorded execution against a Node (or custom-runtime) function's current
code, through the same Runtime API its sandboxes use.

The function runs in a sandbox as it would in a worker, handed Lambda's event with the
recorded operations; its durable calls are answered from an in-memory copy of the
recording (``RecordingCalls``) instead of the engine, so nothing is written. Each
checkpoint is compared with the recording: an operation of another type, subtype, name
or parent at a recorded id is a divergence ("mismatch"), as is an operation the code
starts after a closed recording ("extra"). The replay stops where the recording stops:
at the first operation the recording does not hold, and before a step the recording
had not finished. The JS SDK also checks each recorded operation it replays against the
code; when it finds one that differs it ends the invocation with a
``NonDeterministicExecutionError`` whose stack (source-mapped, with ``Sourcemap: true``)
would name the ``.ts`` file and line that made the call; the SDK reports it without
that stack, so the report names the operation and both identities, and a file and line
only where a stack in the error or the logs gives one.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from perdure.core import TERMINAL, Effects, Invocation, Outcome, apply_update, public_operation
from perdure.deploy import FunctionSpec
from perdure.errors import InvalidParameterValue
from perdure.run.replayer import Divergence, ReplayReport, Site
from perdure.run.runtimes.runtime_api import DurableCalls
from perdure.run.runtimes.sandbox import SandboxPool
from perdure.store import NewLogRecord

CLOSED = {"SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED"}
REPLAY_TIMEOUT_MS = 300_000
# "    at fn (/path/app.ts:12:7)" or "    at /path/app.ts:12:7"
_FRAME = re.compile(r"at (?:(?P<fn>[^\s(]+) )?\(?(?P<file>[^\s()]+):(?P<line>\d+):\d+\)?")


def identity(op: dict[str, Any] | None) -> dict[str, Any] | None:
    if op is None:
        return None
    return {k: op.get(k) for k in ("Type", "SubType", "Name", "ParentId")}


def describe(ident: dict[str, Any] | None) -> str:
    if not ident:
        return "no operation"
    kind = str(ident.get("Type") or "").lower()
    return f"{kind} {ident.get('Name')!r}" if ident.get("Name") else kind


class StopReplay(InvalidParameterValue):
    """Answers the checkpoint that reached the end of the recording (or diverged): the
    SDK ends the invocation there."""


@dataclass
class _Stop:
    op: dict[str, Any]
    reason: str


class RecordingCalls(DurableCalls):
    """The durable calls of one replay, answered from the recording."""

    def __init__(self, document: dict[str, Any], until: str | None) -> None:
        super().__init__(self._checkpoint, self._get_state)
        self.execution = document["Execution"]
        self.recorded = {op["Id"]: op for op in document["Operations"]}
        self.operations = copy.deepcopy(self.recorded)
        self.until = until
        self.closed = self.execution.get("Status") in CLOSED
        self.passed: list[dict[str, Any]] = []
        self.updates: list[dict[str, Any]] = []
        self.divergence: Divergence | None = None
        self.stop: _Stop | None = None
        self._seq = 0
        self._lock = threading.Lock()

    def _get_state(self, _arn: str, _token: str, _marker: str | None, _max: int | None) -> dict[str, Any]:
        return {"Operations": []}  # the event carried every recorded operation

    def _checkpoint(self, _arn: str, _token: str, updates: list[Any], _client_token: str | None) -> dict[str, Any]:
        with self._lock:
            if self.divergence is not None or self.stop is not None:
                raise StopReplay("the replay has ended")
            changed: list[dict[str, Any]] = []
            now = int(time.time() * 1000)
            for update in updates:
                if not isinstance(update, dict) or "Id" not in update:
                    continue
                self._compare(update)
                self.updates.append(update)
                new = apply_update(update, self.operations.get(update["Id"]), now, Effects())
                if new is not None:
                    new = public_operation(new)
                    self.operations[new["Id"]] = new
                    changed.append(copy.deepcopy(new))
            self._seq += 1
            return {"CheckpointToken": f"replay-{self._seq}", "NewExecutionState": {"Operations": changed}}

    def _compare(self, update: dict[str, Any]) -> None:
        """Raise ``StopReplay`` where the replay ends; note a divergence first."""
        recorded = self.recorded.get(update["Id"])
        now = identity(update)
        if recorded is None:
            if update.get("Type") == "EXECUTION":
                return  # the handler's end: compared with the recorded outcome afterwards
            if self.closed:
                self.divergence = Divergence(
                    "extra", update["Id"], None, now, None,
                    f"the code starts {describe(now)}, which the recording (closed "
                    f"{self.execution.get('Status')}) does not have",
                )
            else:
                self.stop = _Stop(update, "the recording ends here: the code goes on to an operation it has not reached")
            raise StopReplay("the replay has ended")
        was = identity(recorded)
        assert was is not None and now is not None
        if any(now[k] is not None and now[k] != was[k] for k in ("Type", "SubType", "Name")) or now["ParentId"] != was["ParentId"]:
            self.divergence = Divergence(
                "mismatch", update["Id"], was, now, None,
                f"the recording has {describe(was)} at this position; the code now calls {describe(now)}",
            )
            raise StopReplay("the replay has diverged")
        if recorded.get("Status") not in TERMINAL and update.get("Action") == "START" and update.get("Type") == "STEP":
            self.stop = _Stop(recorded, "the recording had not finished this step (running it would be a side effect)")
            raise StopReplay("the replay has ended")
        if recorded not in self.passed:
            self.passed.append(recorded)
        if self.until is not None and self.until in (recorded.get("Name"), recorded["Id"]):
            self.stop = _Stop(recorded, f"stopped at {self.until} (--until)")
            raise StopReplay("the replay has ended")


def _site_of(lines: list[str], code_root: str | None) -> Site | None:
    """The innermost stack frame of the user's code in an error's stack."""
    for line in lines:
        for match in _FRAME.finditer(line):
            path = match.group("file").removeprefix("file://")
            if "node_modules" in path or path.startswith("node:") or not path.startswith("/"):
                continue
            if code_root and not (path.endswith(".ts") or path.startswith(code_root)):
                continue
            return Site(file=path, line=int(match.group("line")), function=match.group("fn") or "<anonymous>", code="")
    return None


def _operation_id(step_id: str, recorded: dict[str, dict[str, Any]]) -> str:
    """The stored id of the JS SDK's step id ("2", "3-1"): the first 16 hex digits of its
    MD5, as the SDK hashes it before checkpointing."""
    if step_id in recorded:
        return step_id
    hashed = hashlib.md5(step_id.encode(), usedforsecurity=False).hexdigest()[:16]
    return hashed if hashed in recorded else step_id


def replay_sandboxed(document: dict[str, Any], spec: FunctionSpec, *, until: str | None = None) -> ReplayReport:
    """Run ``spec``'s current code in a sandbox against the recording ``document``."""
    execution = document["Execution"]
    arn = execution["DurableExecutionArn"]
    calls = RecordingCalls(document, until)
    lines: list[str] = []

    def keep(_arn: str, _function: str, record: NewLogRecord) -> None:
        message = record.body.get("message")
        lines.append(message if isinstance(message, str) else json.dumps(record.body))

    pool = SandboxPool(calls, keep, os.environ)
    now = int(time.time() * 1000)
    invocation = Invocation(
        arn=arn, function_name=spec.name, invocation_id=f"replay-{now}", token="replay-0",
        deadline_ms=now + REPLAY_TIMEOUT_MS, operations=[dict(op) for op in document["Operations"]], next_marker="",
    )
    started = time.perf_counter()
    try:
        result, _ = pool.run(spec, invocation, json.dumps(invocation.event()).encode())
    finally:
        pool.close()
    report = ReplayReport(arn=arn, outcome="finished", passed=calls.passed, recorded_status=execution.get("Status"),
                          would_checkpoint=calls.updates)
    report.seconds = time.perf_counter() - started
    output: Any = None
    if result.kind == "response":
        try:
            output = json.loads(result.body or b"null")
        except ValueError:
            output = None
    error: dict[str, Any] = (
        output["Error"] if isinstance(output, dict) and isinstance(output.get("Error"), dict) else result.error or {}
    )
    error_text = str(error.get("ErrorMessage") or error.get("errorMessage") or "")
    trace = error.get("StackTrace") or error.get("trace") or []
    if calls.divergence is None and "Non-deterministic execution detected" in (error_text + "\n".join(lines)):
        message = next((m for m in [error_text, *lines] if "Non-deterministic execution detected" in m), error_text)
        found = re.search(r'for step "([^"]+)"', message)
        op_id = _operation_id(found.group(1), calls.recorded) if found else "?"
        recorded = calls.recorded.get(op_id)
        calls.divergence = Divergence(
            "mismatch", op_id, identity(recorded), None, None,
            re.sub(r"\s+This indicates.*", "", message.split("Non-deterministic execution detected: ", 1)[-1]).strip()[:500],
        )
    if calls.divergence is not None:
        stack = [*(str(t) for t in trace if isinstance(trace, list)), *lines]
        calls.divergence.site = calls.divergence.site or _site_of(stack, str(spec.source_uri or spec.code_uri or ""))
        report.outcome, report.divergence = "diverged", calls.divergence
        return report
    if calls.stop is not None:
        report.outcome, report.stopped_at, report.stop_reason = "stopped", calls.stop.op, calls.stop.reason
        return report
    status = output.get("Status") if isinstance(output, dict) else None
    if status == "PENDING":
        report.outcome = "stopped"
        report.stop_reason = "the handler suspended (it waits on something the recording had not completed)"
        return report
    if status in ("SUCCEEDED", "FAILED"):
        assert isinstance(output, dict)
        report.result = Outcome(status, result=output.get("Result"), error=output.get("Error"))
    else:
        report.result = Outcome("ERROR", error=result.error or {"ErrorMessage": "no durable output"})
    recorded_status = execution.get("Status")
    if recorded_status in CLOSED and report.result.status != recorded_status:
        report.notes.append(f"recorded {recorded_status}, the code now ends {report.result.status}")
    elif recorded_status not in CLOSED:
        report.notes.append(f"the recording is {recorded_status}; the code finished with {report.result.status}")
    return report
