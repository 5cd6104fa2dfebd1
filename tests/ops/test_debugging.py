"""Export, replay (in a debugger, divergence, --check), rerun and the testing kit, on
the order workflow of ``examples/orders``: recordings are made with the in-process
testing environment (real engine, real SQLite, the official SDK), edited handlers
are real files, and the CLI runs as a real process."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from perdure.ops.export import FORMAT, VERSION, check_document
from perdure.ops.rerun import rerun_execution
from perdure.testing import ExecutionFailed, TestEnv, TestExecution
from tests.support import ROOT, Serve

EXAMPLE = ROOT / "examples" / "orders"
TEMPLATE = EXAMPLE / "template.yaml"
ORDER = {"id": 7, "amount": 42, "failures": 3}


def perdure(*args: str, stdin: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "perdure", *args], input=stdin, capture_output=True, text=True,
        timeout=120, cwd=cwd, env={**os.environ, "PERDURE_LOG_LEVEL": "WARNING"},
    )


def record(env: TestEnv, payload: dict[str, Any] = ORDER, *, approve: bool = True) -> str:
    run = env.start("OrderWorkflow", payload)
    callback_id = run.wait_for_callback("approval")
    if approve:
        env.send_callback_success(callback_id, {"approved": True})
        run.result()
    return run.arn


def edited(tmp_path: Path, name: str, old: str, new: str) -> tuple[Path, int]:
    """A copy of the example with one edit; returns its template and the edit's line."""
    source = (EXAMPLE / "orders.py").read_text()
    assert old in source
    folder = tmp_path / name
    folder.mkdir()
    text = source.replace(old, new, 1)
    (folder / "orders.py").write_text(text)
    (folder / "template.yaml").write_text(TEMPLATE.read_text())
    first_new_line = new.strip().splitlines()[0].strip()
    line = next(i for i, t in enumerate(text.splitlines(), 1) if first_new_line in t)
    return folder / "template.yaml", line


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'recorded.db'}"


@pytest.fixture
def env(db: str) -> Iterator[TestEnv]:
    with TestEnv.from_template(TEMPLATE, db_url=db) as environment:
        yield environment


@pytest.fixture
def finished(env: TestEnv, tmp_path: Path) -> tuple[str, Path]:
    """A finished, approved order: its ARN and its export file."""
    arn = record(env)
    path = tmp_path / "run.json"
    path.write_text(json.dumps(env.export(arn)))
    return arn, path


def test_export_is_one_versioned_document(env: TestEnv) -> None:
    arn = record(env)
    document = check_document(json.loads(json.dumps(env.export(arn))))
    assert (document["Format"], document["Version"]) == (FORMAT, VERSION)
    assert document["Execution"]["Status"] == "SUCCEEDED"
    assert json.loads(document["Execution"]["InputPayload"]) == ORDER
    assert [op.get("Name") for op in document["Operations"]][1:] == ["reserve", "cooling-off", "charge", "approval", "ship"]
    assert not any(k.startswith("_") for op in document["Operations"] for k in op)
    history = document["History"]
    assert [e["EventId"] for e in history] == list(range(1, len(history) + 1))
    assert history[-1]["EventType"] == "ExecutionSucceeded"


def test_replay_runs_the_current_code_against_the_recording_and_writes_nothing(
    env: TestEnv, finished: tuple[str, Path], db: str
) -> None:
    arn, path = finished
    before = env.export(arn)
    for source in (["replay", str(path)], ["replay", arn, "--db", db]):
        result = perdure(*source, "-t", str(TEMPLATE))
        assert result.returncode == 0, result.stdout + result.stderr
        lines = result.stdout.splitlines()
        passed = [line.split()[1] for line in lines if line.startswith("  ")]
        assert passed == ["reserve", "cooling-off", "charge", "approval", "ship"]
        assert "orders.py:" in result.stdout
        assert "finished: SUCCEEDED" in result.stdout
        assert "matches the recording" in result.stdout
    after = env.export(arn)
    assert {k: v for k, v in after.items() if k != "ExportedTimestamp"} == {
        k: v for k, v in before.items() if k != "ExportedTimestamp"
    }


def test_replay_stops_where_the_recording_stops_and_at_until(env: TestEnv, tmp_path: Path) -> None:
    arn = record(env, approve=False)  # waits on the approval callback
    path = tmp_path / "waiting.json"
    path.write_text(json.dumps(env.export(arn)))
    result = perdure("replay", str(path), "-t", str(TEMPLATE))
    assert result.returncode == 0, result.stderr
    assert "stopped" in result.stdout
    assert "ship" not in result.stdout
    result = perdure("replay", str(path), "-t", str(TEMPLATE), "--until", "charge", "--json")
    report = json.loads(result.stdout)
    assert report["Outcome"] == "stopped"
    assert report["StoppedAt"]["Name"] == "charge"
    assert [p["Name"] for p in report["Passed"]] == ["reserve", "cooling-off"]


@pytest.mark.parametrize(
    ("name", "old", "new", "recorded", "now"),
    [
        ("renamed", 'name="charge",', 'name="charge-card",', "name 'charge'", "name 'charge-card'"),
        ("wait-inserted", "    payment = context.step(",
         '    context.wait(Duration.from_seconds(5), name="settle")\n    payment = context.step(',
         "STEP", "WAIT"),
    ],
)
def test_an_edited_handler_diverges_naming_the_operation_and_the_line(
    finished: tuple[str, Path], tmp_path: Path, name: str, old: str, new: str, recorded: str, now: str
) -> None:
    _, path = finished
    template, line = edited(tmp_path, name, old, new)
    charge_id = next(op["Id"] for op in json.loads(path.read_text())["Operations"] if op.get("Name") == "charge")
    result = perdure("replay", str(path), "-t", str(template))
    assert result.returncode == 3, result.stdout + result.stderr
    assert f"DIVERGED at operation {charge_id}" in result.stdout
    assert f"{template.parent / 'orders.py'}:{line}" in result.stdout
    recorded_line = next(t for t in result.stdout.splitlines() if t.strip().startswith("recorded:"))
    current_line = next(t for t in result.stdout.splitlines() if t.strip().startswith("code now:"))
    assert recorded in recorded_line
    assert now in current_line


def test_extra_and_missing_operations_diverge(finished: tuple[str, Path], tmp_path: Path) -> None:
    _, path = finished
    extra, line = edited(
        tmp_path, "extra", '                        name="ship")',
        '                        name="ship") | {"email": context.step(lambda _: "sent", name="email")}',
    )
    result = perdure("replay", str(path), "-t", str(extra), "--json")
    assert result.returncode == 3
    divergence = json.loads(result.stdout)["Divergence"]
    assert divergence["Kind"] == "extra"
    assert divergence["Current"]["Name"] == "email"
    assert divergence["Site"]["Line"] == line
    missing, _ = edited(
        tmp_path, "missing",
        '    return context.step(lambda _: {**reservation, "status": "shipped", "paid": payment["charged"]},\n'
        '                        name="ship")',
        '    return {**reservation, "status": "shipped", "paid": payment["charged"]}',
    )
    result = perdure("replay", str(path), "-t", str(missing), "--json")
    assert result.returncode == 3, result.stdout + result.stderr
    divergence = json.loads(result.stdout)["Divergence"]
    assert divergence["Kind"] == "missing"
    assert divergence["Recorded"]["Name"] == "ship"


def test_breakpoints_stop_in_the_handler_and_inside_a_step_with_recorded_values(
    finished: tuple[str, Path], tmp_path: Path
) -> None:
    _, path = finished
    between, _ = edited(tmp_path, "between", "    approval = context.create_callback(",
                        "    breakpoint()\n    approval = context.create_callback(")
    result = perdure("replay", str(path), "-t", str(between), stdin="p payment\np reservation\nc\n")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "{'charged': 42, 'attempt': 4}" in result.stdout
    assert "{'order': 7, 'items': 0}" in result.stdout
    inside, _ = edited(tmp_path, "inside", "    if step.attempt <= int(order.get(\"failures\", 0)):",
                       "    breakpoint()\n    if step.attempt <= int(order.get(\"failures\", 0)):")
    result = perdure("replay", str(path), "-t", str(inside), "--run-step", "charge",
                     stdin="p step.attempt\np order['amount']\nc\n")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "(Pdb) 4\n" in result.stdout
    assert "(Pdb) 42\n" in result.stdout
    assert "step charge ran again: same result as recorded" in result.stdout


def test_check_replays_many_executions_and_fails_on_divergence(env: TestEnv, db: str, tmp_path: Path) -> None:
    arns = [record(env, {"id": i, "amount": i, "failures": i % 3}, approve=i % 2 == 0) for i in range(12)]
    result = perdure("replay", "--check", "--function", "OrderWorkflow", "--db", db, "-t", str(TEMPLATE),
                     "--processes", "2", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert len(report["Executions"]) == len(arns)
    assert {r["Outcome"] for r in report["Executions"]} == {"finished", "stopped"}
    renamed, line = edited(tmp_path, "renamed", 'name="charge",', 'name="charge-card",')
    result = perdure("replay", "--check", "--function", "OrderWorkflow", "--db", db, "-t", str(renamed),
                     "--processes", "2")
    assert result.returncode == 3
    assert result.stdout.count("DIVERGED") == len(arns)
    assert f"orders.py:{line}" in result.stdout
    assert "12 diverge" in result.stderr
    running = perdure("replay", "--check", "--function", "OrderWorkflow", "--db", db, "-t", str(renamed),
                      "--status", "RUNNING", "--json")
    # One virtual clock for all: later recordings ran the earlier ones' approval timeouts,
    # so only the last execution still waits.
    assert [r["DurableExecutionArn"] for r in json.loads(running.stdout)["Executions"]] == [arns[-1]]


def test_rerun_from_an_operation_reuses_what_came_before(env: TestEnv) -> None:
    arn = record(env)
    rerun = rerun_execution(env.engine, arn, "charge", input_payload=json.dumps({"id": 9, "amount": 5, "failures": 1}))
    assert [op["Name"] for op in rerun.reused] == ["reserve", "cooling-off"]
    new = TestExecution(env, rerun.row.arn)  # the same environment drives the new execution
    env.send_callback_success(new.wait_for_callback("approval"), {"approved": True})
    # reserve was reused (the recorded order 7), charge ran again with the new input
    assert new.result() == {"order": 7, "items": 0, "status": "shipped", "paid": 5}
    history = new.history()
    reused = [e for e in history if "ReusedFrom" in e[f"{e['EventType']}Details"]]
    assert [(e["EventType"], e.get("Name")) for e in reused] == [
        ("StepStarted", "reserve"), ("StepSucceeded", "reserve"),
        ("WaitStarted", "cooling-off"), ("WaitSucceeded", "cooling-off"),
    ]
    assert all(e[f"{e['EventType']}Details"]["ReusedFrom"]["DurableExecutionArn"] == arn for e in reused)
    assert len(new.events("StepFailed", "charge")) == 1
    assert len(new.events("WaitStarted", "cooling-off")) == 1  # not waited again


def test_export_rerun_and_the_testing_kit_against_a_live_server(tmp_path: Path) -> None:
    server = Serve(f"sqlite:///{tmp_path / 'live.db'}", tmp_path / "serve.log", "--workers", "1", template=TEMPLATE)
    server.start()
    try:
        plugin = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE),
             "--perdure-url", server.url],
            capture_output=True, text=True, timeout=120, cwd=ROOT,
        )
        assert plugin.returncode == 0, plugin.stdout[-3000:]
        assert "2 passed" in plugin.stdout
        client = server.client()
        arns = [e["DurableExecutionArn"] for e in client.list_durable_executions_by_function(
            FunctionName="OrderWorkflow")["DurableExecutions"]]
        shipped = next(a for a in arns if client.get_durable_execution(DurableExecutionArn=a)["Result"].find("shipped") > 0)
        exported = perdure("executions", "export", shipped, "--url", server.url, "-o", str(tmp_path / "live.json"))
        assert exported.returncode == 0, exported.stderr
        replayed = perdure("replay", str(tmp_path / "live.json"), "-t", str(TEMPLATE))
        assert replayed.returncode == 0, replayed.stdout
        replayed = perdure("replay", shipped, "--url", server.url, "-t", str(TEMPLATE), "--json")
        assert replayed.returncode == 0, replayed.stdout
        assert json.loads(replayed.stdout)["Outcome"] == "finished"
        checked = perdure("replay", "--check", "--function", "OrderWorkflow", "--url", server.url,
                          "-t", str(TEMPLATE), "--since", "1h", "--json")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert {r["DurableExecutionArn"] for r in json.loads(checked.stdout)["Executions"]} == set(arns)
        rerun = perdure("executions", "rerun", shipped, "--from", "approval", "--name", "again", "--url", server.url, "--json")
        assert rerun.returncode == 0, rerun.stderr
        answer = json.loads(rerun.stdout)
        assert [op["Name"] for op in answer["ReusedOperations"]] == ["reserve", "cooling-off", "charge"]
        assert answer["DurableExecutionName"] == "again"
        bad = perdure("executions", "rerun", shipped, "--from", "nosuchstep", "--url", server.url)
        assert bad.returncode == 1
        assert "No operation 'nosuchstep'" in bad.stderr
        missing = perdure("executions", "export", shipped + "x", "--url", server.url)
        assert missing.returncode == 1
        assert "ResourceNotFoundException" in missing.stderr
        for path, body, status in [
            (f"{quote(shipped, safe='')}/rerun", b'{"Name": "not a name!"}', 400),
            (f"{quote(shipped, safe='')}/rerun", b'{"Input": "{not json"}', 400),
            (f"{quote(shipped, safe='')}/rerun", b"[1]", 400),
            (f"{quote(shipped + 'x', safe='')}/rerun", b"{}", 404),
            (f"{quote(shipped + 'x', safe='')}/skip-timer", b"{}", 404),
            (f"{quote(shipped, safe='')}/skip-timer", b'{"UnlessOpen": 3}', 400),
        ]:
            request = urllib.request.Request(
                f"{server.url}/perdure/v1/executions/{path}", data=body, method="POST",
                headers={"Content-Type": "application/json"},
            )
            with pytest.raises(urllib.error.HTTPError) as caught:
                urllib.request.urlopen(request, timeout=10)
            assert caught.value.code == status, (path, body, caught.value.read())
        aws_cloud_runner_drives(server.url)
    finally:
        server.stop()


def aws_cloud_runner_drives(url: str) -> None:
    """AWS's testing SDK in cloud mode, pointed at perdure serve with a qualified name."""
    from aws_durable_execution_sdk_python_testing.runner import DurableFunctionCloudTestRunner

    from perdure.testing import LiveEnv

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "perdure")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "perdure")
    runner = DurableFunctionCloudTestRunner(function_name="OrderWorkflow:$LATEST", region="us-east-1", lambda_endpoint=url)
    arn = runner.run_async(input={"id": 3, "amount": 9, "failures": 1})
    LiveEnv(url).drive(arn, "approval")  # skip the 7 days and the retry, up to the callback
    callback_id = runner.wait_for_callback(execution_arn=arn, name="approval")
    runner.send_callback_success(callback_id=callback_id, result=json.dumps({"approved": True}).encode())
    result = runner.wait_for_result(execution_arn=arn, timeout=30)
    assert result.status.value == "SUCCEEDED"
    assert json.loads(result.result) == {"order": 3, "items": 0, "status": "shipped", "paid": 9}
    assert [op.name for op in result.operations] == ["reserve", "cooling-off", "charge", "approval", "ship"]


def test_the_example_tests_pass_in_process_with_the_virtual_clock() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE), "--durations=0"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "2 passed" in result.stdout


def test_skip_next_timer_fires_an_idle_executions_timers_in_due_order(db_url: str) -> None:
    """The live-server twin of the virtual clock, on both backends."""
    from perdure.ops.skip_timer import skip_next_timer

    with TestEnv.from_template(TEMPLATE, db_url=db_url, virtual_clock=False) as env:
        run = env.start("OrderWorkflow", {"id": 1, "amount": 3, "failures": 1})
        assert skip_next_timer(env.engine, run.arn)["State"] == "busy"  # due for an invocation
        assert env._run_ready()
        answer = skip_next_timer(env.engine, run.arn)  # waits 7 days: the wait's timer moves
        assert answer["State"] == "fired"
        assert answer["Fired"]["Kind"] == "wait"
        assert env.engine.fire_due() == 1
        env._run_ready()  # charge fails once: a retry timer
        answer = skip_next_timer(env.engine, run.arn)
        assert (answer["State"], answer["Fired"]["Kind"]) == ("fired", "retry")
        env.engine.fire_due()
        env._run_ready()
        assert skip_next_timer(env.engine, run.arn, "approval")["State"] == "ready"
        answer = skip_next_timer(env.engine, run.arn)
        assert (answer["State"], answer["Fired"]["Kind"]) == ("fired", "timeout")
        env.engine.fire_due()
        env._run_ready()
        assert skip_next_timer(env.engine, run.arn) == {"State": "closed", "Status": "SUCCEEDED"}
        assert run.operation("approval")["Status"] == "TIMED_OUT"


def test_replay_usage_errors(tmp_path: Path) -> None:
    not_export = tmp_path / "other.json"
    not_export.write_text('{"Events": []}')
    for args, message in [
        (["replay"], "needs an ARN or an export file"),
        (["replay", "--check", "-t", str(TEMPLATE)], "needs --function"),
        (["replay", str(not_export), "-t", str(TEMPLATE)], "is not a perdure execution export"),
        (["replay", str(tmp_path / "missing.json")], "No such file"),
        (["replay", "--check", "--function", "OrderWorkflow", "-t", str(TEMPLATE), "--since", "soon"], "--since 'soon'"),
        (["replay", "--check", "--function", "Nope", "-t", str(TEMPLATE)], "not in the template"),
    ]:
        result = perdure(*args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert message in result.stderr, (args, result.stderr)


def test_every_conformance_handler_replays_against_its_own_recording() -> None:
    """No false alarms: maps, parallel branches, child contexts, callbacks, chained
    invokes, waits for conditions, retries, recorded and replayed with the same code.
    Handlers that kill their own process are left out (they would kill this one)."""
    import inspect
    import logging

    from perdure.run.replayer import replay
    from perdure.run.worker import load_handler
    from perdure.testing import Stuck

    outcomes: dict[str, list[str]] = {}
    logging.disable(logging.ERROR)  # the handlers' deliberate failures log tracebacks
    try:
        with TestEnv.from_template(ROOT / "tests" / "conformance" / "template.yaml") as env:
            for name, spec in sorted(env.functions.items()):
                handler = load_handler(spec)
                if not spec.durable or "crash_process" in inspect.getsource(handler) or "_exit(" in inspect.getsource(handler):
                    continue
                run = env.start(name, {})
                with contextlib.suppress(Stuck):  # waits on a callback: replayed up to there
                    run.outcome()
                report = replay(run.export(), handler)
                outcomes.setdefault(report.outcome, []).append(name)
                assert not report.notes, (name, report.notes)
    finally:
        logging.disable(logging.NOTSET)
    assert "diverged" not in outcomes, outcomes.get("diverged")
    assert len(outcomes["finished"]) >= 100
    assert outcomes.get("stopped")


def test_virtual_clock_runs_execution_timeouts_and_callback_timeouts_in_due_order() -> None:
    handlers = ROOT / "tests" / "handlers" / "template.yaml"  # Approval: ExecutionTimeout 900 s
    with TestEnv.from_template(handlers) as env:
        assert env.clock is not None
        slow = env.start("Approval", {"timeout": 3600})  # the callback would time out after the execution
        quick = env.start("Approval", {"timeout": 60})
        with pytest.raises(ExecutionFailed) as failed:
            slow.result()
        assert failed.value.status == "TIMED_OUT"
        assert 899 < env.clock.skipped_s < 901  # the clock jumped (real time passes as well)
        # the other execution's 60 s callback timeout came first, on the same clock
        assert quick.outcome()["Status"] == "FAILED"
        (timed_out,) = quick.events("CallbackTimedOut")
        (execution_timed_out,) = slow.events("ExecutionTimedOut")
        assert timed_out["EventTimestamp"] < execution_timed_out["EventTimestamp"]
