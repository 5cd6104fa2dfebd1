"""The Lambda Runtime API (2018-06-01) that one runtime process talks to, and the two
durable-execution calls its SDK makes.

Every Lambda runtime (AWS's runtime interface clients, a custom runtime's
``bootstrap``) loops on ``GET /2018-06-01/runtime/invocation/next``, runs the handler
and posts ``.../invocation/{id}/response`` or ``.../invocation/{id}/error``; a runtime
that cannot start posts ``/2018-06-01/runtime/init/error``. One server serves one
runtime process, one invocation at a time, as a Lambda sandbox does; it listens on
127.0.0.1 only.

The same server answers the durable SDK's ``GetDurableExecutionState`` and
``CheckpointDurableExecution`` (the process's ``AWS_ENDPOINT_URL_LAMBDA`` points here),
for the execution the process is running and no other, straight into the engine:
checkpoints need no ``perdure serve`` and no credentials beyond the process's own.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from perdure.core import to_wire
from perdure.errors import InvalidParameterValue, ServiceError

log = logging.getLogger("perdure.runtime_api")

PREFIX = "/2018-06-01/runtime"
DURABLE_PREFIX = "/2025-12-01/durable-executions/"
MAX_RESPONSE_BYTES = 6 * 1024 * 1024  # Lambda's synchronous response limit
MAX_REQUEST_BYTES = 16 * 1024 * 1024
NEXT_POLL_S = 0.5


@dataclass
class Job:
    """One invocation handed to the runtime process."""

    request_id: str
    arn: str
    event: bytes
    headers: dict[str, str]
    done: threading.Event = field(default_factory=threading.Event)
    kind: str | None = None  # "response" or "error"
    body: bytes = b""
    error_type: str | None = None  # the Lambda-Runtime-Function-Error-Type header


class DurableCalls:
    """What the durable routes call (the engine's ``checkpoint`` and ``get_state``)."""

    def __init__(
        self,
        checkpoint: Callable[[str, str, list[Any], str | None], dict[str, Any]],
        get_state: Callable[[str, str, str | None, int | None], dict[str, Any]],
    ) -> None:
        self.checkpoint = checkpoint
        self.get_state = get_state


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A runtime process killed mid-request (timeout, crash) resets its connection.
        log.debug("runtime api: connection from %s ended abruptly", client_address, exc_info=True)


class RuntimeApi:
    """The server for one runtime process. ``address`` is its ``AWS_LAMBDA_RUNTIME_API``."""

    def __init__(self, durable: DurableCalls) -> None:
        self.durable = durable
        self._jobs: queue.Queue[Job] = queue.Queue(maxsize=1)
        self._current: Job | None = None
        self._lock = threading.Lock()
        self.waiting = threading.Event()  # the process is blocked in /next: it is ready
        self.init_error: dict[str, Any] | None = None
        self.init_failed = threading.Event()
        self._closing = threading.Event()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("runtime api: " + format, *args)

            def do_GET(self) -> None:
                api._route(self, "GET")

            def do_POST(self) -> None:
                api._route(self, "POST")

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="perdure-runtime-api", daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        port = self._server.server_address[1]
        return f"127.0.0.1:{port}"

    def submit(self, job: Job) -> None:
        self._jobs.put(job)

    @property
    def current(self) -> Job | None:
        return self._current

    def close(self) -> None:
        """Stop serving, without waiting: the server's loop sees a shutdown only between
        polls (every half second), and a worker process retiring sandboxes before its next
        invocation must not wait that long for each."""
        self._closing.set()
        threading.Thread(target=self._stop, name="perdure-runtime-api-stop", daemon=True).start()

    def _stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- routing -----------------------------------------------------------------------

    def _route(self, h: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(h.path)
        path = parts.path
        try:
            if method == "GET" and path == f"{PREFIX}/invocation/next":
                self._next(h)
            elif method == "POST" and path == f"{PREFIX}/init/error":
                self._init_error(h)
            elif method == "POST" and path.startswith(f"{PREFIX}/invocation/"):
                rest = path[len(f"{PREFIX}/invocation/"):]
                request_id, _, what = rest.rpartition("/")
                if what not in ("response", "error") or not request_id:
                    self._send(h, 404, {"errorMessage": f"no route {method} {path}", "errorType": "InvalidRequest"})
                    return
                self._result(h, unquote(request_id), what)
            elif path.startswith(DURABLE_PREFIX):
                self._durable(h, method, path[len(DURABLE_PREFIX):], parts.query)
            else:
                self._send(h, 404, {
                    "errorMessage": f"{method} {path}: this endpoint serves the Lambda Runtime API and the "
                    "durable execution calls of the process's own execution only",
                    "errorType": "InvalidRequest",
                })
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _body(self, h: BaseHTTPRequestHandler, limit: int = MAX_REQUEST_BYTES) -> bytes | None:
        length = int(h.headers.get("Content-Length") or 0)
        if length > limit:
            # Read and drop it, so the runtime gets the answer rather than a reset.
            remaining = length
            while remaining > 0:
                chunk = h.rfile.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                remaining -= len(chunk)
            return None
        return h.rfile.read(length) if length else b""

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            h.send_header(name, value)
        h.end_headers()
        h.wfile.write(data)

    # -- the Runtime API ---------------------------------------------------------------

    def _next(self, h: BaseHTTPRequestHandler) -> None:
        self.waiting.set()
        while True:
            try:
                job = self._jobs.get(timeout=NEXT_POLL_S)
                break
            except queue.Empty:
                if self._closing.is_set():
                    return
        self.waiting.clear()
        with self._lock:
            self._current = job
        self._send(h, 200, job.event, job.headers)

    def _init_error(self, h: BaseHTTPRequestHandler) -> None:
        body = self._body(h) or b""
        try:
            error = json.loads(body) if body else {}
        except ValueError:
            error = {"errorMessage": body.decode(errors="replace")}
        if not isinstance(error, dict):
            error = {"errorMessage": str(error)}
        error.setdefault("errorType", h.headers.get("Lambda-Runtime-Function-Error-Type") or "Runtime.Unknown")
        self.init_error = error
        self.init_failed.set()
        self._send(h, 202, {"status": "OK"})

    def _result(self, h: BaseHTTPRequestHandler, request_id: str, kind: str) -> None:
        with self._lock:
            job = self._current
        if job is None or job.request_id != request_id:
            self._body(h)
            self._send(h, 400, {"errorMessage": f"invocation {request_id} is not running here", "errorType": "InvalidRequestID"})
            return
        body = self._body(h, MAX_RESPONSE_BYTES if kind == "response" else MAX_REQUEST_BYTES)
        if body is None:
            message = f"Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."
            job.kind, job.error_type = "error", "Function.ResponseSizeTooLarge"
            job.body = json.dumps({"errorType": "Function.ResponseSizeTooLarge", "errorMessage": message}).encode()
            self._finish(job)
            self._send(h, 413, {"errorMessage": message, "errorType": "Function.ResponseSizeTooLarge"})
            return
        job.kind, job.body = kind, body
        job.error_type = h.headers.get("Lambda-Runtime-Function-Error-Type")
        self._finish(job)
        self._send(h, 202, {"status": "OK"})

    def _finish(self, job: Job) -> None:
        with self._lock:
            if self._current is job:
                self._current = None
        job.done.set()

    # -- the durable calls ---------------------------------------------------------------

    def _durable(self, h: BaseHTTPRequestHandler, method: str, rest: str, query: str) -> None:
        request_id = str(uuid.uuid4())
        arn_part, _, call = rest.rpartition("/")
        arn = unquote(arn_part)
        try:
            job = self._current
            if job is None or job.arn != arn:
                self._body(h)
                self._send(h, 403, {"Type": "User", "message": (
                    f"this runtime process may only call the durable API of the execution it is running, not {arn}"
                )}, {"x-amzn-ErrorType": "AccessDeniedException", "x-amzn-RequestId": request_id})
                return
            if method == "POST" and call == "checkpoint":
                body = self._body(h)
                data = json.loads(body) if body else {}
                if not isinstance(data, dict):
                    raise InvalidParameterValue("Request body must be a JSON object")
                token = data.get("CheckpointToken")
                if not isinstance(token, str) or not token:
                    raise InvalidParameterValue("CheckpointToken is required")
                response = self.durable.checkpoint(arn, token, data.get("Updates") or [], data.get("ClientToken"))
            elif method == "GET" and call == "state":
                params = parse_qs(query, keep_blank_values=True)
                token = (params.get("CheckpointToken") or [""])[0]
                if not token:
                    raise InvalidParameterValue("CheckpointToken is required")
                marker = (params.get("Marker") or [""])[0] or None
                raw_max = (params.get("MaxItems") or [""])[0]
                response = self.durable.get_state(arn, token, marker, int(raw_max) if raw_max.isdigit() else None)
            else:
                self._send(h, 404, {"Type": "User", "message": f"no route {method} {call}"},
                           {"x-amzn-ErrorType": "ResourceNotFoundException", "x-amzn-RequestId": request_id})
                return
        except ServiceError as exc:
            self._send(h, exc.status, exc.to_body(), {"x-amzn-ErrorType": exc.code, "x-amzn-RequestId": request_id})
            return
        except ValueError as exc:
            invalid = InvalidParameterValue(f"Request body is not valid JSON: {exc}")
            self._send(h, invalid.status, invalid.to_body(), {"x-amzn-ErrorType": invalid.code, "x-amzn-RequestId": request_id})
            return
        except Exception as exc:  # the store failed: a 5xx, on which the SDK retries the invocation
            log.warning("durable call %s of %s failed: %s", call, arn, exc)
            error = ServiceError(f"perdure could not complete {call}: {exc}")
            self._send(h, error.status, error.to_body(), {"x-amzn-ErrorType": error.code, "x-amzn-RequestId": request_id})
            return
        self._send(h, 200, to_wire(response), {"x-amzn-RequestId": request_id})
