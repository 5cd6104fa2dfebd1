-- Pause/Resume: a paused execution keeps completing waits and callbacks but is not
-- invoked. ``pause`` holds the request (time, reason, whether the execution timeout is
-- paused and how much of it was left) while the status is PAUSING or PAUSED.

ALTER TABLE executions ADD COLUMN pause TEXT;
