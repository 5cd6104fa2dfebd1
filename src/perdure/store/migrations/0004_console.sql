-- The console lists executions of every function newest first: an index in start order
-- lets that query read one page instead of sorting the whole table.

CREATE INDEX IF NOT EXISTS executions_by_start ON executions (start_ms, arn);
