"""What people do to executions beyond the Lambda API, through the engine's public
methods only: find them by name or id prefix, see what they wait on and advance it,
skip a timer, export, rerun from an operation, and the console's read-only views.

May import the packages below it (``store`` to ``logs``); ``run``, the console,
the HTTP routes and the CLI call it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from perdure import lazy_exports

if TYPE_CHECKING:
    from perdure.ops.export import check_document, export_execution
    from perdure.ops.find import AmbiguousReference, list_all, resolve
    from perdure.ops.inspection import (
        ExecutionQuery,
        all_events,
        execution_counts,
        operations,
        search_executions,
    )
    from perdure.ops.rerun import rerun_execution, rerun_summary
    from perdure.ops.skip_timer import skip_next_timer
    from perdure.ops.waits import (
        ADVANCED_EVENT,
        advance,
        advance_when_pending,
        callback_id,
        pending,
    )

DOORS = {
    "waits": ["ADVANCED_EVENT", "advance", "advance_when_pending", "callback_id", "pending"],
    "find": ["AmbiguousReference", "list_all", "resolve"],
    "inspection": ["ExecutionQuery", "all_events", "execution_counts", "operations", "search_executions"],
    "export": ["check_document", "export_execution"],
    "rerun": ["rerun_execution", "rerun_summary"],
    "skip_timer": ["skip_next_timer"],
}
__all__ = [
    "ADVANCED_EVENT",
    "AmbiguousReference",
    "ExecutionQuery",
    "advance",
    "advance_when_pending",
    "all_events",
    "callback_id",
    "check_document",
    "execution_counts",
    "export_execution",
    "list_all",
    "operations",
    "pending",
    "rerun_execution",
    "rerun_summary",
    "resolve",
    "search_executions",
    "skip_next_timer",
]
__getattr__ = lazy_exports(__name__, DOORS)
