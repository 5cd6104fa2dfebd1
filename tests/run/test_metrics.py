"""Prometheus metrics: ``GET /metrics`` on ``perdure serve`` and on ``perdure worker
--metrics-port``, parsed with the Prometheus text parser."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from perdure.run.runtime import THREADS
from tests.logs.test_logs import run_chatty
from tests.support import HANDLERS, Process, Serve, free_port, lambda_client

TEMPLATE = HANDLERS / "logs.yaml"


def scrape(url: str) -> dict[str, float]:
    """``name{label="v",...}`` -> value, for every sample."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            samples[f"{s.name}{{{labels}}}"] = s.value
    return samples


def run_noisy(url: str) -> None:
    response = lambda_client(url).invoke(FunctionName="Noisy", Payload=b'{"lines": 120}')  # limit 50: 71 dropped
    assert json.loads(response["Payload"].read()) == 120


def test_serve_metrics(tmp_path: Path) -> None:
    server = Serve(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "server.log", "--workers", "1", template=TEMPLATE).start()
    try:
        run_noisy(server.url)
        m = scrape(server.url)
        assert m['perdure_executions_started_total{function="Noisy"}'] == 1
        assert m['perdure_executions_closed_total{function="Noisy",status="SUCCEEDED"}'] == 1
        assert m['perdure_invocations_total{function="Noisy",outcome="SUCCEEDED"}'] == 1
        assert m['perdure_invocation_duration_seconds_count{function="Noisy"}'] == 1
        assert m['perdure_checkpoint_duration_seconds_count{function="Noisy"}'] >= 1
        assert m['perdure_log_records_dropped_total{function="Noisy"}'] == 71
        assert m["perdure_worker_slots{}"] == THREADS  # one process of the default threads
        assert m["perdure_worker_slots_busy{}"] == 0
        assert not any(k.startswith("perdure_ready_executions{") for k in m)  # nothing waits
        run_chatty(server.url, "o-1")  # a 1 s wait: its timer fires, a little late
        m = scrape(server.url)
        assert m['perdure_timer_lag_seconds_count{kind="wait"}'] == 1
        assert 0 <= m['perdure_timer_lag_seconds_sum{kind="wait"}'] < 5
    finally:
        server.stop()


def test_worker_metrics_port(pg_url: str, tmp_path: Path) -> None:
    server = Serve(pg_url, tmp_path / "server.log", "--no-workers", template=TEMPLATE).start()
    port = free_port()
    worker = Process(["worker", "-t", str(TEMPLATE), "--db", pg_url, "--metrics-port", str(port)], tmp_path / "worker.log").start()
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                scrape(f"http://127.0.0.1:{port}")
                break
            except OSError:
                assert time.monotonic() < deadline, worker.log()
                time.sleep(0.2)
        run_noisy(server.url)
        # The client's answer comes from the server once the execution closes; the worker
        # counts the invocation when its process reports the end, which may come just after.
        key = 'perdure_invocations_total{function="Noisy",outcome="SUCCEEDED"}'
        m = scrape(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 10
        while key not in m and time.monotonic() < deadline:
            time.sleep(0.1)
            m = scrape(f"http://127.0.0.1:{port}")
        assert m[key] == 1
        assert m['perdure_executions_closed_total{function="Noisy",status="SUCCEEDED"}'] == 1
        assert m['perdure_log_records_dropped_total{function="Noisy"}'] == 71
        served = scrape(server.url)  # the server started it; its worker slots are none
        assert served['perdure_executions_started_total{function="Noisy"}'] == 1
        assert served["perdure_worker_slots{}"] == 0
    finally:
        worker.stop()
        server.stop()
