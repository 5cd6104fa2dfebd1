"""The order workflow tested with perdure.testing: a 7-day wait, three failed payment
attempts retried with backoff and a one-day approval timeout, all without waiting.

    pytest examples/orders                                  # in process, virtual clock
    pytest examples/orders --perdure-url http://127.0.0.1:9000   # against `perdure serve`
"""

from __future__ import annotations

from pathlib import Path

TEMPLATE = Path(__file__).with_name("template.yaml")


def test_order_ships_once_approved(perdure_env):
    env = perdure_env(TEMPLATE)
    run = env.start("OrderWorkflow", {"id": 7, "amount": 42, "failures": 3})

    callback_id = run.wait_for_callback("approval")  # after the 7 days and the retries
    env.send_callback_success(callback_id, {"approved": True})

    assert run.result() == {"order": 7, "items": 0, "status": "shipped", "paid": 42}
    charge = run.operation("charge")
    assert charge["StepDetails"]["Attempt"] == 3  # three failed attempts before this one
    assert len(run.events("StepFailed", "charge")) == 3
    assert run.operation("cooling-off")["Status"] == "SUCCEEDED"


def test_order_is_cancelled_when_nobody_approves(perdure_env):
    env = perdure_env(TEMPLATE)
    run = env.start("OrderWorkflow", {"id": 8, "amount": 5, "failures": 3})

    result = run.result()  # the approval's one-day timeout passes

    assert result["status"] == "cancelled"
    assert run.operation("approval")["Status"] == "TIMED_OUT"
    assert [e["EventType"] for e in run.history()][-3:] == ["StepSucceeded", "InvocationCompleted", "ExecutionSucceeded"]
