"""The SQL both backends run. Placeholders are ``?``; the PostgreSQL backend rewrites
them. Kept portable: INSERT ... ON CONFLICT, no backend-specific functions. The one
storage hint that differs, ``{without_rowid}`` in SCHEMA, is filled in per backend
(SQLite clusters operations and events on their keys: one b-tree written per change
instead of two)."""

from __future__ import annotations

from perdure.store.base import EXECUTION_COLUMNS

SCHEMA_VERSION = 1

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS perdure_meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS executions (
        arn TEXT PRIMARY KEY,
        function_name TEXT NOT NULL,
        name TEXT NOT NULL,
        status TEXT NOT NULL,
        input TEXT,
        result TEXT,
        error TEXT,
        start_ms BIGINT NOT NULL,
        end_ms BIGINT,
        timeout_s BIGINT,
        retention_days INTEGER NOT NULL,
        next_event_id INTEGER NOT NULL,
        op_seq BIGINT NOT NULL,
        op_pos BIGINT NOT NULL,
        token_seq BIGINT NOT NULL,
        token TEXT,
        invocation_id TEXT,
        invocation_start_ms BIGINT,
        invocation_deadline_ms BIGINT,
        owner TEXT,
        seen_seq BIGINT NOT NULL,
        ready_ms BIGINT,
        failures INTEGER NOT NULL,
        last_client_token TEXT,
        last_token TEXT,
        last_response TEXT,
        closing TEXT,
        parent_arn TEXT,
        parent_op TEXT,
        plain INTEGER NOT NULL DEFAULT 0,
        UNIQUE (function_name, name))""",
    "CREATE INDEX IF NOT EXISTS executions_ready ON executions (ready_ms) WHERE invocation_id IS NULL",
    "CREATE INDEX IF NOT EXISTS executions_running ON executions (invocation_deadline_ms) WHERE invocation_id IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS executions_by_function ON executions (function_name, start_ms, arn)",
    "CREATE INDEX IF NOT EXISTS executions_closed ON executions (end_ms) WHERE end_ms IS NOT NULL",
    """CREATE TABLE IF NOT EXISTS operations (
        arn TEXT NOT NULL,
        id TEXT NOT NULL,
        pos BIGINT NOT NULL,
        seq BIGINT NOT NULL,
        terminal INTEGER NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (arn, id)){without_rowid}""",
    """CREATE TABLE IF NOT EXISTS events (
        arn TEXT NOT NULL,
        event_id INTEGER NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (arn, event_id)){without_rowid}""",
    """CREATE TABLE IF NOT EXISTS timers (
        arn TEXT NOT NULL,
        op_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        due_ms BIGINT NOT NULL,
        PRIMARY KEY (arn, op_id, kind))""",
    "CREATE INDEX IF NOT EXISTS timers_due ON timers (due_ms)",
    """CREATE TABLE IF NOT EXISTS callbacks (
        callback_id TEXT PRIMARY KEY,
        arn TEXT NOT NULL,
        op_id TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS callbacks_arn ON callbacks (arn)",
]

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
    "DELETE FROM executions WHERE arn = ?",
]
EXPIRED_EXECUTIONS = (
    "SELECT arn FROM executions WHERE end_ms IS NOT NULL "
    "AND end_ms + retention_days * 86400000 <= ? ORDER BY end_ms LIMIT ?"
)
LIST_EXECUTIONS = f"SELECT {_COLS} FROM executions WHERE function_name = ? AND plain = 0"

GET_OPERATIONS = "SELECT id, body FROM operations WHERE arn = ? AND id IN ({marks})"
PUT_OPERATION = (
    "INSERT INTO operations (arn, id, pos, seq, terminal, body) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (arn, id) DO UPDATE SET seq = excluded.seq, terminal = excluded.terminal, "
    "body = excluded.body"
)
OPERATIONS_PAGE = "SELECT pos, body FROM operations WHERE arn = ? AND pos > ? ORDER BY pos LIMIT ?"
OPERATIONS_SINCE = "SELECT body FROM operations WHERE arn = ? AND seq > ? ORDER BY pos"
OPEN_OPERATIONS = "SELECT body FROM operations WHERE arn = ? AND terminal = 0 ORDER BY pos"

APPEND_EVENT = "INSERT INTO events (arn, event_id, body) VALUES (?, ?, ?)"
EVENTS_AFTER = "SELECT body FROM events WHERE arn = ? AND event_id > ? ORDER BY event_id LIMIT ?"
EVENTS_BEFORE = "SELECT body FROM events WHERE arn = ? AND event_id < ? ORDER BY event_id DESC LIMIT ?"

SET_TIMER = (
    "INSERT INTO timers (arn, op_id, kind, due_ms) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (arn, op_id, kind) DO UPDATE SET due_ms = excluded.due_ms"
)
DELETE_TIMERS = "DELETE FROM timers WHERE arn = ?"
DUE_TIMERS = "SELECT arn, op_id, kind, due_ms FROM timers WHERE due_ms <= ? ORDER BY due_ms LIMIT ?"
NEXT_TIMER = "SELECT MIN(due_ms) FROM timers"
NEXT_READY = "SELECT MIN(ready_ms) FROM executions WHERE invocation_id IS NULL AND ready_ms IS NOT NULL"
NEXT_DEADLINE = "SELECT MIN(invocation_deadline_ms) FROM executions WHERE invocation_id IS NOT NULL"

PUT_CALLBACK = "INSERT INTO callbacks (callback_id, arn, op_id) VALUES (?, ?, ?)"
GET_CALLBACK = "SELECT arn, op_id FROM callbacks WHERE callback_id = ?"

READY_EXECUTIONS = (
    f"SELECT {_COLS} FROM executions WHERE invocation_id IS NULL AND ready_ms IS NOT NULL "
    "AND ready_ms <= ?"
)
READY_FUNCTIONS = (
    "SELECT DISTINCT function_name FROM executions WHERE invocation_id IS NULL "
    "AND ready_ms IS NOT NULL AND ready_ms <= ?"
)
EXPIRED_LEASES = (
    f"SELECT {_COLS} FROM executions WHERE invocation_id IS NOT NULL "
    "AND invocation_deadline_ms <= ? ORDER BY invocation_deadline_ms LIMIT ?"
)
