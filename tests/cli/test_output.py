"""cli/output.py: how events are summarised for people."""

from __future__ import annotations

from perdure.cli.output import event_details


def test_event_details_summary() -> None:
    event = {
        "EventType": "StepSucceeded",
        "StepSucceededDetails": {
            "Result": {"Truncated": False},
            "RetryDetails": {"CurrentAttempt": 2},
        },
    }
    assert event_details(event) == "RetryDetails.CurrentAttempt=2"
    event = {
        "EventType": "ExecutionSucceeded",
        "ExecutionSucceededDetails": {"Result": {"Payload": "x" * 200, "Truncated": True}},
    }
    summary = event_details(event)
    assert summary.startswith("Result(truncated)=xxx")
    assert summary.endswith("…") and len(summary) < 120
    assert event_details({"EventType": "WaitCancelled", "WaitCancelledDetails": {}}) == ""
