"""Capture, in a worker process, everything a handler emits during an invocation.

Three sources, each attributed to the invocation by a context variable (the SDK copies
the context into the threads it starts for map and parallel branches, so a branch's
lines stay with their execution even though several invocations share the process):

* records of the SDK's ``context.logger`` and step loggers (they carry ``executionArn``,
  ``operationId``, ``operationName``, ``attempt``, ``parentId`` as ``extra`` fields, and
  the SDK already drops them while its context replays);
* any other ``logging`` record (the root logger gets a handler);
* ``print``, ``sys.stdout`` and ``sys.stderr`` writes, one record per line; a line that
  is a JSON object keeps its own fields, as Lambda's JSON log format does.

Lines that did not come through the SDK's logger are located by looking up the call
stack for the nearest step context (inside an operation: its id, name and attempt) or
durable context (its replay status and parent operation). Those written while their
context replays are kept and marked ``replay``; readers hide them unless asked.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, TextIO

from perdure.store import NewLogRecord

MAX_MESSAGE_CHARS = 256 * 1024  # CloudWatch's event size limit
MAX_FRAMES = 64
TAIL_BYTES = 4096

# Python level names as Lambda's JSON log format writes them.
LEVELS = {"WARNING": "WARN", "CRITICAL": "FATAL"}
LEVEL_ORDER = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")

# Attributes every LogRecord has; anything else on a record came in through ``extra``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
_SDK_FIELDS = ("operationId", "operationName", "attempt", "parentId")

Emit = Callable[[str, str, NewLogRecord], None]  # (arn, function, record)


@dataclass
class InvocationLog:
    """What the capture knows about the invocation a thread is running."""

    arn: str
    request_id: str
    function_name: str
    emit: Emit
    buffers: dict[tuple[str, int], str] = field(default_factory=dict)
    tail: list[str] = field(default_factory=list)
    tail_bytes: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, record: NewLogRecord) -> None:
        self.emit(self.arn, self.function_name, record)
        line = json.dumps(record.body, default=str) + "\n"
        with self.lock:
            self.tail.append(line)
            self.tail_bytes += len(line)
            while self.tail_bytes > TAIL_BYTES and len(self.tail) > 1:
                self.tail_bytes -= len(self.tail.pop(0))

    def tail_text(self) -> str:
        with self.lock:
            return "".join(self.tail)[-TAIL_BYTES:]


_current: ContextVar[InvocationLog | None] = ContextVar("perdure_invocation", default=None)
# The invocations this process runs, by execution: the SDK runs a handler in a fresh
# context (it copies the caller's only when plugins are configured), so a line is also
# attributed through the execution of the durable or step context found up its stack.
_active: dict[str, InvocationLog] = {}


def current() -> InvocationLog | None:
    """The invocation this thread runs, if any."""
    return _current.get()


def level_name(python_level: str) -> str:
    return LEVELS.get(python_level, python_level)


def iso_ms(ts_ms: int) -> str:
    moment = dt.datetime.fromtimestamp(ts_ms / 1000, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts_ms % 1000:03d}Z"


# -- where in the handler a line was written ------------------------------------------


@dataclass(frozen=True)
class Place:
    arn: str | None = None
    operation_id: str | None = None
    operation_name: str | None = None
    attempt: int | None = None
    parent_id: str | None = None
    replay: bool = False


def _sdk_types() -> tuple[type, type]:
    from aws_durable_execution_sdk_python.context import DurableContext
    from aws_durable_execution_sdk_python.types import OperationContext

    return OperationContext, DurableContext


def _extra_of(logger: Any) -> dict[str, Any]:
    extra = getattr(logger, "_default_extra", None)
    return dict(extra) if isinstance(extra, dict) else {}


def locate(frame: FrameType | None) -> Place:
    """The operation the code at ``frame`` runs in: the nearest step (or other
    operation) context up the stack, else the nearest durable context."""
    operation_context, durable_context = _sdk_types()
    depth = 0
    while frame is not None and depth < MAX_FRAMES:
        for value in frame.f_locals.values():
            if isinstance(value, operation_context):
                extra = _extra_of(getattr(value, "logger", None))
                attempt = getattr(value, "attempt", extra.get("attempt"))
                return Place(
                    arn=extra.get("executionArn"), operation_id=extra.get("operationId"), operation_name=extra.get("operationName"),
                    attempt=attempt if isinstance(attempt, int) else None, parent_id=extra.get("parentId"),
                )
            if isinstance(value, durable_context) and frame.f_code.co_filename.find("aws_durable_execution_sdk_python") < 0:
                extra = _extra_of(getattr(value, "logger", None))
                try:
                    replaying = bool(value.is_replaying())  # type: ignore[attr-defined]
                except Exception:
                    replaying = False
                parent = extra.get("parentId")
                arn = getattr(getattr(value, "state", None), "durable_execution_arn", None)
                return Place(arn=arn if isinstance(arn, str) else None, operation_id=parent, parent_id=parent, replay=replaying)
        frame = frame.f_back
        depth += 1
    return Place()


# -- building records ------------------------------------------------------------------


def _base(inv: InvocationLog, ts_ms: int, level: str) -> dict[str, Any]:
    return {"timestamp": iso_ms(ts_ms), "level": level}


def _finish(inv: InvocationLog, body: dict[str, Any], place: Place, ts_ms: int, level: str) -> NewLogRecord:
    body.setdefault("requestId", inv.request_id)
    body.setdefault("durableExecutionArn", inv.arn)
    for key, value in (
        ("operationId", place.operation_id), ("operationName", place.operation_name),
        ("attempt", place.attempt), ("parentId", place.parent_id),
    ):
        if value is not None:
            body.setdefault(key, value)
    if place.replay:
        body["replay"] = True
    message = body.get("message")
    if isinstance(message, str) and len(message) > MAX_MESSAGE_CHARS:
        body["message"] = message[:MAX_MESSAGE_CHARS] + " [truncated]"
    return NewLogRecord(
        ts_ms=ts_ms, level=level, request_id=inv.request_id,
        operation_id=body.get("operationId") if isinstance(body.get("operationId"), str) else None,
        operation_name=body.get("operationName") if isinstance(body.get("operationName"), str) else None,
        replay=place.replay, body=body,
    )


def resolve(frame: FrameType | None) -> tuple[InvocationLog | None, Place | None]:
    """The invocation code at ``frame`` belongs to (and, when the stack had to be
    searched for it, where in the handler it is)."""
    inv = _current.get()
    if inv is not None or not _active:
        return inv, None
    place = locate(frame)
    return (_active.get(place.arn) if place.arn else None), place


def record_from_logging(
    inv: InvocationLog, record: logging.LogRecord, frame: FrameType | None, place: Place | None = None
) -> NewLogRecord:
    ts_ms = int(record.created * 1000)
    level = level_name(record.levelname)
    body = _base(inv, ts_ms, level)
    try:
        message = record.getMessage()
    except Exception as exc:  # a bad format string must not lose the line
        message = f"{record.msg!r} (formatting failed: {exc})"
    body["message"] = message
    body["logger"] = record.name
    extras = {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}
    if record.exc_info and record.exc_info[1] is not None:
        error = record.exc_info[1]
        body["errorType"] = type(error).__name__
        body["errorMessage"] = str(error)
        body["stackTrace"] = traceback.format_tb(error.__traceback__)
    if "executionArn" in extras:
        # The SDK's logger: it located the record itself and dropped it if replaying.
        place = Place(**{  # type: ignore[arg-type]
            name: extras.get(key)
            for name, key in (("operation_id", "operationId"), ("operation_name", "operationName"),
                              ("attempt", "attempt"), ("parent_id", "parentId"))
        })
    elif place is None:
        place = locate(frame)
    for key, value in extras.items():
        body.setdefault(key, value if isinstance(value, (str, int, float, bool, type(None))) else str(value))
    return _finish(inv, body, place, ts_ms, level)


def json_object(line: str) -> dict[str, Any] | None:
    """The line as a JSON object, if it is one (Lambda's JSON log format keeps its fields)."""
    stripped = line.strip()
    if not (stripped.startswith("{") and stripped.endswith("}")):
        return None
    try:
        parsed = json.loads(stripped)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def record_from_line(
    inv: InvocationLog, stream: str, line: str, frame: FrameType | None, place: Place | None = None
) -> NewLogRecord:
    ts_ms = int(time.time() * 1000)
    parsed = json_object(line)
    if parsed is not None:
        body = parsed  # a JSON line keeps its own fields
        body.setdefault("timestamp", iso_ms(ts_ms))
        raw_level = body.get("level")
        level = level_name(raw_level.upper()) if isinstance(raw_level, str) else "INFO"
    else:
        level = "INFO" if stream == "stdout" else "WARN"
        body = _base(inv, ts_ms, level)
        body["message"] = line
        body["stream"] = stream
    return _finish(inv, body, place if place is not None else locate(frame), ts_ms, level)


# -- hooking into the process ------------------------------------------------------------


class _CaptureHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            frame = sys._getframe(1)
            inv = _current.get()
            place = None
            if inv is None:
                arn = getattr(record, "executionArn", None)
                if isinstance(arn, str):  # the SDK's logger names its execution
                    inv = _active.get(arn)
                else:
                    inv, place = resolve(frame)
            if inv is None:
                return
            record._perdure_captured = True
            inv.record(record_from_logging(inv, record, frame, place))
        except Exception:
            self.handleError(record)


def _outside_invocations(record: logging.LogRecord) -> bool:
    """Filter for the process's other handlers: records of invocations are captured
    instead, except perdure's own (an invocation that raised), which the operator sees too."""
    return not getattr(record, "_perdure_captured", False) or record.name.startswith("perdure.")


class _Stream(io.TextIOBase):
    """Stands in for ``sys.stdout``/``sys.stderr``: lines written during an invocation
    become its records; anything else goes to the real stream."""

    def __init__(self, original: TextIO, name: str) -> None:
        self._original = original
        self._name = name

    def write(self, s: str) -> int:
        frame = sys._getframe(1)
        inv, place = resolve(frame)
        if inv is None:
            return self._original.write(s)
        key = (self._name, threading.get_ident())
        with inv.lock:
            text = inv.buffers.pop(key, "") + s
            *lines, rest = text.split("\n")
            if rest:
                inv.buffers[key] = rest
        for line in lines:
            inv.record(record_from_line(inv, self._name, line, frame, place))
        return len(s)

    def flush(self) -> None:
        self._original.flush()

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._original.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._original, "encoding", "utf-8")

    def writable(self) -> bool:
        return True

    @property
    def buffer(self) -> Any:
        """The real stream's bytes: written to directly, it is not captured."""
        return getattr(self._original, "buffer", None)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original, name)


_installed = False


def install_capture(application_level: str = "INFO") -> None:
    """Capture handler output in this process (idempotent). The root logger's level
    becomes ``application_level`` (Lambda's default in JSON format is INFO), perdure's
    own loggers keep theirs, and the process's existing handlers stop seeing records of
    invocations."""
    global _installed
    if _installed:
        return
    _installed = True
    root = logging.getLogger()
    own_level = root.level
    for handler in root.handlers:
        # They keep showing what they showed before (the root's former level), minus
        # what invocations emit, which is captured instead.
        handler.addFilter(_outside_invocations)
        handler.setLevel(max(handler.level, own_level))
    root.handlers.insert(0, _CaptureHandler())  # first: it marks what it captured
    python_level = {"WARN": "WARNING", "FATAL": "CRITICAL", "TRACE": "DEBUG"}.get(application_level, application_level)
    root.setLevel(python_level if python_level in logging.getLevelNamesMapping() else "INFO")
    logging.getLogger("perdure").setLevel(own_level or logging.WARNING)
    sys.stdout = _Stream(sys.stdout, "stdout")
    sys.stderr = _Stream(sys.stderr, "stderr")


@contextlib.contextmanager
def capture_invocation(arn: str, request_id: str, function_name: str, emit: Emit) -> Iterator[InvocationLog]:
    """Attribute what the current thread (and threads started with its context) emits
    to this invocation until the block ends; a last unterminated line is kept too."""
    inv = InvocationLog(arn=arn, request_id=request_id, function_name=function_name, emit=emit)
    token = _current.set(inv)
    _active[arn] = inv
    try:
        yield inv
    finally:
        _current.reset(token)
        if _active.get(arn) is inv:
            del _active[arn]
        with inv.lock:
            leftovers = list(inv.buffers.items())
            inv.buffers.clear()
        for (stream, _thread), text in leftovers:
            if text:
                inv.record(record_from_line(inv, stream, text, None))
