"""OpenTelemetry traces of executions, exported over OTLP/HTTP when
``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set.
Needs the optional extra: ``pip install 'perdure[otel]'``.

An execution's spans are built from its durable record when it closes: the execution
span, one span per invocation (from the history's ``InvocationCompleted`` events,
whichever process ran it), one per operation (steps, waits, callbacks, child
contexts, map and parallel branches and iterations, chained invokes, nested under
their parent operation), and one per step attempt. So a trace is complete and
consistent whatever process or machine ran each invocation. Trace and span ids are
derived from the execution ARN: one trace per execution, and an execution started by
a chained invoke joins its caller's trace under the caller's invoke operation.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from perdure.run.runtime import Runtime
from perdure.store import ExecutionRow, Store

log = logging.getLogger("perdure.tracing")

TERMINAL_SUFFIXES = ("Succeeded", "Failed", "TimedOut", "Cancelled", "Stopped")
OPERATION_PREFIXES = ("ChainedInvoke", "Callback", "Context", "Step", "Wait")
FAILED_SUFFIXES = ("Failed", "TimedOut", "Stopped")


def enabled() -> bool:
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def _id(text: str, size: int) -> int:
    value = int.from_bytes(hashlib.sha256(text.encode()).digest()[:size], "big")
    return value or 1  # zero is the invalid id


def trace_id_of(root_arn: str) -> int:
    return _id(f"trace {root_arn}", 16)


def span_id_of(arn: str, key: str) -> int:
    return _id(f"span {arn} {key}", 8)


@dataclass
class SpanPlan:
    """One span to emit: ids, times (ms), and where it hangs."""

    key: str
    name: str
    start_ms: int
    end_ms: int
    parent_key: str | None
    attributes: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def plan_spans(row: ExecutionRow, events: list[dict[str, Any]]) -> list[SpanPlan]:
    """The spans of a closed execution, from its history (pure: tested on its own)."""
    start = row.start_ms
    end = row.end_ms or (events[-1]["EventTimestamp"] if events else start)
    attrs = {
        "perdure.function": row.function_name, "perdure.execution.arn": row.arn,
        "perdure.execution.name": row.name, "perdure.execution.status": row.status,
    }
    plans = [SpanPlan("execution", f"execution {row.function_name}", start, end, None, attrs,
                      row.status if row.status in ("FAILED", "TIMED_OUT", "STOPPED") else None)]
    ops: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        kind = event["EventType"]
        if kind == "InvocationCompleted":
            d = event.get("InvocationCompletedDetails") or {}
            request = str(d.get("RequestId") or event["EventId"])
            error = (d.get("Error") or {}).get("Payload") or None
            plans.append(SpanPlan(
                f"invocation {request}", "invocation", int(d.get("StartTimestamp") or event["EventTimestamp"]),
                int(d.get("EndTimestamp") or event["EventTimestamp"]), "execution",
                {"faas.invocation_id": request, "perdure.execution.arn": row.arn},
                (error or {}).get("ErrorType") if isinstance(error, dict) else None,
            ))
        elif event.get("Id") and kind.startswith(OPERATION_PREFIXES):
            ops.setdefault(event["Id"], []).append(event)
    for op_id, op_events in ops.items():
        first, last = op_events[0], op_events[-1]
        kind = next(p for p in OPERATION_PREFIXES if first["EventType"].startswith(p))
        status = last["EventType"][len(kind):]
        name = first.get("Name")
        sub_type = first.get("SubType")
        label = (sub_type or kind).lower()
        parent = first.get("ParentId")
        op_end = last["EventTimestamp"] if status in TERMINAL_SUFFIXES else end
        plans.append(SpanPlan(
            f"op {op_id}", f"{label} {name}" if name else label, first["EventTimestamp"], op_end,
            f"op {parent}" if parent and parent in ops else "execution",
            {"perdure.operation.id": op_id, "perdure.operation.type": kind.upper(), "perdure.operation.subtype": sub_type or "",
             "perdure.operation.name": name or "", "perdure.operation.status": status.upper(), "perdure.execution.arn": row.arn},
            status.upper() if status in FAILED_SUFFIXES else None,
        ))
        if kind == "Step":
            plans.extend(_attempts(op_id, op_events, row.arn))
    return plans


def _attempts(op_id: str, events: list[dict[str, Any]], arn: str) -> Iterator[SpanPlan]:
    """One span per step attempt: from its StepStarted (or the previous attempt's end)
    to the StepFailed/StepSucceeded that ended it."""
    began: int | None = None
    n = 0
    for event in events:
        kind = event["EventType"]
        if kind == "StepStarted":
            began = event["EventTimestamp"]
        elif kind in ("StepFailed", "StepSucceeded"):
            details = event.get(f"{kind}Details") or {}
            n = int((details.get("RetryDetails") or {}).get("CurrentAttempt") or n + 1)
            start = began if began is not None else event["EventTimestamp"]
            error = ((details.get("Error") or {}).get("Payload") or {}) if kind == "StepFailed" else {}
            yield SpanPlan(
                f"op {op_id} attempt {n}", f"attempt {n}", start, event["EventTimestamp"], f"op {op_id}",
                {"perdure.operation.id": op_id, "perdure.step.attempt": n, "perdure.execution.arn": arn},
                str(error.get("ErrorType") or "error") if kind == "StepFailed" else None,
            )
            began = event["EventTimestamp"]


class Tracing:
    """Exports the spans of executions as they close (on a thread of its own)."""

    def __init__(self, store: Store, exporter: Any = None) -> None:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.id_generator import IdGenerator

        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter()
        ids = threading.local()

        class _Ids(IdGenerator):
            """Ids chosen by the caller (derived from the ARN), so spans emitted at
            different times and places link up."""

            def generate_span_id(self) -> int:
                return int(getattr(ids, "span", 0)) or _id(os.urandom(8).hex(), 8)

            def generate_trace_id(self) -> int:
                return int(getattr(ids, "trace", 0)) or _id(os.urandom(16).hex(), 16)

        self._ids = ids
        self.store = store
        service = os.environ.get("OTEL_SERVICE_NAME", "perdure")
        self.provider = TracerProvider(resource=Resource.create({"service.name": service}), id_generator=_Ids())
        self.provider.add_span_processor(BatchSpanProcessor(exporter))
        self.tracer = self.provider.get_tracer("perdure")
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="perdure-tracing", daemon=True)
        self._thread.start()

    def closed(self, kind: str, arn: str, _details: dict[str, Any]) -> None:
        if kind == "closed":
            self._queue.put(arn)

    def _loop(self) -> None:
        while (arn := self._queue.get()) is not None:
            try:
                self.export(arn)
            except Exception:
                log.exception("could not export the trace of %s", arn)

    def _read(self, arn: str) -> tuple[ExecutionRow | None, list[dict[str, Any]]]:
        events: list[dict[str, Any]] = []
        with self.store.read() as tx:
            row = tx.get_execution(arn, lock=False)
            after = 0
            while row is not None:
                page = tx.events_page(arn, after, 1000, False)
                events.extend(page)
                if len(page) < 1000:
                    break
                after = page[-1]["EventId"]
        return row, events

    def _root(self, row: ExecutionRow) -> tuple[str, tuple[str, str] | None]:
        """The ARN whose trace this execution joins, and its caller's invoke operation."""
        caller = (row.parent_arn, row.parent_op) if row.parent_arn and row.parent_op else None
        root = row.arn
        seen = {root}
        parent = row.parent_arn
        while parent and parent not in seen:
            seen.add(parent)
            root = parent
            with self.store.read() as tx:
                found = tx.get_execution(parent, lock=False)
            parent = found.parent_arn if found else None
        return root, caller

    def export(self, arn: str) -> None:
        from opentelemetry import trace
        from opentelemetry.trace import (
            NonRecordingSpan,
            SpanContext,
            Status,
            StatusCode,
            TraceFlags,
        )

        row, events = self._read(arn)
        if row is None:
            return
        root, caller = self._root(row)
        trace_id = trace_id_of(root)
        span_ids = {plan.key: span_id_of(arn, plan.key) for plan in plan_spans(row, events)}
        for plan in plan_spans(row, events):
            if plan.parent_key is not None:
                parent_span = span_ids[plan.parent_key]
            elif caller is not None:
                parent_span = span_id_of(caller[0], f"op {caller[1]}")
            else:
                parent_span = 0
            context = None
            if parent_span:
                parent = SpanContext(trace_id, parent_span, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED))
                context = trace.set_span_in_context(NonRecordingSpan(parent))
            self._ids.trace, self._ids.span = trace_id, span_ids[plan.key]
            try:
                span = self.tracer.start_span(plan.name, context=context, start_time=plan.start_ms * 1_000_000, attributes=plan.attributes)
            finally:
                self._ids.trace, self._ids.span = 0, 0
            if plan.error:
                span.set_status(Status(StatusCode.ERROR, plan.error))
            span.end(end_time=max(plan.end_ms, plan.start_ms) * 1_000_000)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)
        self.provider.shutdown()


def install(runtime: Runtime) -> Tracing | None:
    """Export traces of the executions this runtime closes, when OTLP is configured."""
    if not enabled():
        return None
    try:
        tracing = Tracing(runtime.store)
    except ImportError as exc:
        log.warning("OTEL_EXPORTER_OTLP_ENDPOINT is set but %s is missing: pip install 'perdure[otel]'", exc.name)
        return None
    runtime.add_observer(tracing.closed)
    return tracing
