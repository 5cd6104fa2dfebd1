-- A running invocation's lease: the runtime that claimed it renews it every few
-- seconds; once it runs out the invocation is recorded as failed and run again elsewhere.

ALTER TABLE executions ADD COLUMN lease_expires_ms BIGINT;

CREATE INDEX IF NOT EXISTS executions_lease ON executions (lease_expires_ms) WHERE invocation_id IS NOT NULL;
