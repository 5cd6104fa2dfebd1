"""The Transaction implementation both backends share: the same SQL over DB-API."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from perdure.store import sql
from perdure.store.base import ExecutionRow, SchemaError, Timer, iter_chunks
from perdure.store.counts import StatsTransactionMixin
from perdure.store.log_rows import LogsTransactionMixin
from perdure.store.version_rows import ANY_VERSION, VersionQueries

TERMINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT", "STOPPED"})
# The function filter of the ready-work queries, written so that no index serves it:
# given ``function_name = ?`` SQLite (which keeps no statistics) walks the function's
# index, every execution the function ever had (43 ms with 50,000 closed ones), instead
# of the index of ready executions (0.03 ms). EXPLAIN QUERY PLAN: docs/architecture.md.
_UNINDEXED_FUNCTION = "function_name || ''"


@dataclass(frozen=True)
class Dialect:
    """What differs between the backends' SQL.

    ``rewrite`` adapts the ``?`` placeholders to the driver; ``skip_locked`` is appended
    to the queries that claim rows, with ``{table}`` naming the table whose rows are
    locked (``FOR UPDATE OF {table} SKIP LOCKED`` on PostgreSQL; SQLite needs nothing
    because a write transaction already holds the whole database); ``row_lock`` is
    appended to reads of one execution; ``without_rowid`` fills the schema's hint.
    """

    rewrite: Callable[[str], str]
    skip_locked: str = ""
    row_lock: str = ""
    without_rowid: str = ""


def migrate(cur: Any, dialect: Dialect, where: str, up_to: int = sql.SCHEMA_VERSION) -> int:
    """Bring the schema up to date (or to version ``up_to``) inside the caller's
    transaction; returns the version found. Raises ``SchemaError`` if the database is
    newer than this code."""
    cur.execute(sql.CREATE_META)
    cur.execute(sql.GET_SCHEMA_VERSION)
    row = cur.fetchone()
    found = int(row[0]) if row else 0
    if found > sql.SCHEMA_VERSION:
        raise SchemaError(
            f"{where} has schema version {found}, newer than this perdure's "
            f"({sql.SCHEMA_VERSION}): upgrade perdure"
        )
    for version, _name, statements in sql.migrations():
        if found < version <= up_to:
            for statement in statements:
                cur.execute(statement.replace("{without_rowid}", dialect.without_rowid))
            cur.execute(dialect.rewrite(sql.SET_SCHEMA_VERSION), (str(version),))
    return found


class SqlTransaction(VersionQueries, LogsTransactionMixin, StatsTransactionMixin):
    """Implements ``perdure.store.base.Transaction`` on a DB-API cursor."""

    def __init__(self, cursor: Any, dialect: Dialect) -> None:
        self._cur = cursor
        self._q = dialect.rewrite
        self._skip_locked = dialect.skip_locked
        self._row_lock = dialect.row_lock

    def _claiming(self, query: str, table: str = "executions") -> str:
        return query + self._skip_locked.format(table=table)

    def _marks(self, items: Sequence[Any]) -> str:
        return ", ".join("?" for _ in items)

    def _exec(self, query: str, params: Sequence[Any] = ()) -> Any:
        self._cur.execute(self._q(query), params)
        return self._cur

    def _one(self, query: str, params: Sequence[Any] = ()) -> Any:
        return self._exec(query, params).fetchone()

    def get_execution(self, arn: str, *, lock: bool = True) -> ExecutionRow | None:
        row = self._one(sql.GET_EXECUTION + (self._row_lock if lock else ""), (arn,))
        return ExecutionRow.from_row(row) if row else None

    def get_execution_and_operations(
        self, arn: str, ids: Sequence[str]
    ) -> tuple[ExecutionRow | None, dict[str, dict[str, Any]]]:
        row = self.get_execution(arn)
        return row, (self.get_operations(arn, ids) if row is not None and ids else {})

    def get_execution_and_open_operations(self, arn: str) -> tuple[ExecutionRow | None, list[dict[str, Any]]]:
        row = self.get_execution(arn)
        return row, (self.open_operations(arn) if row is not None else [])

    def find_execution(self, function_name: str, name: str) -> ExecutionRow | None:
        row = self._one(sql.FIND_EXECUTION + self._row_lock, (function_name, name))
        return ExecutionRow.from_row(row) if row else None

    def insert_execution(self, row: ExecutionRow) -> bool:
        return bool(self._exec(sql.INSERT_EXECUTION, row.values()).rowcount == 1)

    def update_execution(self, arn: str, changes: dict[str, Any]) -> None:
        if not changes:
            return
        self._exec(f"UPDATE executions SET {sql.assignments(changes)} WHERE arn = ?", (*changes.values(), arn))

    def delete_execution(self, arn: str) -> None:
        self._one(sql.GET_EXECUTION + self._row_lock, (arn,))  # the execution first, as everywhere
        for query in sql.DELETE_EXECUTION:
            self._exec(query, (arn,))

    def delete_executions(self, arns: Sequence[str], *, locked: bool = False) -> None:
        if not arns:
            return
        marks = self._marks(arns)
        if not locked:  # the executions first, as everywhere
            self._exec(sql.LOCK_EXECUTIONS.format(marks=marks) + self._row_lock, arns).fetchall()
        # Then one statement per table for the whole batch.
        for query in sql.DELETE_EXECUTION:
            self._exec(query.replace("arn = ?", f"arn IN ({marks})"), arns)

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
        query += self._status_and_time(params, statuses, started_after_ms, started_before_ms)
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

    def _status_and_time(
        self, params: list[Any], statuses: Sequence[str], after_ms: int | None, before_ms: int | None
    ) -> str:
        """The ``AND ...`` filters on status and start time listings share (appends their
        parameters to ``params``)."""
        where = ""
        if statuses:
            where += f" AND status IN ({self._marks(statuses)})"
            params.extend(statuses)
        if after_ms is not None:
            where += " AND start_ms >= ?"
            params.append(after_ms)
        if before_ms is not None:
            where += " AND start_ms < ?"
            params.append(before_ms)
        return where

    def search_executions(
        self,
        functions: Sequence[str] | None,
        statuses: Sequence[str],
        started_after_ms: int | None,
        started_before_ms: int | None,
        text: str | None,
        after_key: tuple[int, str] | None,
        limit: int,
    ) -> list[ExecutionRow]:
        query = sql.SEARCH_EXECUTIONS
        params: list[Any] = []
        if functions is not None:
            if not functions:
                return []
            query += f" AND function_name IN ({self._marks(functions)})"
            params.extend(functions)
        query += self._status_and_time(params, statuses, started_after_ms, started_before_ms)
        if text:
            pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            query += " AND (name LIKE ? ESCAPE '\\' OR arn LIKE ? ESCAPE '\\')"
            params.extend([pattern, pattern])
        if after_key is not None:
            query += " AND (start_ms < ? OR (start_ms = ? AND arn < ?))"
            params.extend([after_key[0], after_key[0], after_key[1]])
        query += " ORDER BY start_ms DESC, arn DESC LIMIT ?"
        params.append(limit)
        return [ExecutionRow.from_row(r) for r in self._exec(query, params).fetchall()]

    def count_executions(self) -> list[tuple[str, str, int]]:
        return [(f, s, int(n)) for f, s, n in self._exec(sql.COUNT_EXECUTIONS).fetchall()]

    def expired_executions(self, now_ms: int, limit: int) -> list[str]:
        return [r[0] for r in self._exec(self._claiming(sql.EXPIRED_EXECUTIONS), (now_ms, limit)).fetchall()]

    def get_operations(self, arn: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        unique = list(dict.fromkeys(ids))
        for chunk in iter_chunks(unique, 500):
            query = sql.GET_OPERATIONS.format(marks=self._marks(chunk))
            for op_id, body in self._exec(query, (arn, *chunk)).fetchall():
                found[op_id] = json.loads(body)
        return found

    def put_operation(self, arn: str, op: dict[str, Any], pos: int, seq: int) -> None:
        terminal = 1 if op["Status"] in TERMINAL_STATUSES else 0
        self._exec(sql.PUT_OPERATION, (arn, op["Id"], pos, seq, terminal, json.dumps(op)))

    def update_execution_and_read_operations(
        self, arn: str, changes: dict[str, Any], limit: int
    ) -> list[tuple[int, dict[str, Any]]]:
        self.update_execution(arn, changes)
        return self.operations_page(arn, 0, limit)

    def operations_page(self, arn: str, after_pos: int, limit: int) -> list[tuple[int, dict[str, Any]]]:
        rows = self._exec(sql.OPERATIONS_PAGE, (arn, after_pos, limit)).fetchall()
        return [(pos, json.loads(body)) for pos, body in rows]

    def operations_changed_since(self, arn: str, seq: int) -> list[dict[str, Any]]:
        return [json.loads(b) for (b,) in self._exec(sql.OPERATIONS_SINCE, (arn, seq)).fetchall()]

    def open_operations(self, arn: str) -> list[dict[str, Any]]:
        return [json.loads(b) for (b,) in self._exec(sql.OPEN_OPERATIONS, (arn,)).fetchall()]

    def append_events(self, arn: str, events: Sequence[dict[str, Any]]) -> None:
        # One statement for a checkpoint's events (a step's start and end are two):
        # on PostgreSQL each statement costs a round trip and about 0.1 ms of CPU on
        # each side, whatever it carries.
        for chunk in iter_chunks(list(events), 300):
            params = [value for e in chunk for value in (arn, e["EventId"], json.dumps(e))]
            self._exec(sql.append_events(len(chunk)), params)

    def write_changes(
        self, arn: str, operations: Sequence[tuple[dict[str, Any], int, int]],
        events: Sequence[dict[str, Any]], changes: dict[str, Any],
    ) -> None:
        for op, pos, seq in operations:
            self.put_operation(arn, op, pos, seq)
        self.append_events(arn, events)
        self.update_execution(arn, changes)

    def events_page(self, arn: str, after_id: int, limit: int, reverse: bool) -> list[dict[str, Any]]:
        query = sql.EVENTS_BEFORE if reverse else sql.EVENTS_AFTER
        return [json.loads(b) for (b,) in self._exec(query, (arn, after_id, limit)).fetchall()]

    def set_timer(self, timer: Timer) -> None:
        self._exec(sql.SET_TIMER, (timer.arn, timer.op_id, timer.kind, timer.due_ms))

    def delete_timers(self, arn: str, op_id: str | None = None, kind: str | None = None) -> None:
        self._exec(*sql.delete_timers(arn, op_id, kind))

    def execution_timers(self, arn: str) -> list[Timer]:
        return [Timer(*r) for r in self._exec(sql.EXECUTION_TIMERS, (arn,)).fetchall()]

    def due_timers(self, now_ms: int, limit: int) -> list[Timer]:
        locked = self._exec(self._claiming(sql.DUE_TIMER_EXECUTIONS, "e"), (now_ms, limit)).fetchall()
        arns = list(dict.fromkeys(r[0] for r in locked))
        if not arns:
            return []
        query = sql.DUE_TIMERS.format(marks=self._marks(arns))
        return [Timer(*r) for r in self._exec(query, (now_ms, *arns)).fetchall()]

    def anything_due(self, now_ms: int) -> bool:
        return bool(self._one(sql.ANYTHING_DUE, (now_ms, now_ms, now_ms))[0])

    def next_wakeup_ms(self, functions: Sequence[str] | None) -> int | None:
        params: list[Any] = []
        only = ""
        if functions is not None:
            only = f" AND {_UNINDEXED_FUNCTION} IN ({self._marks(functions)})" if functions else " AND 1 = 0"
            params = list(functions)
        due = self._one(sql.NEXT_WAKEUP.format(functions=only), params)[0]
        return None if due is None else int(due)

    def put_callback(self, callback_id: str, arn: str, op_id: str) -> None:
        self._exec(sql.PUT_CALLBACK, (callback_id, arn, op_id))

    def get_callback(self, callback_id: str) -> tuple[str, str] | None:
        row = self._one(sql.GET_CALLBACK, (callback_id,))
        return (row[0], row[1]) if row else None

    def ready_executions(
        self, now_ms: int, functions: Sequence[str] | None, limit: int, version: int | None = ANY_VERSION
    ) -> list[ExecutionRow]:
        query = sql.READY_EXECUTIONS
        params: list[Any] = [now_ms]
        if functions is not None:
            if not functions:  # hosts nothing
                return []
            query += f" AND {_UNINDEXED_FUNCTION} IN ({self._marks(functions)})"
            params.extend(functions)
        if version is None:
            query += " AND version IS NULL"
        elif version != ANY_VERSION:
            query += " AND version = ?"
            params.append(version)
        query = self._claiming(query + " ORDER BY ready_ms LIMIT ?")
        params.append(limit)
        return [ExecutionRow.from_row(r) for r in self._exec(query, params).fetchall()]

    def ready_functions(self, now_ms: int) -> list[str]:
        return [r[0] for r in self._exec(sql.READY_FUNCTIONS, (now_ms,)).fetchall()]

    def expired_leases(self, now_ms: int, limit: int) -> list[ExecutionRow]:
        rows = self._exec(self._claiming(sql.EXPIRED_LEASES), (now_ms, now_ms, limit)).fetchall()
        return [ExecutionRow.from_row(r) for r in rows]

    def renew_leases(self, owner: str, invocation_ids: Sequence[str], until_ms: int) -> list[str]:
        held: list[str] = []
        for chunk in iter_chunks(list(invocation_ids), 500):
            query = sql.RENEW_LEASES.format(marks=self._marks(chunk))
            held.extend(r[0] for r in self._exec(query, (until_ms, owner, *chunk)).fetchall())
        return held
