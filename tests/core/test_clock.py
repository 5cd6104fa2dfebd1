"""One clock for everything that works on an engine's executions: under
``perdure.testing``'s virtual clock a seven-day wait is seven virtual days for the
engine, the console, ``pending``/``advance`` alike, and two test environments, each
with its own clock, can be open in one process.

The execution these tests run waits a day, opens a callback, then starts a seven-day
wait: once the test environment has skipped the day, the week's wait is due seven
days after virtual now, a day after real now."""

from __future__ import annotations

import http.client
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import uvicorn

from perdure.console import Console
from perdure.deploy.functions import FunctionSpec
from perdure.ops import advance, pending
from perdure.testing import TestEnv, TestExecution
from tests.support import free_port

DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS
SLACK_MS = 60_000  # generous bound on the real time a test takes

HANDLER = '''
from aws_durable_execution_sdk_python import DurableContext, durable_execution
from aws_durable_execution_sdk_python.config import Duration


@durable_execution
def handler(event, context):
    context.wait(Duration.from_days(1), name="day")
    done = context.create_callback(name="done")
    context.wait(Duration.from_days(7), name="week")
    return {"done": done.result()}
'''


@pytest.fixture
def functions(tmp_path: Path) -> dict[str, FunctionSpec]:
    code = tmp_path / "code"
    code.mkdir()
    (code / "clock_week_handler.py").write_text(HANDLER)
    spec = FunctionSpec(name="Week", handler="clock_week_handler.handler", code_uri=code, execution_timeout_s=30 * 86400)
    return {"Week": spec}


def virtual_now(env: TestEnv) -> int:
    assert env.clock is not None
    return int(time.time() * 1000) + env.clock.offset_ms


def real_now() -> int:
    return int(time.time() * 1000)


def reach_the_week(env: TestEnv) -> TestExecution:
    """Start an execution and run it (skipping the day) until the week's wait is on."""
    run = env.start("Week")
    run.wait_for_callback("done")
    return run


def the_week(run: TestExecution) -> tuple[dict[str, Any], int, int]:
    """The week's wait operation, when it started and when it is due (from the history)."""
    [started] = run.events("WaitStarted", "week")
    return run.operation("week"), int(started["EventTimestamp"]), int(started["WaitStartedDetails"]["ScheduledEndTimestamp"])


@pytest.fixture
def env(functions: dict[str, FunctionSpec]) -> Iterator[TestEnv]:
    with TestEnv(functions) as environment:
        yield environment


def test_the_week_is_due_seven_days_after_virtual_now(env: TestEnv) -> None:
    before = real_now()
    run = reach_the_week(env)
    assert env.clock is not None and DAY_MS - SLACK_MS < env.clock.offset_ms <= DAY_MS
    op, started_ms, due = the_week(run)
    assert due == started_ms + WEEK_MS
    assert op["WaitDetails"]["ScheduledEndTimestamp"] == due
    assert before + DAY_MS <= started_ms <= virtual_now(env)
    assert WEEK_MS - SLACK_MS < due - virtual_now(env) <= WEEK_MS


def test_pending_shows_the_wait_due_in_virtual_time(env: TestEnv) -> None:
    run = reach_the_week(env)
    op, _, due = the_week(run)
    state = pending(env.engine, run.arn)
    assert state["Status"] == "RUNNING" and state["Invoking"] is False
    assert state["Waits"] == [{"Id": op["Id"], "Name": "week", "ScheduledEndTimestamp": due, "DueTimestamp": due}]
    assert [c["Name"] for c in state["Callbacks"]] == ["done"]
    assert WEEK_MS - SLACK_MS < due - virtual_now(env) <= WEEK_MS


def test_advance_fires_the_wait_at_virtual_now(env: TestEnv) -> None:
    run = reach_the_week(env)
    op, started_ms, due = the_week(run)
    before = virtual_now(env)
    advanced = advance(env.engine, run.arn, "week")
    after = virtual_now(env)
    assert advanced == [{"Id": op["Id"], "Name": "week", "Timer": "wait", "DueTimestamp": due}]
    [marked] = run.events("TimerAdvanced", "week")
    assert before <= marked["EventTimestamp"] <= after
    assert marked["TimerAdvancedDetails"]["Timer"] == "wait"
    assert marked["TimerAdvancedDetails"]["ScheduledTimestamp"] == due
    [succeeded] = run.events("WaitSucceeded", "week")
    assert before <= succeeded["EventTimestamp"] <= after
    assert succeeded["WaitSucceededDetails"] == {"Duration": 7 * 86400}
    week = run.operation("week")
    assert week["Status"] == "SUCCEEDED" and before <= week["EndTimestamp"] <= after
    assert started_ms <= week["EndTimestamp"] < due  # early, as advancing is meant to be
    # The execution goes on from there; the virtual clock never had to skip the week.
    env.send_callback_success(run.wait_for_callback("done"), "ok")
    assert run.outcome()["Status"] == "SUCCEEDED"
    assert env.clock is not None and env.clock.offset_ms <= DAY_MS


# -- the console --------------------------------------------------------------------------


@pytest.fixture
def console(env: TestEnv) -> Iterator[int]:
    """The console of ``env``'s engine, served on a port of its own."""
    app = Console(env.engine, plugins=[])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


def get(port: int, path: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read().decode()
    conn.close()
    assert response.status == 200, body
    return body


def test_console_measures_running_time_to_virtual_now(env: TestEnv, console: int) -> None:
    run = reach_the_week(env)
    op, started_ms, due = the_week(run)
    arn = quote(run.arn, safe="")

    # The execution started at real now and virtual now is a day later: it has been
    # running a day, on its own page and in the list.
    page = get(console, f"/execution?arn={arn}")
    assert "<dt>Duration</dt><dd>1 d 0 h</dd>" in page
    listing = get(console, "/executions")
    assert listing.count(" so far</span>") == 1
    assert '<td class="num">1 d 0 h<span class="muted"> so far</span></td>' in listing

    # The operations page shows when the week's wait started and is due: a week after
    # virtual now.
    details = get(console, f"/execution/operations?arn={arn}")
    week = re.search(r'<code>(\w+)</code></td><td>wait</td><td[^>]*>week</td>.*?data-ms="(\d+)".*?due <time [^>]*data-ms="(\d+)"', details, re.S)
    assert week is not None
    assert (week.group(1), int(week.group(2)), int(week.group(3))) == (op["Id"][:12], started_ms, due)
    assert WEEK_MS - SLACK_MS < due - virtual_now(env) <= WEEK_MS


# -- two environments ---------------------------------------------------------------------


def test_two_environments_each_keep_their_own_now(functions: dict[str, FunctionSpec]) -> None:
    with TestEnv(functions) as still, TestEnv(functions) as moving:
        assert still.clock is not None and moving.clock is not None and still.clock is not moving.clock
        moved = reach_the_week(moving)
        assert DAY_MS - SLACK_MS < moving.clock.offset_ms <= DAY_MS
        assert still.clock.offset_ms == 0

        # An execution started in the other environment starts at its own (real) now.
        before = real_now()
        quiet = still.start("Week")
        assert before <= still.engine.get_execution(quiet.arn).start_ms <= real_now()

        # Each skips its own time: the second environment's day moves only its clock.
        quiet.wait_for_callback("done")
        assert DAY_MS - SLACK_MS < still.clock.offset_ms <= DAY_MS
        assert moving.clock.offset_ms <= DAY_MS
        [quiet_wait] = pending(still.engine, quiet.arn)["Waits"]
        assert WEEK_MS - SLACK_MS < quiet_wait["DueTimestamp"] - virtual_now(still) <= WEEK_MS
        _, _, due = the_week(moved)
        assert WEEK_MS - SLACK_MS < due - virtual_now(moving) <= WEEK_MS
        advanced = advance(moving.engine, moved.arn, "week")
        [marked] = moved.events("TimerAdvanced", "week")
        assert abs(marked["EventTimestamp"] - virtual_now(moving)) < SLACK_MS
        assert advanced[0]["DueTimestamp"] == due


class _Clock:
    """A clock the test moves by hand."""

    def __init__(self, now_ms: int) -> None:
        self.now = now_ms

    def now_ms(self) -> int:
        return self.now


def test_metrics_read_the_runtime_s_clock(tmp_path: Path) -> None:
    """A 7-day wait under a clock 30 days ahead of the system's: the ready gauge counts
    the execution once that clock passes the wait, and the timer lag is measured in it."""
    from prometheus_client.parser import text_string_to_metric_families

    from perdure import FunctionSpec, Runtime
    from perdure.core import Outcome
    from perdure.run import RuntimeMetrics

    clock = _Clock(int(time.time() * 1000) + 30 * DAY_MS)
    spec = FunctionSpec(name="Fn", handler="x.y", timeout_s=30, execution_timeout_s=30 * 86400)
    runtime = Runtime(f"sqlite:///{tmp_path / 'db.sqlite'}", {"Fn": spec}, processes=0, clock=clock)
    try:
        metrics = RuntimeMetrics(runtime)
        engine = runtime.engine
        row, _ = engine.start_execution("Fn", None)
        [invocation] = engine.claim(None, 1, "test")
        wait = {"Id": "w", "Type": "WAIT", "Action": "START", "Name": "week", "WaitOptions": {"WaitSeconds": 7 * 86400}}
        engine.checkpoint(row.arn, invocation.token, [wait], None)
        engine.complete_invocation(row.arn, invocation.invocation_id, Outcome("PENDING"))
        clock.now += 7 * DAY_MS + 60_000  # a minute past the wait, on this clock only
        assert engine.fire_due() == 1

        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(metrics.text().decode()) for s in family.samples
        }
        assert samples[("perdure_ready_executions", (("function", "Fn"),))] == 1
        assert samples[("perdure_timer_lag_seconds_sum", (("kind", "wait"),))] == pytest.approx(60, abs=1)
        assert samples[("perdure_executions_started_total", (("function", "Fn"),))] == 1
    finally:
        runtime.stop()
