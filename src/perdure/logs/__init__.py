"""What handlers log, per execution: captured in worker processes (``capture``), written
in batches (``sink``), read as CloudWatch Logs presents it (``reader``, with filter
patterns in ``filters``). The engine knows nothing of it.

Sits above ``core`` in the order but needs only ``store`` and ``deploy``;
``ops``, ``run``, the console and the HTTP APIs read and write through it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from perdure import lazy_exports

if TYPE_CHECKING:
    from perdure.logs.capture import capture_invocation, install_capture
    from perdure.logs.filters import FilterPatternError, parse
    from perdure.logs.reader import (
        LogsError,
        describe_groups,
        describe_streams,
        execution_rows,
        filter_events,
        function_for_group,
        get_events,
        tail_text,
    )
    from perdure.logs.runtime_lines import record_from_runtime_line
    from perdure.logs.sink import LogSink, recover_orphan_spools, recover_worker_logs, spool_path

DOORS = {
    "filters": ["FilterPatternError", "parse"],
    "capture": ["capture_invocation", "install_capture"],
    "reader": ["LogsError", "describe_groups", "describe_streams", "execution_rows", "filter_events", "function_for_group", "get_events", "tail_text"],
    "runtime_lines": ["record_from_runtime_line"],
    "sink": ["LogSink", "recover_orphan_spools", "recover_worker_logs", "spool_path"],
}
__all__ = [
    "FilterPatternError",
    "LogSink",
    "LogsError",
    "capture_invocation",
    "describe_groups",
    "describe_streams",
    "execution_rows",
    "filter_events",
    "function_for_group",
    "get_events",
    "install_capture",
    "parse",
    "record_from_runtime_line",
    "recover_orphan_spools",
    "recover_worker_logs",
    "spool_path",
    "tail_text",
]
__getattr__ = lazy_exports(__name__, DOORS)
