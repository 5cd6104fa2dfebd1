"""Log records from a runtime process's lines: the runtime interface client's Text and
JSON formats, and raw output."""

from __future__ import annotations

from perdure.logs import record_from_runtime_line

ARN = "arn:aws:lambda:us-east-1:000000000000:function:F:$LATEST/durable-execution/x/y"


def test_a_text_line_keeps_its_time_request_and_level() -> None:
    record = record_from_runtime_line(ARN, "req-1", "stdout", "2026-12-07T10:00:00.123Z\treq-9\tWARN\tlow on disk\nsecond line")
    assert record.level == "WARN" and record.request_id == "req-9"
    assert record.body["timestamp"] == "2026-12-07T10:00:00.123Z"
    assert record.body["message"] == "low on disk\nsecond line"
    assert record.body["durableExecutionArn"] == ARN


def test_a_json_line_keeps_its_fields() -> None:
    line = '{"timestamp":"2026-12-07T10:00:00.000Z","level":"DEBUG","requestId":"req-2","message":"m","operationId":"op1","operationName":"charge"}'
    record = record_from_runtime_line(ARN, "req-1", "stdout", line)
    assert (record.level, record.request_id, record.operation_id, record.operation_name) == ("DEBUG", "req-2", "op1", "charge")


def test_start_up_lines_and_raw_output_belong_to_the_invocation() -> None:
    init = record_from_runtime_line(ARN, "req-1", "stdout", "2026-12-07T10:00:00.000Z\t-\tERROR\tInit Error {}")
    assert init.request_id == "req-1" and init.level == "ERROR"
    raw = record_from_runtime_line(ARN, "req-1", "stderr", "node: something went wrong")
    assert (raw.level, raw.request_id, raw.body["stream"]) == ("ERROR", "req-1", "stderr")
    assert record_from_runtime_line(ARN, "req-1", "stdout", "plain").level == "INFO"
