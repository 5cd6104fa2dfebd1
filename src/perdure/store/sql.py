"""The SQL both backends run. Placeholders are ``?``; the PostgreSQL backend rewrites
them. Kept portable: INSERT ... ON CONFLICT, no backend-specific functions. The schema
is built by the numbered migrations in ``perdure/store/migrations``; the one storage
hint that differs, ``{without_rowid}``, is filled in per backend (SQLite clusters
operations and events on their keys: one b-tree written per change instead of two).

Row locks are added per backend too: ``SqlTransaction`` appends ``FOR UPDATE [OF t]
SKIP LOCKED`` (PostgreSQL) or nothing (SQLite, where a write transaction holds the
whole database) to the queries that claim rows."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import Any

from perdure.store.base import EXECUTION_COLUMNS

CREATE_META = "CREATE TABLE IF NOT EXISTS perdure_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"


@cache
def migrations() -> list[tuple[int, str, list[str]]]:
    """(version, name, statements) of every migration, in order."""
    found = []
    for entry in resources.files("perdure.store").joinpath("migrations").iterdir():
        match = re.fullmatch(r"(\d{4})_(\w+)\.sql", entry.name)
        if match is None:
            continue
        text = "\n".join(line for line in entry.read_text().splitlines() if not line.lstrip().startswith("--"))
        statements = [s.strip() for s in text.split(";") if s.strip()]
        found.append((int(match.group(1)), match.group(2), statements))
    found.sort()
    # 1..n without gaps: a database at version k has exactly migrations 1..k applied.
    assert [v for v, _, _ in found] == list(range(1, len(found) + 1)), "migrations must be numbered 1..n"
    return found


SCHEMA_VERSION = len(migrations())

_COLS = ", ".join(EXECUTION_COLUMNS)

GET_SCHEMA_VERSION = "SELECT value FROM perdure_meta WHERE key = 'schema_version'"
SET_SCHEMA_VERSION = (
    "INSERT INTO perdure_meta (key, value) VALUES ('schema_version', ?) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)

GET_EXECUTION = f"SELECT {_COLS} FROM executions WHERE arn = ?"
FIND_EXECUTION = f"SELECT {_COLS} FROM executions WHERE function_name = ? AND name = ?"
INSERT_EXECUTION = (
    f"INSERT INTO executions ({_COLS}) VALUES ({', '.join('?' for _ in EXECUTION_COLUMNS)}) "
    "ON CONFLICT (function_name, name) DO NOTHING"
)
DELETE_EXECUTION = [
    "DELETE FROM operations WHERE arn = ?",
    "DELETE FROM events WHERE arn = ?",
    "DELETE FROM timers WHERE arn = ?",
    "DELETE FROM callbacks WHERE arn = ?",
    "DELETE FROM logs WHERE arn = ?",
    "DELETE FROM executions WHERE arn = ?",
]
LOCK_EXECUTIONS = "SELECT arn FROM executions WHERE arn IN ({marks}) ORDER BY arn"
EXPIRED_EXECUTIONS = (
    "SELECT arn FROM executions WHERE end_ms IS NOT NULL "
    "AND end_ms + retention_days * 86400000 <= ? ORDER BY end_ms LIMIT ?"
)  # + skip-locked
LIST_EXECUTIONS = f"SELECT {_COLS} FROM executions WHERE function_name = ? AND plain = 0"

SEARCH_EXECUTIONS = f"SELECT {_COLS} FROM executions WHERE plain = 0"
COUNT_EXECUTIONS = (
    "SELECT function_name, status, COUNT(*) FROM executions WHERE plain = 0 "
    "GROUP BY function_name, status"
)

GET_OPERATIONS = "SELECT id, body FROM operations WHERE arn = ? AND id IN ({marks})"


@cache
def put_operations(rows: int) -> str:
    """Insert or replace ``rows`` operations in one statement."""
    return (
        "INSERT INTO operations (arn, id, pos, seq, terminal, body) VALUES "
        + ", ".join(["(?, ?, ?, ?, ?, ?)"] * rows)
        + " ON CONFLICT (arn, id) DO UPDATE SET seq = excluded.seq, terminal = excluded.terminal, body = excluded.body"
    )


PUT_OPERATION = put_operations(1)
OPERATIONS_PAGE = "SELECT pos, body FROM operations WHERE arn = ? AND pos > ? ORDER BY pos LIMIT ?"
OPERATIONS_SINCE = "SELECT body FROM operations WHERE arn = ? AND seq > ? ORDER BY pos"
OPEN_OPERATIONS = "SELECT body FROM operations WHERE arn = ? AND terminal = 0 ORDER BY pos"


@cache
def append_events(rows: int) -> str:
    """INSERT of ``rows`` events in one statement."""
    return "INSERT INTO events (arn, event_id, body) VALUES " + ", ".join(["(?, ?, ?)"] * rows)


EVENTS_AFTER = "SELECT body FROM events WHERE arn = ? AND event_id > ? ORDER BY event_id LIMIT ?"
EVENTS_BEFORE = "SELECT body FROM events WHERE arn = ? AND event_id < ? ORDER BY event_id DESC LIMIT ?"

SET_TIMER = (
    "INSERT INTO timers (arn, op_id, kind, due_ms) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (arn, op_id, kind) DO UPDATE SET due_ms = excluded.due_ms"
)
DELETE_TIMERS = "DELETE FROM timers WHERE arn = ?"
EXECUTION_TIMERS = "SELECT arn, op_id, kind, due_ms FROM timers WHERE arn = ? ORDER BY due_ms, op_id, kind"
# Due timers are taken in two steps: lock (skipping locked ones) the executions that
# have some, then read those executions' due timers again. The second read sees any
# change committed meanwhile (a timer moved by a heartbeat, or fired elsewhere), and
# nothing changes them after: timers only change while their execution is locked.
DUE_TIMER_EXECUTIONS = (
    "SELECT e.arn FROM timers t JOIN executions e ON e.arn = t.arn "
    "WHERE t.due_ms <= ? ORDER BY t.due_ms LIMIT ?"
)  # + skip-locked OF e
DUE_TIMERS = "SELECT arn, op_id, kind, due_ms FROM timers WHERE due_ms <= ? AND arn IN ({marks}) ORDER BY due_ms"
NEXT_WAKEUP = (
    "SELECT MIN(due) FROM ("
    "SELECT MIN(due_ms) AS due FROM timers "
    "UNION ALL SELECT MIN(invocation_deadline_ms) FROM executions WHERE invocation_id IS NOT NULL "
    "UNION ALL SELECT MIN(lease_expires_ms) FROM executions WHERE invocation_id IS NOT NULL "
    "UNION ALL SELECT MIN(ready_ms) FROM executions WHERE invocation_id IS NULL AND ready_ms IS NOT NULL "
    "AND status = 'RUNNING'{functions}"
    ") AS wakeups"
)

# Whether fire_due has anything to do, read without a lock (each EXISTS walks an index).
ANYTHING_DUE = (
    "SELECT EXISTS (SELECT 1 FROM timers WHERE due_ms <= ?) "
    "OR EXISTS (SELECT 1 FROM executions WHERE invocation_id IS NOT NULL AND invocation_deadline_ms <= ?) "
    "OR EXISTS (SELECT 1 FROM executions WHERE invocation_id IS NOT NULL AND lease_expires_ms <= ?)"
)

PUT_CALLBACK = "INSERT INTO callbacks (callback_id, arn, op_id) VALUES (?, ?, ?)"
GET_CALLBACK = "SELECT arn, op_id FROM callbacks WHERE callback_id = ?"

READY_EXECUTIONS = (
    f"SELECT {_COLS} FROM executions WHERE invocation_id IS NULL AND ready_ms IS NOT NULL "
    "AND ready_ms <= ? AND status = 'RUNNING'"
)  # + AND function_name IN (...) ORDER BY ready_ms LIMIT ? + skip-locked
READY_FUNCTIONS = (
    "SELECT DISTINCT function_name FROM executions WHERE invocation_id IS NULL "
    "AND ready_ms IS NOT NULL AND ready_ms <= ? AND status = 'RUNNING'"
)
EXPIRED_LEASES = (
    f"SELECT {_COLS} FROM executions WHERE invocation_id IS NOT NULL "
    "AND (invocation_deadline_ms <= ? OR lease_expires_ms <= ?) LIMIT ?"
)  # + skip-locked
RENEW_LEASES = (
    "UPDATE executions SET lease_expires_ms = ? WHERE owner = ? AND invocation_id IN ({marks}) "
    "RETURNING invocation_id"
)


def delete_timers(arn: str, op_id: str | None, kind: str | None) -> tuple[str, list[Any]]:
    """The DELETE of an execution's timers (of one operation, of one kind, when given)."""
    given = [(column, value) for column, value in (("op_id", op_id), ("kind", kind)) if value is not None]
    return DELETE_TIMERS + "".join(f" AND {column} = ?" for column, _ in given), [arn, *(v for _, v in given)]


def assignments(changes: dict[str, Any]) -> str:
    """``column = ?, ...`` for an UPDATE of executions; refuses unknown columns."""
    unknown = set(changes) - set(EXECUTION_COLUMNS)
    if unknown:
        raise KeyError(f"unknown execution columns {sorted(unknown)}")
    return ", ".join(f"{column} = ?" for column in changes)
