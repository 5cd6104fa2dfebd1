-- What handlers logged, per execution: one row per record (SDK logger, Python logging,
-- stdout/stderr lines), numbered per execution. ``body`` is the record as Lambda's JSON
-- log format writes it; the other columns are what readers filter on. Rows are written
-- in batches by the worker, bounded per execution (a truncation marker ends a log that
-- reached its bound) and deleted with their execution.

CREATE TABLE IF NOT EXISTS logs (
    arn TEXT NOT NULL,
    seq BIGINT NOT NULL,
    function_name TEXT NOT NULL,
    ts_ms BIGINT NOT NULL,
    level TEXT NOT NULL,
    request_id TEXT,
    operation_id TEXT,
    operation_name TEXT,
    replay INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (arn, seq)){without_rowid};

CREATE INDEX IF NOT EXISTS logs_by_function ON logs (function_name, ts_ms);
