-- Function versions and aliases. A version is an immutable snapshot of a function's
-- code (a zip, base64, in ``code``) and settings (``config``, JSON), numbered 1, 2, 3...
-- per function; ``code`` is emptied (``removed_ms`` set) once no execution, alias or
-- newer-version rule keeps it. An execution records the version it runs on
-- (``executions.version``; NULL: a function served without published versions).

CREATE TABLE IF NOT EXISTS function_versions (
    function_name TEXT NOT NULL,
    version BIGINT NOT NULL,
    code_sha256 TEXT NOT NULL,
    code_size BIGINT NOT NULL,
    config TEXT NOT NULL,
    description TEXT NOT NULL,
    code TEXT,
    created_ms BIGINT NOT NULL,
    removed_ms BIGINT,
    PRIMARY KEY (function_name, version));

CREATE TABLE IF NOT EXISTS function_aliases (
    function_name TEXT NOT NULL,
    alias TEXT NOT NULL,
    version BIGINT NOT NULL,
    description TEXT NOT NULL,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (function_name, alias));

ALTER TABLE executions ADD COLUMN version BIGINT;

CREATE INDEX IF NOT EXISTS executions_open_version ON executions (function_name, version) WHERE end_ms IS NULL;
