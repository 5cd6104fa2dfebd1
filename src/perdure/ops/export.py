"""One execution as a single, self-contained JSON document (``perdure executions export``).

The document is what ``perdure replay`` reads, what a bug report attaches and what a
test keeps as a golden recording. Its shape is versioned (``FORMAT``/``VERSION``) and
described in ``docs/debugging.md``; readers refuse versions they do not know.
Timestamps are epoch milliseconds throughout, payloads are the JSON text the handler
checkpointed, operations are in the order they were created.
"""

from __future__ import annotations

import json
from typing import Any

from perdure.core import Engine, public_operation, require_execution
from perdure.errors import InvalidParameterValue
from perdure.logs import execution_rows
from perdure.store import ExecutionRow

FORMAT = "perdure.execution"
VERSION = 1
PAGE = 1000


def execution_document(row: ExecutionRow) -> dict[str, Any]:
    out: dict[str, Any] = {
        "DurableExecutionArn": row.arn,
        "DurableExecutionName": row.name,
        "FunctionName": row.function_name,
        "Status": row.status,
        "StartTimestamp": row.start_ms,
        "InputPayload": row.input,
    }
    if row.end_ms is not None:
        out["EndTimestamp"] = row.end_ms
    if row.result is not None:
        out["Result"] = row.result
    if row.error is not None:
        out["Error"] = json.loads(row.error)
    if row.timeout_s:
        out["ExecutionTimeout"] = row.timeout_s
    if row.parent_arn:
        out["ParentExecutionArn"] = row.parent_arn
    return out


def export_execution(engine: Engine, arn: str) -> dict[str, Any]:
    """The execution, every operation (with payloads) and the whole history, read in
    one transaction so the three agree."""
    with engine.store.read() as tx:
        row = require_execution(tx, arn, lock=False)
        operations: list[dict[str, Any]] = []
        after = 0
        while True:
            page = tx.operations_page(arn, after, PAGE)
            operations.extend(public_operation(op) for _, op in page)
            if len(page) < PAGE:
                break
            after = page[-1][0]
        events: list[dict[str, Any]] = []
        after = 0
        while True:
            batch = tx.events_page(arn, after, PAGE, False)
            events.extend(batch)
            if len(batch) < PAGE:
                break
            after = int(batch[-1]["EventId"])
    logs = [dict(r.body, replay=r.replay) if r.replay else r.body for r in execution_rows(engine.store, arn)]
    return {
        "Format": FORMAT,
        "Version": VERSION,
        "ExportedTimestamp": engine.clock.now_ms(),
        "Execution": execution_document(row),
        "Operations": operations,
        "History": events,
        "Logs": logs,
    }


def check_document(document: Any, where: str = "document") -> dict[str, Any]:
    """Validate an export read back from a file; raises ``InvalidParameterValue``."""
    if not isinstance(document, dict) or document.get("Format") != FORMAT:
        raise InvalidParameterValue(f"{where} is not a perdure execution export (no \"Format\": \"{FORMAT}\")")
    version = document.get("Version")
    if version != VERSION:
        raise InvalidParameterValue(
            f"{where} has export version {version!r}; this perdure reads version {VERSION}"
        )
    execution = document.get("Execution")
    operations = document.get("Operations")
    if not isinstance(execution, dict) or not isinstance(execution.get("DurableExecutionArn"), str):
        raise InvalidParameterValue(f"{where}: Execution.DurableExecutionArn is missing")
    if not isinstance(operations, list) or not all(isinstance(op, dict) and "Id" in op and "Type" in op for op in operations):
        raise InvalidParameterValue(f"{where}: Operations must be a list of operations")
    if not isinstance(document.get("History", []), list):
        raise InvalidParameterValue(f"{where}: History must be a list of events")
    return document
