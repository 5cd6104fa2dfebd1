"""The Transaction implementation both backends share: the same SQL over DB-API."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from perdure.store import sql
from perdure.store.base import EXECUTION_COLUMNS, ExecutionRow, Timer, iter_chunks

TERMINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT", "STOPPED"})


class SqlTransaction:
    """Implements ``perdure.store.base.Transaction`` on a DB-API cursor.

    ``rewrite`` adapts the ``?`` placeholders to the driver; ``lock`` is appended to
    the queries that claim rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite
    needs nothing because a write transaction already holds the whole database).
    """

    def __init__(self, cursor: Any, rewrite: Callable[[str], str], lock: str, row_lock: str) -> None:
        self._cur = cursor
        self._q = rewrite
        self._lock = lock
        self._row_lock = row_lock

    def _exec(self, query: str, params: Sequence[Any] = ()) -> Any:
        self._cur.execute(self._q(query), params)
        return self._cur

    def _one(self, query: str, params: Sequence[Any] = ()) -> Any:
        return self._exec(query, params).fetchone()

    def get_execution(self, arn: str) -> ExecutionRow | None:
        row = self._one(sql.GET_EXECUTION + self._row_lock, (arn,))
        return ExecutionRow.from_row(row) if row else None

    def find_execution(self, function_name: str, name: str) -> ExecutionRow | None:
        row = self._one(sql.FIND_EXECUTION + self._row_lock, (function_name, name))
        return ExecutionRow.from_row(row) if row else None

    def insert_execution(self, row: ExecutionRow) -> bool:
        return bool(self._exec(sql.INSERT_EXECUTION, row.values()).rowcount == 1)

    def update_execution(self, arn: str, changes: dict[str, Any]) -> None:
        if not changes:
            return
        unknown = set(changes) - set(EXECUTION_COLUMNS)
        if unknown:
            raise KeyError(f"unknown execution columns {sorted(unknown)}")
        assignments = ", ".join(f"{column} = ?" for column in changes)
        self._exec(f"UPDATE executions SET {assignments} WHERE arn = ?", (*changes.values(), arn))

    def delete_execution(self, arn: str) -> None:
        for query in sql.DELETE_EXECUTION:
            self._exec(query, (arn,))

    def list_executions(
        self,
        function_name: str,
        statuses: Sequence[str],
        started_after_ms: int | None,
        started_before_ms: int | None,
        name: str | None,
        after_key: tuple[int, str] | None,
        limit: int,
        reverse: bool,
    ) -> list[ExecutionRow]:
        query = sql.LIST_EXECUTIONS
        params: list[Any] = [function_name]
        if statuses:
            query += f" AND status IN ({', '.join('?' for _ in statuses)})"
            params.extend(statuses)
        if started_after_ms is not None:
            query += " AND start_ms >= ?"
            params.append(started_after_ms)
        if started_before_ms is not None:
            query += " AND start_ms < ?"
            params.append(started_before_ms)
        if name is not None:
            query += " AND name = ?"
            params.append(name)
        if after_key is not None:
            cmp = "<" if reverse else ">"
            query += f" AND (start_ms {cmp} ? OR (start_ms = ? AND arn {cmp} ?))"
            params.extend([after_key[0], after_key[0], after_key[1]])
        order = "DESC" if reverse else "ASC"
        query += f" ORDER BY start_ms {order}, arn {order} LIMIT ?"
        params.append(limit)
        return [ExecutionRow.from_row(r) for r in self._exec(query, params).fetchall()]

    def expired_executions(self, now_ms: int, limit: int) -> list[str]:
        return [r[0] for r in self._exec(sql.EXPIRED_EXECUTIONS, (now_ms, limit)).fetchall()]

    def get_operations(self, arn: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        unique = list(dict.fromkeys(ids))
        for chunk in iter_chunks(unique, 500):
            query = sql.GET_OPERATIONS.format(marks=", ".join("?" for _ in chunk))
            for op_id, body in self._exec(query, (arn, *chunk)).fetchall():
                found[op_id] = json.loads(body)
        return found

    def put_operation(self, arn: str, op: dict[str, Any], pos: int, seq: int) -> None:
        terminal = 1 if op["Status"] in TERMINAL_STATUSES else 0
        self._exec(sql.PUT_OPERATION, (arn, op["Id"], pos, seq, terminal, json.dumps(op)))

    def operations_page(self, arn: str, after_pos: int, limit: int) -> list[tuple[int, dict[str, Any]]]:
        rows = self._exec(sql.OPERATIONS_PAGE, (arn, after_pos, limit)).fetchall()
        return [(pos, json.loads(body)) for pos, body in rows]

    def operations_changed_since(self, arn: str, seq: int) -> list[dict[str, Any]]:
        return [json.loads(b) for (b,) in self._exec(sql.OPERATIONS_SINCE, (arn, seq)).fetchall()]

    def open_operations(self, arn: str) -> list[dict[str, Any]]:
        return [json.loads(b) for (b,) in self._exec(sql.OPEN_OPERATIONS, (arn,)).fetchall()]

    def append_events(self, arn: str, events: Sequence[dict[str, Any]]) -> None:
        rows = [(arn, e["EventId"], json.dumps(e)) for e in events]
        if rows:
            self._cur.executemany(self._q(sql.APPEND_EVENT), rows)

    def events_page(self, arn: str, after_id: int, limit: int, reverse: bool) -> list[dict[str, Any]]:
        query = sql.EVENTS_BEFORE if reverse else sql.EVENTS_AFTER
        return [json.loads(b) for (b,) in self._exec(query, (arn, after_id, limit)).fetchall()]

    def set_timer(self, timer: Timer) -> None:
        self._exec(sql.SET_TIMER, (timer.arn, timer.op_id, timer.kind, timer.due_ms))

    def delete_timers(self, arn: str, op_id: str | None = None, kind: str | None = None) -> None:
        query = sql.DELETE_TIMERS
        params: list[Any] = [arn]
        if op_id is not None:
            query += " AND op_id = ?"
            params.append(op_id)
        if kind is not None:
            query += " AND kind = ?"
            params.append(kind)
        self._exec(query, params)

    def due_timers(self, now_ms: int, limit: int) -> list[Timer]:
        rows = self._exec(sql.DUE_TIMERS + self._lock, (now_ms, limit)).fetchall()
        return [Timer(*r) for r in rows]

    def next_wakeup_ms(self, functions: Sequence[str] | None) -> int | None:
        candidates = [self._one(sql.NEXT_TIMER)[0], self._one(sql.NEXT_DEADLINE)[0]]
        query, params = sql.NEXT_READY, []
        if functions is not None:
            query += f" AND function_name IN ({', '.join('?' for _ in functions)})"
            params = list(functions)
        candidates.append(self._one(query, params)[0])
        present = [int(c) for c in candidates if c is not None]
        return min(present) if present else None

    def put_callback(self, callback_id: str, arn: str, op_id: str) -> None:
        self._exec(sql.PUT_CALLBACK, (callback_id, arn, op_id))

    def get_callback(self, callback_id: str) -> tuple[str, str] | None:
        row = self._one(sql.GET_CALLBACK, (callback_id,))
        return (row[0], row[1]) if row else None

    def ready_executions(self, now_ms: int, functions: Sequence[str] | None, limit: int) -> list[ExecutionRow]:
        query, params = sql.READY_EXECUTIONS, [now_ms]
        if functions is not None:
            query += f" AND function_name IN ({', '.join('?' for _ in functions)})"
            params.extend(functions)
        query += " ORDER BY ready_ms LIMIT ?" + self._lock
        params.append(limit)
        return [ExecutionRow.from_row(r) for r in self._exec(query, params).fetchall()]

    def ready_functions(self, now_ms: int) -> list[str]:
        return [r[0] for r in self._exec(sql.READY_FUNCTIONS, (now_ms,)).fetchall()]

    def expired_leases(self, now_ms: int, limit: int) -> list[ExecutionRow]:
        rows = self._exec(sql.EXPIRED_LEASES + self._lock, (now_ms, limit)).fetchall()
        return [ExecutionRow.from_row(r) for r in rows]
