"""OpenTelemetry traces, exported by ``perdure serve`` over OTLP/HTTP to a real
receiver running in the test, which decodes the protobuf requests."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.logs.test_logs import run_chatty
from tests.support import HANDLERS, Serve, lambda_client

TEMPLATE = HANDLERS / "logs.yaml"


class Receiver:
    """An OTLP/HTTP trace receiver: POST /v1/traces with a protobuf body."""

    def __init__(self) -> None:
        self.spans: list[Any] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                assert self.path == "/v1/traces", self.path
                assert self.headers["Content-Type"] == "application/x-protobuf"
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                with receiver.lock:
                    for resource_spans in request.resource_spans:
                        for scope_spans in resource_spans.scope_spans:
                            receiver.spans.extend(scope_spans.spans)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()
                self.wfile.write(b"")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def spans_of(self, arn: str) -> list[Any]:
        with self.lock:
            return [s for s in self.spans if any(a.key == "perdure.execution.arn" and a.value.string_value == arn for a in s.attributes)]

    def wait_for(self, arn: str, kind: str, timeout: float = 20) -> list[Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            spans = self.spans_of(arn)
            if any(s.name.startswith(kind) for s in spans):
                return spans
            time.sleep(0.1)
        raise AssertionError(f"no {kind} span of {arn} arrived")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.server.shutdown()


def attribute(span: Any, key: str) -> Any:
    for a in span.attributes:
        if a.key == key:
            value = a.value
            return value.string_value if value.HasField("string_value") else value.int_value
    return None


def test_one_trace_per_execution_over_otlp(receiver: Receiver, db_url: str, tmp_path: Path) -> None:
    server = Serve(db_url, tmp_path / "server.log", "--workers", "1", template=TEMPLATE)
    server.env.update({"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_BSP_SCHEDULE_DELAY": "100", "OTEL_SERVICE_NAME": "perdure-test"})
    server.start()
    try:
        arn = run_chatty(server.url, "o-1")
        spans = receiver.wait_for(arn, "execution")
        assert len({s.trace_id for s in spans}) == 1
        by_id = {s.span_id: s for s in spans}
        root = next(s for s in spans if s.name == "execution Chatty")
        assert root.parent_span_id == b""
        assert root.status.code == 0  # unset: it succeeded
        invocations = [s for s in spans if s.name == "invocation"]
        assert len(invocations) == 3  # before the wait, before the callback, after it
        assert all(s.parent_span_id == root.span_id for s in invocations)
        names = {s.name for s in spans}
        assert {"step reserve", "wait", "step charge", "attempt 1"} <= names
        assert any(n.startswith("callback") for n in names) and any(n.startswith("waitforcallback approval") for n in names)
        for span in spans:  # every parent is a span of the same trace
            if span is not root:
                assert span.parent_span_id in by_id, span.name
            assert span.end_time_unix_nano >= span.start_time_unix_nano
        reserve = next(s for s in spans if s.name == "step reserve")
        assert attribute(reserve, "perdure.operation.status") == "SUCCEEDED"
        callback = next(s for s in spans if s.name.startswith("callback"))
        assert by_id[callback.parent_span_id].name.startswith("waitforcallback")

        # A chained invoke: the target execution joins the caller's trace.
        lam = lambda_client(server.url)
        caller = lam.invoke(FunctionName="Caller", Payload=b"{}")
        assert json.loads(caller["Payload"].read()) == 2
        caller_arn = caller["ResponseMetadata"]["HTTPHeaders"]["x-amz-durable-execution-arn"]
        caller_spans = receiver.wait_for(caller_arn, "execution")
        invoke = next(s for s in caller_spans if s.name.startswith("chainedinvoke"))
        deadline = time.monotonic() + 20
        while True:
            target = [s for s in receiver.spans if s.name == "execution Noisy" and s.trace_id == invoke.trace_id]
            if target or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert target and target[0].parent_span_id == invoke.span_id
        assert invoke.trace_id != root.trace_id
    finally:
        server.stop()


def test_span_plan_of_a_retried_step() -> None:
    from perdure.run.tracing import plan_spans
    from perdure.store.base import ExecutionRow

    arn = "arn:aws:lambda:us-east-1:000000000000:function:F:$LATEST/durable-execution/n/i"
    row = ExecutionRow(arn, "F", "n", "SUCCEEDED", None, None, None, 1000, 2000, None, 7)

    def event(kind: str, at: int, **details: Any) -> dict[str, Any]:
        return {"EventType": kind, "EventId": at, "EventTimestamp": at, "Id": "s1", "Name": "charge", "SubType": "Step", f"{kind}Details": details}

    events = [
        {"EventType": "ExecutionStarted", "EventId": 1, "EventTimestamp": 1000, "ExecutionStartedDetails": {}},
        event("StepStarted", 1100),
        event("StepFailed", 1200, Error={"Payload": {"ErrorType": "Declined"}}, RetryDetails={"CurrentAttempt": 1}),
        {"EventType": "InvocationCompleted", "EventId": 4, "EventTimestamp": 1250,
         "InvocationCompletedDetails": {"StartTimestamp": 1050, "EndTimestamp": 1250, "RequestId": "r1"}},
        event("StepStarted", 1500),
        event("StepSucceeded", 1600, RetryDetails={"CurrentAttempt": 2}),
    ]
    plans = {p.key: p for p in plan_spans(row, events)}
    assert plans["execution"].start_ms == 1000 and plans["execution"].end_ms == 2000
    assert plans["invocation r1"].parent_key == "execution" and plans["invocation r1"].start_ms == 1050
    step = plans["op s1"]
    assert (step.name, step.start_ms, step.end_ms, step.error) == ("step charge", 1100, 1600, None)
    first, second = plans["op s1 attempt 1"], plans["op s1 attempt 2"]
    assert (first.start_ms, first.end_ms, first.error, first.parent_key) == (1100, 1200, "Declined", "op s1")
    assert (second.start_ms, second.end_ms, second.error) == (1500, 1600, None)
