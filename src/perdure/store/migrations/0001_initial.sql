-- Executions with their operations, history events, timers and callback ids.
-- {without_rowid} is " WITHOUT ROWID" on SQLite (operations and events clustered on
-- their keys: one b-tree written per change instead of two) and empty on PostgreSQL.

CREATE TABLE IF NOT EXISTS executions (
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
    UNIQUE (function_name, name));

CREATE INDEX IF NOT EXISTS executions_ready ON executions (ready_ms) WHERE invocation_id IS NULL;
CREATE INDEX IF NOT EXISTS executions_running ON executions (invocation_deadline_ms) WHERE invocation_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS executions_by_function ON executions (function_name, start_ms, arn);
CREATE INDEX IF NOT EXISTS executions_closed ON executions (end_ms) WHERE end_ms IS NOT NULL;

CREATE TABLE IF NOT EXISTS operations (
    arn TEXT NOT NULL,
    id TEXT NOT NULL,
    pos BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    terminal INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (arn, id)){without_rowid};

CREATE TABLE IF NOT EXISTS events (
    arn TEXT NOT NULL,
    event_id INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (arn, event_id)){without_rowid};

CREATE TABLE IF NOT EXISTS timers (
    arn TEXT NOT NULL,
    op_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    due_ms BIGINT NOT NULL,
    PRIMARY KEY (arn, op_id, kind));

CREATE INDEX IF NOT EXISTS timers_due ON timers (due_ms);

CREATE TABLE IF NOT EXISTS callbacks (
    callback_id TEXT PRIMARY KEY,
    arn TEXT NOT NULL,
    op_id TEXT NOT NULL);

CREATE INDEX IF NOT EXISTS callbacks_arn ON callbacks (arn);
