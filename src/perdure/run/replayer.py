"""Replaying a recorded execution against the current handler code, in this process.

The handler runs in the foreground under the official SDK, exactly as in a worker,
but its service client is ``ReplayClient``: an in-memory copy of the recorded
operations that writes nowhere. Operations that finished return their recorded
results (their code does not run), so ``breakpoint()``, pdb and IDE debuggers stop in
the handler with the values of the recorded run.

The replay stops where the recording stops: before the first operation the recording
does not hold, and before a step that had not finished (running it would be a side
effect). It stops early at ``until``. When the code no longer matches the recording
(the SDK's identity check: another type, subtype, name or parent at the same
position; an extra operation after a closed recording; recorded operations the code
no longer reaches), the report names the operation, both versions and the user's
file and line that made the call.

The SDK is hooked at one place for the duration of a replay: the identity check it
runs before consuming a recorded operation (``OperationIdentifier.validate_checkpoint``).
Replays in one process run one at a time.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import sys
import sysconfig
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aws_durable_execution_sdk_python
from aws_durable_execution_sdk_python import state as sdk_state
from aws_durable_execution_sdk_python.exceptions import (
    NonDeterministicExecutionError,
    SuspendExecution,
)
from aws_durable_execution_sdk_python.identifier import OperationIdentifier
from aws_durable_execution_sdk_python.lambda_service import (
    CheckpointOutput,
    CheckpointUpdatedExecutionState,
    Operation,
    OperationUpdate,
    StateOutput,
)
from aws_durable_execution_sdk_python.serdes import EXTENDED_TYPES_SERDES, SerDesContext

import perdure
from perdure.core import TERMINAL, Effects, Outcome, apply_update, public_operation
from perdure.run.service_client import operation_from_wire
from perdure.run.worker import LambdaContext, LambdaEvent, outcome_of

TERMINAL = TERMINAL
CLOSED = {"SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED"}
_SKIP_DIRS = tuple(
    str(Path(p).resolve()) + os.sep
    for p in (
        Path(aws_durable_execution_sdk_python.__file__).parent,
        Path(perdure.__file__).parent,
        sysconfig.get_paths()["stdlib"],
    )
)
_lock = threading.Lock()
_session: ReplaySession | None = None


@dataclass(frozen=True)
class Site:
    """Where the user's code made a call: the innermost frame outside the SDK, perdure
    and the standard library, and (``callers``) the user frames that led there."""

    file: str
    line: int
    function: str
    code: str
    callers: tuple[tuple[str, int, str], ...] = ()

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"

    def short(self) -> str:
        """``pipeline.py:877 <- 1049``: the call and the line that called it, when the
        call is made in a helper of the same file."""
        text = f"{Path(self.file).name}:{self.line}"
        for file, line, _ in self.callers[:1]:
            text += f" <- {line}" if file == self.file else f" <- {Path(file).name}:{line}"
        return text


@dataclass
class Divergence:
    kind: str  # "mismatch" | "extra" | "missing"
    operation_id: str
    recorded: dict[str, Any] | None
    current: dict[str, Any] | None
    site: Site | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "Kind": self.kind, "OperationId": self.operation_id, "Message": self.message,
            "Recorded": self.recorded, "Current": self.current,
        }
        if self.site is not None:
            out["Site"] = {"File": self.site.file, "Line": self.site.line, "Function": self.site.function,
                           "Callers": [{"File": f, "Line": n, "Function": fn} for f, n, fn in self.site.callers]}
        return out


@dataclass
class ReplayReport:
    arn: str
    outcome: str  # "finished" | "stopped" | "diverged"
    passed: list[dict[str, Any]] = field(default_factory=list)
    stopped_at: dict[str, Any] | None = None
    stop_reason: str | None = None
    divergence: Divergence | None = None
    result: Outcome | None = None
    recorded_status: str | None = None
    notes: list[str] = field(default_factory=list)
    would_checkpoint: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def diverged(self) -> bool:
        return self.divergence is not None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "DurableExecutionArn": self.arn, "Outcome": self.outcome,
            "RecordedStatus": self.recorded_status,
            "Passed": [{k: op.get(k) for k in ("Id", "Type", "Name", "Status")} for op in self.passed],
            "Notes": self.notes, "Seconds": round(self.seconds, 4),
        }
        if self.stopped_at is not None:
            out["StoppedAt"] = {k: self.stopped_at.get(k) for k in ("Id", "Type", "Name", "Status")}
            out["StopReason"] = self.stop_reason
        if self.divergence is not None:
            out["Divergence"] = self.divergence.to_dict()
        if self.result is not None:
            out["Result"] = {"Status": self.result.status, "Result": self.result.result, "Error": self.result.error}
        return out


def user_site(stack: list[traceback.FrameSummary] | None = None) -> Site | None:
    frames = stack if stack is not None else traceback.extract_stack()
    found: list[traceback.FrameSummary] = []
    for frame in reversed(frames):
        path = str(Path(frame.filename).resolve()) if frame.filename and not frame.filename.startswith("<") else ""
        if path and not path.startswith(_SKIP_DIRS):
            found.append(frame)
        elif found and path.startswith(_SKIP_DIRS[0]):
            break  # back in the SDK: the handler's own frames end here
    if not found:
        return None
    first = found[0]
    callers = tuple((str(Path(f.filename).resolve()), f.lineno or 0, f.name) for f in found[1:4])
    return Site(str(Path(first.filename).resolve()), first.lineno or 0, first.name, (first.line or "").strip(), callers)


def _identity(op: Operation | dict[str, Any] | OperationIdentifier | None) -> dict[str, Any] | None:
    if op is None:
        return None
    if isinstance(op, dict):
        return {k: op.get(k) for k in ("Id", "Type", "SubType", "Name", "ParentId")}
    if isinstance(op, OperationIdentifier):
        return {"Id": op.operation_id, "Type": op.type.value, "SubType": op.sub_type, "Name": op.name, "ParentId": op.parent_id}
    return {"Id": op.operation_id, "Type": op.operation_type.value, "SubType": op.sub_type,
            "Name": op.name, "ParentId": op.parent_id}


def describe(identity: dict[str, Any] | None) -> str:
    if identity is None:
        return "nothing"
    name = identity.get("Name")
    kind = identity.get("Type") or "?"
    sub = identity.get("SubType")
    text = f"{kind.lower()}" + (f" ({sub})" if sub and sub.lower() != kind.lower() else "")
    return f"{text} {name!r}" if name else f"{text} (unnamed)"


class ReplaySession:
    """What one replay has seen; the SDK hook reports into it."""

    def __init__(self, document: dict[str, Any], until: str | None, on_pass: Callable[[dict[str, Any], Site | None], None]) -> None:
        self.execution = document["Execution"]
        self.operations: dict[str, dict[str, Any]] = {op["Id"]: op for op in document["Operations"]}
        self.order = [op["Id"] for op in document["Operations"]]
        self.closed = self.execution.get("Status") in CLOSED
        self.until = until
        self.rerun_steps: set[str] = set()  # ids of recorded steps whose code runs again
        self.on_pass = on_pass
        self.seen: set[str] = set()
        self.passed: list[dict[str, Any]] = []
        self.last_site: Site | None = None
        self.divergence: Divergence | None = None
        self.stopped_at: dict[str, Any] | None = None
        self.stop_reason: str | None = None
        self._mutex = threading.Lock()

    def check(self, identifier: OperationIdentifier, checkpoint: Operation | None) -> None:
        """Called by the SDK before it consumes (or creates) an operation."""
        op_id = identifier.operation_id
        recorded = self.operations.get(op_id)
        with self._mutex:
            if self.divergence is not None or self.stopped_at is not None:
                raise SuspendExecution("replay: already stopped")
            first = op_id not in self.seen
            self.seen.add(op_id)
        if recorded is None:
            site = user_site()
            if self.closed:
                current = _identity(identifier)
                self._diverge(Divergence(
                    "extra", op_id, None, current, site,
                    f"the code now calls {describe(current)} (operation {op_id[:12]}) where the recorded "
                    f"execution, which ended {self.execution.get('Status')}, has no operation",
                ))
                raise NonDeterministicExecutionError("replay: extra operation", step_id=op_id)
            self._stop(_identity(identifier) or {}, "the recording ends here (this operation had not started)", site)
            raise SuspendExecution("replay: end of the recording")
        if first:
            site = user_site()
            if self.until is not None and self.until in (op_id, recorded.get("Name")) and identifier.name == recorded.get("Name"):
                self._stop(recorded, f"--until {self.until}", site)
                raise SuspendExecution("replay: --until")
            self.last_site = site or self.last_site
        if op_id in self.rerun_steps:
            if first:
                with self._mutex:
                    self.passed.append(recorded)
                self.on_pass(dict(recorded, Status="RUNNING"), self.last_site)
            return
        if recorded["Type"] == "STEP" and recorded["Status"] not in TERMINAL and self._matches(identifier, recorded):
            self._stop(recorded, f"the recording ends here (step {recorded['Status']}: running it would be a side effect)", user_site())
            raise SuspendExecution("replay: unfinished step")
        if first and self._matches(identifier, recorded):
            with self._mutex:
                self.passed.append(recorded)
            self.on_pass(recorded, self.last_site)

    @staticmethod
    def _matches(identifier: OperationIdentifier, recorded: dict[str, Any]) -> bool:
        return (identifier.type.value == recorded["Type"] and (identifier.name or None) == (recorded.get("Name") or None)
                and (identifier.parent_id or None) == (recorded.get("ParentId") or None)
                and identifier.sub_type == recorded.get("SubType"))

    def mismatch(self, identifier: OperationIdentifier, exc: NonDeterministicExecutionError) -> None:
        recorded = self.operations.get(identifier.operation_id)
        current = _identity(identifier)
        self._diverge(Divergence(
            "mismatch", identifier.operation_id, _identity(recorded), current, user_site(),
            f"the code now calls {describe(current)} where the recording has {describe(_identity(recorded))} ({exc})",
        ))

    def _diverge(self, divergence: Divergence) -> None:
        with self._mutex:
            if self.divergence is None:
                self.divergence = divergence

    def _stop(self, op: dict[str, Any], reason: str, site: Site | None) -> None:
        with self._mutex:
            if self.stopped_at is None:
                self.stopped_at = op
                self.stop_reason = reason
                self.last_site = site or self.last_site

    def missing(self) -> list[dict[str, Any]]:
        """Recorded operations the code no longer reached although it went past them:
        top-level ones, and children of contexts whose children it replayed."""
        entered = {self.operations[i].get("ParentId") for i in self.seen if i in self.operations}
        execution_ids = {i for i, op in self.operations.items() if op["Type"] == "EXECUTION"}
        out = []
        for op_id in self.order:
            op = self.operations[op_id]
            if op["Type"] == "EXECUTION" or op_id in self.seen:
                continue
            parent = op.get("ParentId")
            if parent is None or parent in execution_ids or parent in entered:
                out.append(op)
        return out


@contextmanager
def _hooked(session: ReplaySession, quiet: bool) -> Iterator[None]:
    """Route the SDK's identity check through ``session`` and silence the SDK's logs."""
    global _session
    original = OperationIdentifier.validate_checkpoint

    def validate(self: OperationIdentifier, checkpoint: Operation | None) -> None:
        current = _session
        if current is None:
            original(self, checkpoint)
            return
        try:
            original(self, checkpoint)
        except NonDeterministicExecutionError as exc:
            current.mismatch(self, exc)
            raise
        current.check(self, checkpoint if isinstance(checkpoint, Operation) else None)

    sdk_logger = logging.getLogger("aws_durable_execution_sdk_python")
    level = sdk_logger.level
    poll = sdk_state._STOP_SIGNAL_POLL_SECONDS
    with _lock:
        _session = session
        OperationIdentifier.validate_checkpoint = validate  # type: ignore[method-assign]
        # The SDK's checkpoint thread polls its stop signal every 100 ms; nothing is
        # sent anywhere here, so a replay need not wait for it.
        sdk_state._STOP_SIGNAL_POLL_SECONDS = 0.002
        if quiet:
            sdk_logger.setLevel(logging.CRITICAL)
        try:
            yield
        finally:
            OperationIdentifier.validate_checkpoint = original  # type: ignore[method-assign]
            sdk_state._STOP_SIGNAL_POLL_SECONDS = poll
            sdk_logger.setLevel(level)
            _session = None


class ReplayClient:
    """The SDK's service client over an in-memory copy of the recording. Checkpoints
    are applied to that copy (with perdure's own transition rules) and remembered as
    what the code *would* have written; nothing leaves the process."""

    def __init__(self, operations: list[dict[str, Any]]) -> None:
        self.operations = {op["Id"]: dict(op) for op in operations}
        self.updates: list[dict[str, Any]] = []
        self._seq = 0

    def checkpoint(self, durable_execution_arn: str, checkpoint_token: str, updates: list[OperationUpdate], client_token: str | None) -> CheckpointOutput:
        changed: list[dict[str, Any]] = []
        now = int(time.time() * 1000)
        for update in updates:
            data = dict(update.to_dict())
            self.updates.append(data)
            fx = Effects()
            try:
                new = apply_update(data, self.operations.get(data["Id"]), now, fx)
            except Exception:  # the replay reports divergence itself; keep going
                continue
            if new is not None:
                new = public_operation(new)
                self.operations[new["Id"]] = new
                changed.append(copy.deepcopy(new))
        self._seq += 1
        return CheckpointOutput(
            checkpoint_token=f"replay-{self._seq}",
            new_execution_state=CheckpointUpdatedExecutionState(
                operations=[operation_from_wire(op) for op in changed], next_marker=None,
            ),
        )

    def get_execution_state(self, durable_execution_arn: str, checkpoint_token: str, next_marker: str, max_items: int = 1000) -> StateOutput:
        return StateOutput(operations=[], next_marker=None)


def replay(
    document: dict[str, Any], handler: Callable[[Any, Any], Any], *, until: str | None = None,
    on_pass: Callable[[dict[str, Any], Site | None], None] | None = None, quiet: bool = True,
    function_name: str | None = None, run_steps: frozenset[str] = frozenset(),
) -> ReplayReport:
    """Run ``handler`` (decorated with ``@durable_execution``) against the recording.

    ``run_steps`` names recorded steps whose code runs again (with the recorded values
    of everything before them, so a breakpoint inside them stops); their new result
    is compared with the recorded one. Their side effects are theirs: perdure still
    writes nothing."""
    execution = document["Execution"]
    arn = execution["DurableExecutionArn"]
    recorded_ops = document["Operations"]
    session = ReplaySession(document, until, on_pass or (lambda op, site: None))
    operations = []
    for op in recorded_ops:
        if op["Type"] == "STEP" and op["Status"] in TERMINAL and (op.get("Name") in run_steps or op["Id"] in run_steps):
            session.rerun_steps.add(op["Id"])
            # The SDK numbers the attempt it runs as the recorded Attempt + 1, as it did.
            attempt = int((op.get("StepDetails") or {}).get("Attempt") or 0)
            op = {k: v for k, v in op.items() if k not in ("StepDetails", "EndTimestamp")}
            op["Status"] = "READY"
            if attempt:
                op["StepDetails"] = {"Attempt": attempt}
        operations.append(op)
    missing_steps = run_steps - {recorded.get("Name") for recorded in recorded_ops} - {recorded["Id"] for recorded in recorded_ops}
    client = ReplayClient(operations)
    event = LambdaEvent({
        "DurableExecutionArn": arn,
        "CheckpointToken": "replay-0",
        "InitialExecutionState": {"Operations": [dict(op) for op in operations], "NextMarker": ""},
    }, client)
    name = function_name or execution.get("FunctionName") or "replay"
    context = LambdaContext(
        aws_request_id="replay", function_name=name,
        invoked_function_arn=arn.split("/durable-execution/")[0], deadline_ms=int(time.time() * 1000) + 86_400_000,
    )
    started = time.perf_counter()
    with _hooked(session, quiet):
        try:
            outcome = outcome_of(handler(event, context))
        except NonDeterministicExecutionError as exc:  # raised outside the handler's guard
            outcome = Outcome("FAILED", error={"ErrorType": type(exc).__name__, "ErrorMessage": str(exc)})
    report = ReplayReport(arn=arn, outcome="finished", passed=session.passed, recorded_status=execution.get("Status"),
                          result=outcome, would_checkpoint=client.updates)
    report.seconds = time.perf_counter() - started
    if missing_steps:
        report.notes.append(f"no recorded step named {', '.join(sorted(missing_steps))} to run again")
    _compare_rerun_steps(report, session, document, client)
    if session.divergence is not None:
        report.outcome = "diverged"
        report.divergence = session.divergence
        return report
    if session.stopped_at is not None or outcome.status == "PENDING":
        report.outcome = "stopped"
        report.stopped_at = session.stopped_at
        report.stop_reason = session.stop_reason or "the handler suspended (it waits on something the recording had not completed)"
        return report
    missing = session.missing() if outcome.status in ("SUCCEEDED", "FAILED") else []
    if missing:
        op = missing[0]
        report.outcome = "diverged"
        report.divergence = Divergence(
            "missing", op["Id"], _identity(op), None, session.last_site,
            f"the recording has {describe(_identity(op))} (operation {op['Id'][:12]}) and "
            f"{len(missing) - 1} more after it that the code no longer reaches; it ended with "
            f"{outcome.status} after its last recorded operation",
        )
        return report
    _compare_outcome(report, execution, outcome)
    return report


def _compare_rerun_steps(report: ReplayReport, session: ReplaySession, document: dict[str, Any], client: ReplayClient) -> None:
    recorded = {op["Id"]: op for op in document["Operations"]}
    for op_id in sorted(session.rerun_steps, key=session.order.index):
        before, now = recorded[op_id], client.operations.get(op_id, {})
        label = before.get("Name") or op_id[:12]
        if now.get("Status") not in TERMINAL:
            report.notes.append(f"step {label} was not reached again")
            continue
        old = (before.get("StepDetails") or {}).get("Result")
        new = (now.get("StepDetails") or {}).get("Result")
        if now.get("Status") != before.get("Status"):
            report.notes.append(f"step {label} ran again and ended {now.get('Status')} (recorded {before.get('Status')})")
        elif _json_or_text(old) != _json_or_text(new):
            report.notes.append(f"step {label} ran again: its result differs from the recorded one: {display_value(new or 'null')}")
        else:
            report.notes.append(f"step {label} ran again: same result as recorded")


def _compare_outcome(report: ReplayReport, execution: dict[str, Any], outcome: Outcome) -> None:
    status = execution.get("Status")
    if status not in CLOSED:
        report.notes.append(f"the recording is {status}; the code finished with {outcome.status} (it would go on from here)")
        return
    if outcome.status != status:
        report.notes.append(f"recorded {status}, the code now ends {outcome.status}")
    elif status == "SUCCEEDED" and _json_or_text(outcome.result) != _json_or_text(execution.get("Result")):
        report.notes.append("the result differs from the recorded result")


def _json_or_text(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


def format_pass(op: dict[str, Any], site: Site | None, width: int = 60) -> str:
    """One line per recorded operation the replay passes."""
    kind = op["Type"].lower()
    sub = op.get("SubType")
    label = f"{kind}" + (f"/{sub}" if sub and sub.lower() != kind else "")
    value = _recorded_value(op)
    text = f"  {label:<22} {op.get('Name') or '-':<24} {op['Status']:<10}"
    if value:
        text += f" {value if len(value) <= width else value[: width - 1] + '…'}"
    if site is not None:
        text += f"   ({site.short()})"
    return text


def _recorded_value(op: dict[str, Any]) -> str:
    for key in ("StepDetails", "CallbackDetails", "ContextDetails", "ChainedInvokeDetails"):
        details = op.get(key) or {}
        if details.get("Error"):
            error = details["Error"]
            return f"error {error.get('ErrorType')}: {error.get('ErrorMessage')}"
        if details.get("Result") is not None:
            return display_value(str(details["Result"]))
    return ""


def display_value(text: str) -> str:
    """A recorded payload for people: the SDK's typed envelope ({"t":..., "v":...})
    decoded back to plain values, shown as JSON (raw text when it is not that)."""
    try:
        value = EXTENDED_TYPES_SERDES.deserialize(text, SerDesContext())
    except Exception:
        return text
    try:
        return json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def print_stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
