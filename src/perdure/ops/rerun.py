"""Rerun an execution from one of its operations (``perdure executions rerun``).

A rerun is a new execution of the same function whose store starts out holding the
recorded results of the operations that succeeded before the chosen operation. The
SDK replays those (their code does not run again) and runs everything from the chosen
operation on for real. The new execution's history carries the reused operations'
events, each marked ``ReusedFrom`` (source execution and event), and its
``ExecutionStarted`` is followed by nothing else until the first new invocation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from perdure.core import MAX_INPUT_BYTES, Batch, Engine, public_operation, require_execution
from perdure.errors import InvalidParameterValue, ResourceConflict
from perdure.store import ExecutionRow

# Events a reused operation brings along; invocation and execution events stay behind.
_SKIPPED_EVENTS = ("InvocationCompleted", "ExecutionStarted", "ExecutionSucceeded", "ExecutionFailed",
                   "ExecutionTimedOut", "ExecutionStopped", "ExecutionPaused", "ExecutionResumed")


@dataclass(frozen=True)
class Rerun:
    row: ExecutionRow
    source_arn: str
    from_operation: dict[str, Any] | None
    reused: list[dict[str, Any]]


def find_operation(operations: list[dict[str, Any]], ref: str) -> dict[str, Any]:
    """An operation by id, by name (the first created with it) or by a unique id prefix."""
    for op in operations:
        if op["Id"] == ref:
            return op
    for op in operations:
        if op.get("Name") == ref and op["Type"] != "EXECUTION":
            return op
    matches = [op for op in operations if op["Id"].startswith(ref) and op["Type"] != "EXECUTION"]
    if len(matches) == 1:
        return matches[0]
    names = sorted({op["Name"] for op in operations if op.get("Name") and op["Type"] != "EXECUTION"})
    if matches:
        raise InvalidParameterValue(f"Operation {ref!r} is ambiguous: {len(matches)} operation ids start with it")
    raise InvalidParameterValue(
        f"No operation {ref!r} in this execution; operation names: {', '.join(names) or '(none)'}"
    )


def reusable(operations: list[dict[str, Any]], target: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The operations a rerun from ``target`` keeps: succeeded ones created before it,
    except the contexts that enclose it (they run again, their earlier children replay)."""
    by_id = {op["Id"]: op for op in operations}
    ancestors: set[str] = set()
    if target is not None:
        parent = target.get("ParentId")
        while parent and parent in by_id:
            ancestors.add(parent)
            parent = by_id[parent].get("ParentId")
    kept: list[dict[str, Any]] = []
    kept_ids: set[str] = set()
    for op in operations:
        if target is not None and op["Id"] == target["Id"]:
            break
        if op["Type"] == "EXECUTION" or op["Status"] != "SUCCEEDED" or op["Id"] in ancestors:
            continue
        parent = op.get("ParentId")
        if parent and parent in by_id and by_id[parent]["Type"] != "EXECUTION" and parent not in kept_ids and parent not in ancestors:
            continue  # inside a context that runs again from scratch
        kept.append(op)
        kept_ids.add(op["Id"])
    return kept


def rerun_execution(
    engine: Engine, arn: str, from_operation: str | None = None, *,
    input_payload: str | None = None, name: str | None = None, version: str | None = None,
) -> Rerun:
    """Start a new execution that reuses the recorded results before ``from_operation``
    (all succeeded operations when None) and runs the rest. ``input_payload`` replaces
    the recorded input when given. ``version`` (a number, an alias or ``$LATEST``, the
    default: the newest) is the function version the rerun is pinned to."""
    if input_payload is not None and len(input_payload.encode()) > MAX_INPUT_BYTES:
        raise InvalidParameterValue(f"Input payload is larger than {MAX_INPUT_BYTES} bytes")
    with engine.transaction() as tx:
        source = require_execution(tx, arn, lock=False)
        resolved = engine.versions.resolve(tx, f"{source.function_name}:{version}" if version else source.function_name)
        spec = resolved.spec
        if not spec.durable:
            raise InvalidParameterValue(f"{source.function_name} is not a durable function: there is nothing to reuse")
        operations = [public_operation(op) for _, op in tx.operations_page(arn, 0, 1 << 30)]
        target = find_operation(operations, from_operation) if from_operation else None
        if target is not None and target["Type"] == "EXECUTION":
            raise InvalidParameterValue("Rerun from the execution itself reuses nothing: start it again instead")
        reused = reusable(operations, target)
        reused_by_id = {op["Id"]: op for op in reused}
        events = [e for e in tx.events_page(arn, 0, 1 << 30, False)
                  if e.get("Id") in reused_by_id and e["EventType"] not in _SKIPPED_EVENTS]
        now = engine.clock.now_ms()
        new_input = source.input if input_payload is None else input_payload
        row = engine.new_execution(tx, spec, new_input, name, now, version=resolved.version)
        if row is None:
            raise ResourceConflict(f"Durable execution {name} of {source.function_name} already exists")
        row = tx.get_execution(row.arn) or row
        batch = Batch(tx, row, now, engine.notify)
        for op in reused:
            batch.put(dict(op))
        for event in events:
            key = f"{event['EventType']}Details"
            details = dict(event.get(key) or {})
            details["ReusedFrom"] = {"DurableExecutionArn": arn, "EventId": event["EventId"]}
            batch.event(event["EventType"], reused_by_id[event["Id"]], details)
        batch.flush()
    return Rerun(row=row, source_arn=arn, from_operation=target, reused=reused)


def rerun_summary(rerun: Rerun) -> dict[str, Any]:
    """The API's (and the CLI's) answer to a rerun."""
    out: dict[str, Any] = {
        "DurableExecutionArn": rerun.row.arn,
        "DurableExecutionName": rerun.row.name,
        "SourceExecutionArn": rerun.source_arn,
        "ReusedOperations": [
            {k: op[k] for k in ("Id", "Type", "Name", "ParentId") if k in op} for op in rerun.reused
        ],
    }
    if rerun.from_operation is not None:
        out["FromOperation"] = {k: rerun.from_operation[k] for k in ("Id", "Type", "Name") if k in rerun.from_operation}
    return out
