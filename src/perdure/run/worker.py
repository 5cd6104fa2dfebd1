"""A worker process: runs handlers for invocations its supervisor hands it.

Each process serves one function at a time (like a Lambda sandbox: the function's
environment variables are the process's), running up to ``threads`` invocations of
it at once, because the SDK spends most of an invocation's tail idle. A Python handler
checkpoints straight into the database through ``EngineServiceClient``; a Node or
custom-runtime handler runs in a sandbox process of its own (``perdure.run.runtimes``),
one invocation per sandbox, which checkpoints through its Runtime API server.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from aws_durable_execution_sdk_python.execution import (
    DurableExecutionInvocationInputWithClient,
    InitialExecutionState,
)
from aws_durable_execution_sdk_python.lambda_service import DurableServiceClient

from perdure.core import Engine, Invocation, Outcome
from perdure.deploy import FunctionSpec, function_arn
from perdure.logs import LogSink, capture_invocation, install_capture, spool_path
from perdure.run import stacktraces
from perdure.run.invocation_stats import InvocationStats
from perdure.run.runtimes import DurableCalls, PoolStats, SandboxError, SandboxPool
from perdure.run.service_client import EngineServiceClient
from perdure.store import TransientStoreError, open_store

log = logging.getLogger("perdure.worker")

COMPLETE_RETRY_DELAYS_S = (0.5, 1.0, 2.0, 4.0)

Handler = Callable[[Any, Any], Any]


@dataclass
class LambdaContext:
    """The parts of Lambda's context object handlers and the SDK read."""

    aws_request_id: str
    function_name: str
    invoked_function_arn: str
    deadline_ms: int
    function_version: str = "$LATEST"
    memory_limit_in_mb: str = "128"
    log_group_name: str | None = None
    log_stream_name: str | None = None
    tenant_id: str | None = None
    client_context: Any | None = None
    identity: Any | None = None

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.deadline_ms - int(time.time() * 1000))

    def log(self, msg: str) -> None:
        sys.stdout.write(msg)


class LambdaEvent(dict[str, Any], DurableExecutionInvocationInputWithClient):
    """The event a durable Python handler is invoked with: Lambda's JSON invocation
    event, a ``dict`` (``DurableExecutionArn``, ``CheckpointToken``,
    ``InitialExecutionState`` with its ``Operations`` and ``NextMarker``; timestamps
    in epoch milliseconds, as Lambda sends them), so a handler that reads it, logs it
    or hands it to any durable SDK sees what it would see on Lambda.

    It is also the official SDK's ``DurableExecutionInvocationInputWithClient``, the
    SDK's public way to hand its ``durable_execution`` wrapper a service client: the
    wrapper recognises the event by that type and checkpoints through the engine in
    this process (``EngineServiceClient``: one transaction, no HTTP, no credentials),
    where a plain dict would make it build a boto3 client. Only the wrapper reads the
    dataclass side; everything else sees the dict.
    """

    def __init__(self, event: dict[str, Any], client: DurableServiceClient) -> None:
        dict.__init__(self, event)
        DurableExecutionInvocationInputWithClient.__init__(
            self,
            durable_execution_arn=event["DurableExecutionArn"],
            checkpoint_token=event["CheckpointToken"],
            initial_execution_state=InitialExecutionState.from_json_dict(event["InitialExecutionState"]),
            service_client=client,
        )


def code_paths(spec: FunctionSpec) -> list[str]:
    """What goes on ``sys.path`` for a function: its code, then its layers (and their
    ``python/`` directories, as Lambda puts ``/opt/python`` on the path)."""
    paths = [str(spec.code_uri)] if spec.code_uri is not None else []
    for layer in spec.layers:
        paths.extend(str(p) for p in (layer / "python", layer) if p.is_dir())
    return paths


def forget_code(spec: FunctionSpec) -> None:
    """Drop a function version's directories from ``sys.path`` and the modules imported
    from them, so another version's modules of the same names import afresh."""
    roots = code_paths(spec)
    sys.path[:] = [p for p in sys.path if p not in roots]
    for name, module in list(sys.modules.items()):
        origin = getattr(module, "__file__", None) or ""
        if origin and any(origin.startswith(root + os.sep) for root in roots):
            del sys.modules[name]
    importlib.invalidate_caches()


def load_handler(spec: FunctionSpec) -> Handler:
    module_name, attr = spec.module_and_attr
    for path in reversed(code_paths(spec)):
        if path not in sys.path:
            sys.path.insert(0, path)
    module = importlib.import_module(module_name)
    handler = getattr(module, attr, None)
    if not callable(handler):
        raise ImportError(f"{spec.name}: {module_name} has no callable {attr!r}")
    return handler  # type: ignore[no-any-return]


def outcome_of(output: Any) -> Outcome:
    """Read the SDK's invocation output ({"Status": ..., "Result"/"Error"})."""
    if not isinstance(output, dict) or output.get("Status") not in ("SUCCEEDED", "FAILED", "PENDING"):
        return Outcome("ERROR", error={
            "ErrorType": "Runtime.InvalidOutput",
            "ErrorMessage": f"handler returned {type(output).__name__}, not a durable invocation output; "
            "is it decorated with @durable_execution?",
        })
    status = output["Status"]
    if status == "SUCCEEDED":
        return Outcome(status, result=output.get("Result"))
    if status == "FAILED":
        return Outcome(status, error=output.get("Error") or {})
    return Outcome(status)


def error_of(exc: BaseException) -> dict[str, Any]:
    return {
        "ErrorType": type(exc).__name__,
        "ErrorMessage": str(exc),
        "StackTrace": stacktraces.format_stack(exc),
    }


class Worker:
    def __init__(self, engine: Engine, send: Callable[[tuple[Any, ...]], None], logs: LogSink | None = None) -> None:
        self.engine = engine
        self.logs = logs
        self.client = EngineServiceClient(engine)
        self.stats = InvocationStats()
        self.client.checkpoint = self.stats.timed(self.client.checkpoint)  # type: ignore[method-assign]
        self._dropped = 0
        self._send = send
        self._handlers: dict[str, Handler] = {}
        self._base_env = dict(os.environ)
        self._bound: FunctionSpec | None = None
        emit = logs.add if logs is not None else (lambda _arn, _fn, _record: None)
        self.sandboxes = SandboxPool(DurableCalls(engine.checkpoint, engine.get_state), emit, self._base_env)
        self._sandbox_stats: dict[str, PoolStats] = {}

    def bind(self, spec: FunctionSpec) -> None:
        """Give the process this function version's environment and code (only done
        while idle: a process runs one function version at a time)."""
        if self._bound is not None and self._bound.key == spec.key:
            return
        self.sandboxes.retire(keep=spec.key)  # another function's warm sandboxes
        if self._bound is not None and code_paths(self._bound) != code_paths(spec):
            forget_code(self._bound)  # another version's code: its modules import afresh
            self._handlers.clear()
        os.environ.clear()
        os.environ.update(self._base_env)
        os.environ.update(spec.environment)
        os.environ["AWS_LAMBDA_FUNCTION_NAME"] = spec.name
        os.environ["AWS_LAMBDA_FUNCTION_VERSION"] = spec.version
        os.environ["AWS_LAMBDA_LOG_GROUP_NAME"] = spec.log_group_name
        if spec.log_format == "JSON":
            os.environ["AWS_LAMBDA_LOG_FORMAT"] = "JSON"
        self._bound = spec

    def run(self, invocation: Invocation, spec: FunctionSpec) -> None:
        started = time.monotonic()
        outcome: Outcome | None = None
        try:
            if self.logs is None:
                outcome = self._invoke(invocation, spec)
            else:
                with capture_invocation(invocation.arn, invocation.invocation_id, spec.name, self.logs.add):
                    outcome = self._invoke(invocation, spec)
                self.logs.flush(invocation.arn)  # its lines are stored before its end is
            for delay in COMPLETE_RETRY_DELAYS_S:  # the database may be restarting
                try:
                    self.engine.complete_invocation(invocation.arn, invocation.invocation_id, outcome, invocation=invocation)
                    break
                except TransientStoreError as exc:
                    log.warning("recording the end of invocation %s failed (%s); retrying", invocation.invocation_id, exc)
                    time.sleep(delay)
            else:
                self.engine.complete_invocation(invocation.arn, invocation.invocation_id, outcome, invocation=invocation)
        except Exception:  # the database failed: the invocation's lease runs out, it is re-run
            log.exception("could not record the end of invocation %s", invocation.invocation_id)
        finally:
            self._send(("done", invocation.invocation_id, self._report(invocation, outcome, started)))

    def _report(self, invocation: Invocation, outcome: Outcome | None, started: float) -> dict[str, Any]:
        """How the invocation went, for the supervisor's metrics."""
        dropped = self.logs.dropped if self.logs is not None else 0
        new_drops, self._dropped = dropped - self._dropped, dropped
        report: dict[str, Any] = {
            "outcome": outcome.status if outcome is not None else "ERROR",
            "duration_s": time.monotonic() - started,
            "checkpoints": self.stats.take(invocation.arn),
            "log_dropped": new_drops,
        }
        sandbox = self._sandbox_stats.pop(invocation.invocation_id, None)
        if sandbox is not None:
            report["sandbox"] = {
                "runtime": sandbox.runtime, "processes": sandbox.processes,
                "cold_start_s": sandbox.cold_start_s, "rss_bytes": sandbox.rss_bytes,
            }
        return report

    def _invoke(self, invocation: Invocation, spec: FunctionSpec) -> Outcome:
        if not spec.in_process:
            return self._invoke_sandbox(invocation, spec)
        try:
            handler = self._handlers.get(spec.key)
            if handler is None:
                handler = self._handlers[spec.key] = load_handler(spec)
            context = LambdaContext(
                aws_request_id=invocation.invocation_id,
                function_name=spec.name,
                invoked_function_arn=f"{function_arn(spec.name)}:{spec.version}",
                deadline_ms=invocation.deadline_ms,
                function_version=spec.version,
                log_group_name=spec.log_group_name,
            )
            if not spec.durable:
                return self._invoke_plain(handler, invocation, context)
            event = LambdaEvent(invocation.event(), self.client)
            return outcome_of(handler(event, context))
        except Exception as exc:
            log.warning("invocation %s of %s raised %s", invocation.invocation_id, spec.name, exc)
            return Outcome("ERROR", error=error_of(exc))


    def _invoke_sandbox(self, invocation: Invocation, spec: FunctionSpec) -> Outcome:
        """A Node or custom-runtime handler: Lambda's JSON event to a sandbox process."""
        event: Any = invocation.event() if spec.durable else _plain_input(invocation)
        try:
            result, stats = self.sandboxes.run(spec, invocation, json.dumps(event).encode())
        except SandboxError as exc:
            log.warning("invocation %s of %s: %s", invocation.invocation_id, spec.name, exc)
            return Outcome("ERROR", error={"ErrorType": "Runtime.Unavailable", "ErrorMessage": str(exc)})
        self._sandbox_stats[invocation.invocation_id] = stats
        if result.kind == "response":
            text = result.body.decode("utf-8", errors="replace")
            if not spec.durable:
                return Outcome("SUCCEEDED", result=text)
            try:
                output = json.loads(text) if text.strip() else None
            except ValueError:
                output = text
            return outcome_of(output)
        raw = result.error or {}
        error: dict[str, Any] = {
            "ErrorType": str(raw.get("errorType") or "Runtime.Unknown"),
            "ErrorMessage": str(raw.get("errorMessage") or ""),
        }
        trace = raw.get("stackTrace", raw.get("trace"))  # Node's runtime clients say "trace"
        if isinstance(trace, list):
            error["StackTrace"] = [str(line) for line in trace]
        return Outcome("FAILED" if not spec.durable else "ERROR", error=error)

    @staticmethod
    def _invoke_plain(handler: Handler, invocation: Invocation, context: LambdaContext) -> Outcome:
        """A function without DurableConfig: called once with the input, like Lambda."""
        event = _plain_input(invocation)
        try:
            result = handler(event, context)
        except Exception as exc:
            return Outcome("FAILED", error=error_of(exc))
        return Outcome("SUCCEEDED", result=json.dumps(result))


def _plain_input(invocation: Invocation) -> Any:
    """What a function without DurableConfig is invoked with: the input payload."""
    execution = next(op for op in invocation.operations if op["Type"] == "EXECUTION")
    text = (execution.get("ExecutionDetails") or {}).get("InputPayload") or ""
    return json.loads(text) if text.strip() else {}


def worker_main(conn: Connection, db_url: str, threads: int, functions: dict[str, FunctionSpec]) -> None:
    """Entry point of a worker process (spawned by the supervisor)."""
    # The supervisor stops it (or its pipe closes when the supervisor dies); a signal to
    # the whole process group (Ctrl-C, a service manager) is the supervisor's to handle.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=os.environ.get("PERDURE_LOG_LEVEL", "WARNING"))
    install_capture(os.environ.get("AWS_LAMBDA_LOG_LEVEL", "INFO").upper())
    stacktraces.install()  # failed steps keep their StackTrace (perdure.run.stacktraces)
    store = open_store(db_url)
    logs = LogSink(store, spool=spool_path(db_url, os.getpid()))
    # Every function of the deployment: handlers start chained invokes of the others.
    engine = Engine(store, functions)
    lock = threading.Lock()

    def send(message: tuple[Any, ...]) -> None:
        with lock:
            conn.send(message)

    engine.add_listener(lambda kind, arn, row, _detail: send(("event", kind, arn, row)) if kind in ("ready", "closed") else None)
    worker = Worker(engine, send, logs)
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="invocation")
    try:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                # The supervisor is gone (killed with everything it ran): end at once,
                # running handlers included. Its successor re-runs their invocations;
                # finishing them here would race with that.
                os._exit(1)
            if message[0] == "run":
                invocation, spec = message[1], message[2]
                engine.functions[spec.name] = spec
                worker.bind(spec)
                pool.submit(worker.run, invocation, spec)
            elif message[0] == "stop":
                break
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        worker.sandboxes.close()
        logs.close()
        store.close()
