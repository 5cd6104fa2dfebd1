"""Counts read for metrics (mixed into ``SqlTransaction``; the same SQL on both backends)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

READY_DEPTH = (
    "SELECT function_name, COUNT(*) FROM executions WHERE invocation_id IS NULL AND ready_ms IS NOT NULL "
    "AND ready_ms <= ? AND status = 'RUNNING' GROUP BY function_name"
)


class StatsTransactionMixin:
    def _exec(self, query: str, params: Sequence[Any] = ()) -> Any:  # provided by SqlTransaction
        raise NotImplementedError

    def ready_depth(self, now_ms: int) -> dict[str, int]:
        """Executions due for an invocation and not being invoked, by function."""
        return {r[0]: int(r[1]) for r in self._exec(READY_DEPTH, (now_ms,)).fetchall()}
