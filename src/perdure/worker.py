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

from perdure import stacktraces
from perdure.client import EngineServiceClient
from perdure.engine import Engine, Invocation, Outcome, function_arn
from perdure.functions import FunctionSpec
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


def load_handler(spec: FunctionSpec) -> Handler:
    module_name, attr = spec.module_and_attr
    if spec.code_uri is not None and str(spec.code_uri) not in sys.path:
        sys.path.insert(0, str(spec.code_uri))
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
    def __init__(self, engine: Engine, send: Callable[[tuple[Any, ...]], None]) -> None:
        self.engine = engine
        self.client = EngineServiceClient(engine)
        self._send = send
        self._handlers: dict[str, Handler] = {}
        self._base_env = dict(os.environ)
        self._bound: str | None = None

    def bind(self, spec: FunctionSpec) -> None:
        """Give the process this function's environment (only done while idle)."""
        if self._bound == spec.name:
            return
        os.environ.clear()
        os.environ.update(self._base_env)
        os.environ.update(spec.environment)
        os.environ["AWS_LAMBDA_FUNCTION_NAME"] = spec.name
        self._bound = spec.name

    def run(self, invocation: Invocation, spec: FunctionSpec) -> None:
        try:
            outcome = self._invoke(invocation, spec)
            for delay in COMPLETE_RETRY_DELAYS_S:  # the database may be restarting
                try:
                    self.engine.complete_invocation(invocation.arn, invocation.invocation_id, outcome)
                    break
                except TransientStoreError as exc:
                    log.warning("recording the end of invocation %s failed (%s); retrying", invocation.invocation_id, exc)
                    time.sleep(delay)
            else:
                self.engine.complete_invocation(invocation.arn, invocation.invocation_id, outcome)
        except Exception:  # the database failed: the invocation's lease runs out, it is re-run
            log.exception("could not record the end of invocation %s", invocation.invocation_id)
        finally:
            self._send(("done", invocation.invocation_id))

    def _invoke(self, invocation: Invocation, spec: FunctionSpec) -> Outcome:
        try:
            handler = self._handlers.get(spec.name)
            if handler is None:
                handler = self._handlers[spec.name] = load_handler(spec)
            context = LambdaContext(
                aws_request_id=invocation.invocation_id,
                function_name=spec.name,
                invoked_function_arn=function_arn(spec.name),
                deadline_ms=invocation.deadline_ms,
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
    stacktraces.install()  # failed steps keep their StackTrace (perdure.stacktraces)
    store = open_store(db_url)
    # Every function of the deployment: handlers start chained invokes of the others.
    engine = Engine(store, functions)
    lock = threading.Lock()

    def send(message: tuple[Any, ...]) -> None:
        with lock:
            conn.send(message)

    engine.add_listener(lambda kind, arn: send(("event", kind, arn)))
    worker = Worker(engine, send)
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
        store.close()
