"""OpenTelemetry traces of Node executions, exported by ``perdure serve`` over OTLP/HTTP
to the receiver of ``test_tracing``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.logs.test_node_logs import run_node_chatty
from tests.run.test_tracing import Receiver, attribute, receiver  # noqa: F401 - the fixture
from tests.support import NODE_TEMPLATE, Serve, lambda_client


def joined(otlp: Receiver, name: str, trace_id: bytes, timeout: float = 20) -> Any:
    """The first span named ``name`` in the trace ``trace_id``, once it arrived."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with otlp.lock:
            found = [s for s in otlp.spans if s.name == name and s.trace_id == trace_id]
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"no {name} span in trace {trace_id.hex()}")


def test_node_executions_are_traced(receiver: Receiver, tmp_path: Path) -> None:  # noqa: F811
    server = Serve(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "server.log", "--workers", "1", template=NODE_TEMPLATE)
    server.env.update({"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_BSP_SCHEDULE_DELAY": "100",
                       "OTEL_SERVICE_NAME": "perdure-test"})
    server.start()
    try:
        arn = run_node_chatty(server.url, "o-1")
        spans = receiver.wait_for(arn, "execution")
        assert len({s.trace_id for s in spans}) == 1
        by_id = {s.span_id: s for s in spans}
        root = next(s for s in spans if s.name == "execution NodeChatty")
        assert root.parent_span_id == b"" and root.status.code == 0
        invocations = [s for s in spans if s.name == "invocation"]
        assert len(invocations) == 2 and all(s.parent_span_id == root.span_id for s in invocations)  # before and after the wait
        names = {s.name for s in spans}
        assert {"step reserve", "step charge", "attempt 1"} <= names, names
        assert any(n.startswith("wait") for n in names), names
        for span in spans:
            if span is not root:
                assert span.parent_span_id in by_id, span.name
            assert span.end_time_unix_nano >= span.start_time_unix_nano
        assert attribute(next(s for s in spans if s.name == "step reserve"), "perdure.operation.status") == "SUCCEEDED"

        # Chained invokes, Node to Python and Python to Node: the target joins the caller's trace.
        lam = lambda_client(server.url)
        for caller, target in (("NodeCallsPython", "PyEcho"), ("PyCallsNode", "NodeEcho")):
            response = lam.invoke(FunctionName=caller, Payload=b"{}")
            assert "FunctionError" not in response, response["Payload"].read()
            caller_arn = response["ResponseMetadata"]["HTTPHeaders"]["x-amz-durable-execution-arn"]
            invoke = next(s for s in receiver.wait_for(caller_arn, "execution") if s.name.startswith("chainedinvoke"))
            child = joined(receiver, f"execution {target}", invoke.trace_id)
            assert child.parent_span_id == invoke.span_id, (caller, target)
            assert json.loads(response["Payload"].read())["answer"]["runtime"] == ("python" if target == "PyEcho" else "node")
    finally:
        server.stop()
