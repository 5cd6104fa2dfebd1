"""A worker process: runs handlers for invocations its supervisor hands it.

Each process serves one function at a time (like a Lambda sandbox: the function's
environment variables are the process's), running up to ``threads`` invocations of
it at once, because the SDK spends most of an invocation's tail idle. The handler
checkpoints straight into the database through ``EngineServiceClient``.
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

from perdure.core import Engine, Invocation, Outcome
from perdure.deploy import FunctionSpec, function_arn
from perdure.logs import LogSink, capture_invocation, install_capture, spool_path
from perdure.run import stacktraces
from perdure.run.invocation_stats import InvocationStats
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

    def bind(self, spec: FunctionSpec) -> None:
        """Give the process this function version's environment and code (only done
        while idle: a process runs one function version at a time)."""
        if self._bound is not None and self._bound.key == spec.key:
            return
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
        return {
            "outcome": outcome.status if outcome is not None else "ERROR",
            "duration_s": time.monotonic() - started,
            "checkpoints": self.stats.take(invocation.arn),
            "log_dropped": new_drops,
        }

    def _invoke(self, invocation: Invocation, spec: FunctionSpec) -> Outcome:
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
            event = DurableExecutionInvocationInputWithClient(
                durable_execution_arn=invocation.arn,
                checkpoint_token=invocation.token,
                initial_execution_state=InitialExecutionState.from_json_dict(
                    {"Operations": invocation.operations, "NextMarker": invocation.next_marker}
                ),
                service_client=self.client,
            )
            return outcome_of(handler(event, context))
        except Exception as exc:
            log.warning("invocation %s of %s raised %s", invocation.invocation_id, spec.name, exc)
            return Outcome("ERROR", error=error_of(exc))


    @staticmethod
    def _invoke_plain(handler: Handler, invocation: Invocation, context: LambdaContext) -> Outcome:
        """A function without DurableConfig: called once with the input, like Lambda."""
        execution = next(op for op in invocation.operations if op["Type"] == "EXECUTION")
        text = (execution.get("ExecutionDetails") or {}).get("InputPayload") or ""
        event = json.loads(text) if text.strip() else {}
        try:
            result = handler(event, context)
        except Exception as exc:
            return Outcome("FAILED", error=error_of(exc))
        return Outcome("SUCCEEDED", result=json.dumps(result))


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
        logs.close()
        store.close()
