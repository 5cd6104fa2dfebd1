"""Log records in the store: the rows, their SQL, and the transaction methods that
write and read them (mixed into ``SqlTransaction``, the same SQL on both backends).

A record is numbered per execution (``seq``). Writers are the worker that runs the
execution's invocation (one at a time), so numbering rarely races; when it does (a
timed-out invocation still writing), an insert that finds its numbers taken numbers
the rest again after the winner's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

LOG_COLUMNS = (
    "arn", "seq", "function_name", "ts_ms", "level", "request_id", "operation_id",
    "operation_name", "replay", "body",
)
_COLS = ", ".join(LOG_COLUMNS)
ROWS_PER_INSERT = 200  # 10 columns each: far below SQLite's 32,766 parameters

LOG_STATS = "SELECT COALESCE(MAX(seq), 0), COUNT(*) FROM logs WHERE arn = ?"
INSERT_LOGS = f"INSERT INTO logs ({_COLS}) VALUES {{rows}} ON CONFLICT (arn, seq) DO NOTHING"
EXECUTION_LOGS = f"SELECT {_COLS} FROM logs WHERE arn = ? AND seq > ?"
FUNCTION_LOGS = f"SELECT {_COLS} FROM logs WHERE function_name = ? AND ts_ms >= ? AND ts_ms < ?"
LOG_STREAMS = (
    "SELECT l.arn, e.name, e.start_ms, MIN(l.ts_ms), MAX(l.ts_ms), COUNT(*) FROM logs l "
    "JOIN executions e ON e.arn = l.arn WHERE l.function_name = ? GROUP BY l.arn, e.name, e.start_ms"
)
LOG_FUNCTIONS = "SELECT function_name, COUNT(*) FROM logs GROUP BY function_name"
DELETE_LOGS = "DELETE FROM logs WHERE arn = ?"


@dataclass(frozen=True)
class NewLogRecord:
    """A record as the capture made it, before it is numbered."""

    ts_ms: int
    level: str
    request_id: str | None
    operation_id: str | None
    operation_name: str | None
    replay: bool
    body: dict[str, Any]


@dataclass(frozen=True)
class LogRow:
    """A stored record; ``body`` is the JSON object Lambda's JSON log format writes."""

    arn: str
    seq: int
    function_name: str
    ts_ms: int
    level: str
    request_id: str | None
    operation_id: str | None
    operation_name: str | None
    replay: bool
    body: dict[str, Any]

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> LogRow:
        return cls(
            row[0], int(row[1]), row[2], int(row[3]), row[4], row[5], row[6], row[7],
            bool(row[8]), json.loads(row[9]),
        )


@dataclass(frozen=True)
class LogStream:
    arn: str
    execution_name: str
    start_ms: int
    first_ms: int
    last_ms: int
    records: int


class LogsTransactionMixin:
    """The log methods of ``SqlTransaction`` (see ``perdure.store.base.Transaction``)."""

    def _exec(self, query: str, params: Sequence[Any] = ()) -> Any:  # provided by SqlTransaction
        raise NotImplementedError

    def append_logs(
        self, arn: str, function_name: str, records: Sequence[NewLogRecord], limit: int, marker: NewLogRecord
    ) -> tuple[int, int]:
        """Store records after the execution's last; past ``limit`` records in all, the
        rest are dropped and ``marker`` is written once in their place. Returns
        (records written, records dropped)."""
        pending = list(records)
        written = 0
        for _ in range(5):  # a concurrent writer took our numbers: number again
            last, count = self._exec(LOG_STATS, (arn,)).fetchone()
            last, count = int(last), int(count)
            room = max(0, limit - 1 - count)
            batch = pending[:room]
            if len(pending) > room and count < limit:
                batch.append(marker)
            if not batch:
                return written, len(pending)
            inserted = 0
            for start in range(0, len(batch), ROWS_PER_INSERT):
                chunk = batch[start : start + ROWS_PER_INSERT]
                params: list[Any] = []
                for i, r in enumerate(chunk, start=last + 1 + start):
                    params.extend((
                        arn, i, function_name, r.ts_ms, r.level, r.request_id, r.operation_id,
                        r.operation_name, 1 if r.replay else 0, json.dumps(r.body, default=str),
                    ))
                rows = ", ".join("(" + ", ".join("?" for _ in LOG_COLUMNS) + ")" for _ in chunk)
                inserted += max(0, self._exec(INSERT_LOGS.format(rows=rows), params).rowcount)
            if inserted == len(batch):
                dropped = len(pending) - (len(batch) - (1 if batch[-1] is marker else 0))
                return written + inserted, dropped
            # Numbers were taken: what went in is unknown per row, so the next round
            # starts again after the highest number now stored (rare: only a zombie races).
            written += inserted
            pending = pending[inserted:]
        return written, len(pending)

    def execution_logs(self, arn: str, after_seq: int, limit: int) -> list[LogRow]:
        """An execution's records in order, after number ``after_seq``."""
        rows = self._exec(EXECUTION_LOGS + " ORDER BY seq LIMIT ?", (arn, after_seq, limit)).fetchall()
        return [LogRow.from_row(r) for r in rows]

    def function_logs(
        self,
        function_name: str,
        start_ms: int,
        end_ms: int,
        arns: Sequence[str] | None,
        after: tuple[int, str, int] | None,
        limit: int,
    ) -> list[LogRow]:
        """A function's records with ``start_ms <= ts_ms < end_ms`` ordered by (ts_ms,
        arn, seq), after the key ``after``; only these executions' when ``arns``."""
        query = FUNCTION_LOGS
        params: list[Any] = [function_name, start_ms, end_ms]
        if arns is not None:
            if not arns:
                return []
            query += f" AND arn IN ({', '.join('?' for _ in arns)})"
            params.extend(arns)
        if after is not None:
            query += " AND (ts_ms > ? OR (ts_ms = ? AND (arn > ? OR (arn = ? AND seq > ?))))"
            params.extend([after[0], after[0], after[1], after[1], after[2]])
        query += " ORDER BY ts_ms, arn, seq LIMIT ?"
        params.append(limit)
        return [LogRow.from_row(r) for r in self._exec(query, params).fetchall()]

    def log_streams(self, function_name: str) -> list[LogStream]:
        """One stream per execution of the function that logged something."""
        rows = self._exec(LOG_STREAMS, (function_name,)).fetchall()
        return [LogStream(r[0], r[1], int(r[2]), int(r[3]), int(r[4]), int(r[5])) for r in rows]

    def log_functions(self) -> dict[str, int]:
        """Functions with stored records, and how many."""
        return {r[0]: int(r[1]) for r in self._exec(LOG_FUNCTIONS).fetchall()}
