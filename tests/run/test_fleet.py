"""``perdure serve`` and ``perdure worker`` as separate processes on one PostgreSQL
database: routing by function, callbacks answered through the server resuming on a
worker, and a restart of PostgreSQL in the middle of a run."""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

import pytest

import perdure
from perdure.cli import main
from tests.backends import PG_URL, require_postgres
from tests.fleet_support import FLEET_TEMPLATE, Serve, Workload, worker

# --------------------------------------------------------------------------- the commands


@pytest.fixture
def fake_fleet(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """``perdure.run.fleet.run_worker`` recording its arguments instead of running."""
    calls: list[dict[str, Any]] = []
    module = types.ModuleType("perdure.run.fleet")
    module.run_worker = lambda **kwargs: calls.append(kwargs)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "perdure.run.fleet", module)
    monkeypatch.setattr(perdure, "fleet", module, raising=False)
    return calls


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


def test_worker_command_hosts_the_functions_named(fake_fleet: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql://u:pw@db.example:5432/perdure"
    code, err = _run(capsys, "worker", "-t", str(FLEET_TEMPLATE), "--db", url, "--functions", "Transcribe",
                     "--concurrency", "1", "--threads", "2", "--lease-seconds", "10")
    assert (code, err) == (0, "")
    (call,) = fake_fleet
    assert sorted(call["functions"]) == ["Approval", "Chaos", "Transcribe", "Where"]
    assert (call["db_url"], call["hosted"]) == (url, ["Transcribe"])
    assert (call["processes"], call["threads"], call["lease_s"]) == (1, 2, 10)


def test_worker_command_refuses_what_cannot_work(
    fake_fleet: list[dict[str, Any]], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PERDURE_DB", raising=False)
    template = ("-t", str(FLEET_TEMPLATE))
    code, err = _run(capsys, "worker", *template)
    assert code == 2 and "needs the server's database" in err
    code, err = _run(capsys, "worker", *template, "--db", "sqlite:///x.db")
    assert code == 2 and "needs PostgreSQL" in err
    code, err = _run(capsys, "serve", *template, "--db", "sqlite:///x.db", "--no-workers")
    assert code == 2 and "needs PostgreSQL" in err
    code, err = _run(capsys, "worker", *template, "--db", "postgresql://h/db", "--functions", "Where,Nope")
    assert code == 2 and "--functions: Nope not in the template" in err
    assert fake_fleet == []


def test_unreachable_database_is_a_clear_start_up_error(capsys: pytest.CaptureFixture[str]) -> None:
    require_postgres()
    code, err = _run(capsys, "worker", "-t", str(FLEET_TEMPLATE), "--db", "postgresql://perdure:s3cret@127.0.0.1:1/db")
    assert code == 2
    assert err.startswith("perdure: error: cannot connect to PostgreSQL at postgresql://perdure:***@127.0.0.1:1/db: ")
    assert "s3cret" not in err


# --------------------------------------------------------------------------- a fleet


def test_each_worker_runs_only_the_functions_it_hosts(pg_url: str, tmp_path: Path) -> None:
    server = Serve(pg_url, tmp_path / "serve.log", "--no-workers").start()
    other_server = Serve(pg_url, tmp_path / "serve2.log", "--no-workers").start()
    cpu = worker(pg_url, tmp_path, "cpu", "--functions", "Where,Approval", "--concurrency", "1").start()
    gpu = worker(pg_url, tmp_path, "gpu", "--functions", "Transcribe", "--concurrency", "1", "--threads", "1").start()
    try:
        client, other_client = server.client(), other_server.client()
        ran = {
            fn: {json.loads(client.invoke(FunctionName=fn, Payload="{}")["Payload"].read()) for _ in range(3)}
            for fn in ("Where", "Transcribe")
        }
        assert ran == {"Where": {"cpu"}, "Transcribe": {"gpu"}}

        # Started through one server, answered through the other: the callback resumes
        # the execution on the worker at once.
        callbacks, resumed = tmp_path / "callbacks.log", tmp_path / "resumed.log"
        callbacks.touch()
        resumed.touch()
        latencies = []
        for i in range(5):
            event = {"i": i, "callbacks": str(callbacks), "resumed": str(resumed)}
            client.invoke(FunctionName="Approval", InvocationType="Event", Payload=json.dumps(event))
            callback_id = _wait_for_line(callbacks, i)
            sent = time.time()
            other_client.send_durable_execution_callback_success(CallbackId=callback_id, Result=b'"yes"')
            latencies.append(float(_wait_for_line(resumed, i)) - sent)
        # bench/resume_pg.py measures this precisely; here only "not polling" is checked.
        assert statistics.median(latencies) < 0.5, latencies
    finally:
        for process in (cpu, gpu, other_server, server):
            process.stop()


def _wait_for_line(path: Path, i: int, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in path.read_text().splitlines():
            key, value = line.split(" ", 1)
            if key == str(i):
                return value
        time.sleep(0.005)
    raise AssertionError(f"{path.name}: no line for {i}")


def _restart_command() -> list[str]:
    clusters = sorted(Path("/etc/postgresql").glob("*/main")) if Path("/etc/postgresql").is_dir() else []
    if not shutil.which("pg_ctlcluster") or not clusters or "127.0.0.1:5432" not in PG_URL:
        pytest.skip("needs the local PostgreSQL cluster and pg_ctlcluster to restart it")
    return ["pg_ctlcluster", "--skip-systemctl-redirect", clusters[0].parent.name, "main", "restart"]


def test_executions_survive_a_restart_of_postgresql(pg_url: str, tmp_path: Path) -> None:
    restart = _restart_command()
    server = Serve(pg_url, tmp_path / "serve.log", "--workers", "1", "--lease-seconds", "3").start()
    other = worker(pg_url, tmp_path, "w", "--concurrency", "1", "--lease-seconds", "3").start()
    load = Workload(server, tmp_path, count=30)
    restarted: list[float] = []

    def during(elapsed: float) -> None:
        if not restarted and elapsed > 1.0:
            subprocess.run(restart, check=True, capture_output=True, timeout=60)
            restarted.append(elapsed)

    try:
        load.start()
        load.run_until_done(timeout_s=90, during=during)
        counts = load.check()
    finally:
        other.stop()
        server.stop()
    assert restarted
    print(f"PostgreSQL restarted at {restarted[0]:.1f} s; {counts}")


def test_a_runtime_alone_on_postgresql_notifies_nobody_until_another_joins(pg_url: str) -> None:
    """NOTIFY costs a transaction; a runtime that has heard no other on the database's
    channel sends none (``perdure serve`` alone), and starts as soon as one says hello."""
    from perdure.deploy.functions import FunctionSpec
    from perdure.run.runtime import Runtime

    functions = {"Fn": FunctionSpec(name="Fn", handler="x.y", timeout_s=30)}
    first, second = Runtime(pg_url, functions, processes=0), Runtime(pg_url, functions, processes=0)
    sent: list[str] = []
    notify = first.store.notify
    first.store.notify = lambda kind, arn: (sent.append(kind), notify(kind, arn))[1]  # type: ignore[method-assign]
    heard: list[str] = []
    hear = second._on_notification
    second._on_notification = lambda kind, arn: (heard.append(kind), hear(kind, arn))[1]  # type: ignore[method-assign]

    def until(check: Any) -> None:
        deadline = time.monotonic() + 10
        while not check():
            assert time.monotonic() < deadline, (sent, heard)
            time.sleep(0.01)

    first.start()
    try:
        until(lambda: first._listening)
        first.invoke("Fn")
        first.invoke("Fn")
        assert sent == ["hello"]  # the two starts were announced to nobody
        second.start()
        try:
            until(lambda: first._others and second._others)  # hello, and the answer
            first.invoke("Fn")
            until(lambda: "ready" in heard)
            assert sent == ["hello", "here", "ready"]
        finally:
            second.stop()
    finally:
        first.stop()
