"""Prometheus metrics of a runtime: ``GET /metrics`` on ``perdure serve``, and on
``perdure worker --metrics-port``.

Counted in the runtime's process, from what passes through it: executions started
(through this process's API) and closed (by its runtime or its worker processes),
invocations with their outcome and duration and the checkpoints they made (their
worker process reports them when each invocation ends), timer lag (how late a timer
fired after it fell due), log records dropped (past an execution's bound, or while
the database could not take them), and for Node and custom runtimes the cold start of
each new runtime process and the memory of the one that ran each invocation. Read from
the runtime and the database at each scrape: the ready queue (executions due for an
invocation and waiting for one), busy and total worker slots, runtime processes kept.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from starlette.types import Receive, Scope, Send

from perdure.run.runtime import Runtime
from perdure.store import ExecutionRow

log = logging.getLogger("perdure.metrics")

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)


def function_of(arn: str) -> str:
    return arn.split(":function:", 1)[-1].split(":", 1)[0]


class _StateCollector(Collector):
    """What is read at scrape time: the ready queue and worker slots."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[GaugeMetricFamily]:
        ready = GaugeMetricFamily(
            "perdure_ready_executions", "Executions due for an invocation and waiting for one", labels=["function"]
        )
        with self.runtime.store.read() as tx:
            for function, count in sorted(tx.ready_depth(self.runtime.engine.clock.now_ms()).items()):
                ready.add_metric([function], count)
        yield ready
        busy, total = self.runtime.slots()
        yield GaugeMetricFamily("perdure_worker_slots_busy", "Invocations running in this runtime's worker processes", value=busy)
        yield GaugeMetricFamily("perdure_worker_slots", "Invocation slots of this runtime's worker processes", value=total)
        yield GaugeMetricFamily(
            "perdure_sandbox_processes", "Runtime processes (Node, custom runtimes) kept by the worker processes",
            value=self.runtime.sandbox_processes(),
        )
        yield GaugeMetricFamily(
            "perdure_sandbox_limit", "Runtime processes one worker process may run at once",
            value=self.runtime.sandboxes,
        )


class RuntimeMetrics:
    """The metrics of one runtime, in a registry of their own."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.started = Counter("perdure_executions_started", "Executions started through this process", ["function"], registry=r)
        self.closed = Counter("perdure_executions_closed", "Executions closed, by final status", ["function", "status"], registry=r)
        self.invocations = Counter("perdure_invocations", "Invocations ended, by outcome", ["function", "outcome"], registry=r)
        self.invocation_seconds = Histogram(
            "perdure_invocation_duration_seconds", "Invocation duration", ["function"], buckets=DURATION_BUCKETS, registry=r
        )
        self.checkpoint_seconds = Histogram(
            "perdure_checkpoint_duration_seconds", "Checkpoint latency as the handler sees it", ["function"],
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.timer_lag_seconds = Histogram(
            "perdure_timer_lag_seconds", "How late a timer fired after it fell due", ["kind"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.log_dropped = Counter("perdure_log_records_dropped", "Log records not stored", ["function"], registry=r)
        self.cold_start_seconds = Histogram(
            "perdure_sandbox_cold_start_seconds", "From starting a runtime process to the end of its first invocation",
            ["function", "runtime"], buckets=DURATION_BUCKETS, registry=r,
        )
        self.sandbox_memory = Gauge(
            "perdure_sandbox_memory_bytes", "Resident memory of the runtime process that ran the function's last invocation",
            ["function", "runtime"], registry=r,
        )
        r.register(_StateCollector(runtime))
        self._watch(runtime)

    def _watch(self, runtime: Runtime) -> None:
        runtime.engine.add_listener(self._on_engine_event)
        runtime.add_observer(self._observe)

    def _on_engine_event(self, kind: str, arn: str, row: ExecutionRow | None, detail: Mapping[str, Any]) -> None:
        if kind == "started" and row is not None:
            self.started.labels(row.function_name).inc()
        elif kind == "timer_fired":
            lag_ms = max(0, int(detail["fired_ms"]) - int(detail["due_ms"]))
            self.timer_lag_seconds.labels(str(detail["timer"])).observe(lag_ms / 1000)

    def _observe(self, kind: str, arn: str, details: dict[str, Any]) -> None:
        function = details.get("function") or function_of(arn)
        if kind == "closed":
            row = details.get("row") or self.runtime.engine.get_execution(arn)
            self.closed.labels(function, row.status).inc()
        elif kind == "invocation":
            self.invocations.labels(function, str(details.get("outcome", "UNKNOWN"))).inc()
            if isinstance(details.get("duration_s"), (int, float)):
                self.invocation_seconds.labels(function).observe(details["duration_s"])
            for seconds in details.get("checkpoints", ()):
                self.checkpoint_seconds.labels(function).observe(seconds)
            if details.get("log_dropped"):
                self.log_dropped.labels(function).inc(details["log_dropped"])
            sandbox = details.get("sandbox")
            if isinstance(sandbox, dict):
                runtime = str(sandbox.get("runtime") or "")
                if isinstance(sandbox.get("cold_start_s"), (int, float)):
                    self.cold_start_seconds.labels(function, runtime).observe(sandbox["cold_start_s"])
                if isinstance(sandbox.get("rss_bytes"), int):
                    self.sandbox_memory.labels(function, runtime).set(sandbox["rss_bytes"])

    def text(self) -> bytes:
        return generate_latest(self.registry)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """An ASGI endpoint answering with the Prometheus text format."""
        import anyio.to_thread

        body = await anyio.to_thread.run_sync(self.text)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", CONTENT_TYPE_LATEST.encode())]})
        await send({"type": "http.response.body", "body": body})

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """Answer ``GET /metrics`` on a port of its own (``perdure worker``)."""
        start_http_server(port, addr=host, registry=self.registry)
