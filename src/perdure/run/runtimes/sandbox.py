"""Sandboxes: runtime processes (Node under AWS's ``aws-lambda-ric``, or a custom
runtime's ``bootstrap``) that run one invocation at a time, as Lambda's do.

A worker process bound to a non-Python function keeps a pool of them. Each has its own
Runtime API server (``runtime_api``); a warm one is reused for the next invocation of the
same function version, as Lambda reuses a warm sandbox. A sandbox whose invocation timed
out, whose process exited or whose runtime failed to start is discarded, and the
invocation's end is recorded exactly as for a Python handler (retried or failed by the
engine). Everything the process writes to stdout and stderr becomes log records of the
invocation it is running; an end the sandbox sees itself (an init error, the process's
exit, the timeout, a response over 6 MB) also gets the line Lambda's platform logs for it.
A ``nodejs22.x`` process gets the Node flags Lambda's runtime sets (``DISABLED_NODE_FEATURES``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from perdure.core import Invocation
from perdure.deploy import DEFAULT_REGION, FunctionSpec, find_node, function_arn, ric_entry
from perdure.logs import record_from_runtime_line
from perdure.run.runtimes.runtime_api import DurableCalls, Job, RuntimeApi
from perdure.store import NewLogRecord

log = logging.getLogger("perdure.sandbox")

KILL_GRACE_S = 1.0  # past its deadline, an invocation's process is killed this much later
# Node features Lambda turns off per runtime, each with the flag that turns it back on
# (a NODE_OPTIONS holding that flag keeps the feature, as on Lambda).
DISABLED_NODE_FEATURES: dict[str, tuple[tuple[str, str], ...]] = {
    "nodejs22.x": (
        ("--no-experimental-require-module", "--experimental-require-module"),
        ("--no-experimental-detect-module", "--experimental-detect-module"),
    ),
}
Emit = Callable[[str, str, NewLogRecord], None]  # (arn, function, record)


class SandboxError(Exception):
    """The function's runtime cannot be started here (no Node, no bootstrap...)."""


@dataclass
class Result:
    """How one invocation in a sandbox ended."""

    kind: str  # "response" or "error"
    body: bytes = b""
    error: dict[str, Any] | None = None
    cold_start_s: float | None = None
    keep: bool = True  # the sandbox may run the next invocation


def _node_path(spec: FunctionSpec, major: int) -> str:
    """Lambda's NODE_PATH, with each layer where Lambda mounts it (/opt)."""
    parts: list[str] = []
    for layer in spec.layers:
        parts += [str(layer / "nodejs" / f"node{major}" / "node_modules"), str(layer / "nodejs" / "node_modules")]
    if spec.code_uri is not None:
        parts.append(str(spec.code_uri))
    return os.pathsep.join(parts)


def sandbox_environment(spec: FunctionSpec, base: Mapping[str, str], runtime_api: str) -> dict[str, str]:
    """The environment a runtime process sees: the host's (as Python handlers do), the
    function's own variables, then Lambda's."""
    env = dict(base)
    env.update(spec.environment)
    code = str(spec.code_uri) if spec.code_uri is not None else os.getcwd()
    stream = f"{time.strftime('%Y/%m/%d')}/[{spec.version}]{uuid.uuid4().hex}"
    env.update({
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group_name,
        "AWS_LAMBDA_LOG_STREAM_NAME": stream,
        "AWS_LAMBDA_LOG_FORMAT": spec.log_format,
        "AWS_LAMBDA_RUNTIME_API": runtime_api,
        "AWS_ENDPOINT_URL_LAMBDA": f"http://{runtime_api}",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
        "LAMBDA_TASK_ROOT": code,
        "LAMBDA_RUNTIME_DIR": code,
        "_HANDLER": spec.handler,
    })
    env.setdefault("AWS_REGION", base.get("AWS_REGION") or base.get("AWS_DEFAULT_REGION") or DEFAULT_REGION)
    env.setdefault("AWS_DEFAULT_REGION", env["AWS_REGION"])
    if not env.get("AWS_ACCESS_KEY_ID"):
        # The SDK signs its calls; the endpoint above is this process's own, which
        # answers only for the execution it runs, so these keys open nothing else.
        env["AWS_ACCESS_KEY_ID"] = "perdure-sandbox"
        env["AWS_SECRET_ACCESS_KEY"] = "perdure-sandbox"
    if spec.language == "nodejs":
        # A user's NODE_PATH comes after Lambda's, as on Lambda.
        major = int((spec.runtime or "nodejs24.x").removeprefix("nodejs").split(".")[0] or 24)
        env["NODE_PATH"] = os.pathsep.join(p for p in (_node_path(spec, major), base.get("NODE_PATH", "")) if p)
        env["NODE_OPTIONS"] = node_options(spec, env.get("NODE_OPTIONS", ""))
        if not env["NODE_OPTIONS"]:
            del env["NODE_OPTIONS"]
    return env


def node_options(spec: FunctionSpec, options: str) -> str:
    """``NODE_OPTIONS`` as Lambda's Node runtime sets it: the function's own, source maps
    when the bundle has them, and the flags that turn off what Lambda turns off."""
    words = options.split()
    if spec.source_maps and "--enable-source-maps" not in words:
        words.append("--enable-source-maps")
    for disable, enable in DISABLED_NODE_FEATURES.get(spec.runtime or "", ()):
        if enable not in words and disable not in words:
            words.append(disable)
    return " ".join(words)


def runtime_command(spec: FunctionSpec) -> list[str]:
    """The command that starts the function's runtime process."""
    if spec.language == "nodejs":
        from perdure.deploy import NodeUnavailable

        try:
            node = find_node()
            return [*_tied_to_parent(), str(node.node), str(ric_entry())]
        except NodeUnavailable as exc:
            raise SandboxError(f"{spec.name} ({spec.runtime}) cannot run: {exc}") from None
    bootstrap = (spec.code_uri or Path.cwd()) / "bootstrap"
    if not bootstrap.is_file() or not os.access(bootstrap, os.X_OK):
        raise SandboxError(
            f"{spec.name} ({spec.runtime}) cannot run: {bootstrap} is not an executable file "
            "(a custom runtime's CodeUri holds an executable named bootstrap)"
        )
    return [*_tied_to_parent(), str(bootstrap)]


def _tied_to_parent() -> list[str]:
    """A prefix that kills the runtime process when its worker process dies, however it
    dies (SIGKILL included), so no runtime outlives it: one that never calls the Runtime
    API, or one retrying a Runtime API that is gone. (util-linux's setpriv, which then
    execs the runtime in the same process.)"""
    setpriv = shutil.which("setpriv") if sys.platform == "linux" else None
    return [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []


def rss_bytes(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


@dataclass
class _Current:
    arn: str
    request_id: str
    function: str


class Sandbox:
    """One runtime process of one function version, and its Runtime API."""

    def __init__(self, spec: FunctionSpec, durable: DurableCalls, base_env: Mapping[str, str], emit: Emit) -> None:
        self.spec = spec
        self._emit = emit
        self.api = RuntimeApi(durable)
        command = runtime_command(spec)
        self._current: _Current | None = None
        self._early: list[tuple[str, str]] = []  # lines written before the first invocation
        self._lock = threading.Lock()
        self.started = time.monotonic()
        self.invocations = 0
        try:
            self.proc = subprocess.Popen(
                command, cwd=str(spec.code_uri) if spec.code_uri is not None else None,
                env=sandbox_environment(spec, base_env, self.api.address),
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                start_new_session=True,  # its own group: killing it kills what it started
            )
        except OSError as exc:
            self.api.close()
            raise SandboxError(f"{spec.name}: cannot start {command[0]}: {exc}") from None
        self._readers = [
            threading.Thread(target=self._pump, args=(stream, name), name=f"sandbox-{name}", daemon=True)
            for stream, name in ((self.proc.stdout, "stdout"), (self.proc.stderr, "stderr"))
        ]
        for reader in self._readers:
            reader.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None and not self.api.init_failed.is_set()

    def _pump(self, stream: IO[bytes] | None, name: str) -> None:
        if stream is None:
            return
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\n").replace("\r", "\n")
            with self._lock:
                current = self._current
                if current is None:
                    self._early.append((name, line))
                    continue
            self._emit(current.arn, current.function, record_from_runtime_line(current.arn, current.request_id, name, line))

    def run(self, invocation: Invocation, event: bytes, headers: dict[str, str]) -> Result:
        """Hand the invocation to the process and wait for its end (or its deadline)."""
        cold = self.invocations == 0
        self.invocations += 1
        job = Job(request_id=invocation.invocation_id, arn=invocation.arn, event=event, headers=headers)
        with self._lock:
            self._current = _Current(invocation.arn, invocation.invocation_id, self.spec.name)
            early, self._early = self._early, []
        for name, line in early:  # the runtime's start-up lines belong to its first invocation
            self._emit(invocation.arn, self.spec.name, record_from_runtime_line(invocation.arn, invocation.invocation_id, name, line))
        self.api.submit(job)
        deadline = invocation.deadline_ms / 1000 + KILL_GRACE_S
        result: Result | None = None
        platform_line = ""  # what Lambda itself logs about an end it saw (not the runtime)
        while result is None:
            if job.done.wait(0.05):
                result = Result(kind=job.kind or "error", body=job.body)
                if job.kind == "error":
                    result.error = _error_body(job.body, job.error_type)
                    if result.error.get("errorType") == "Function.ResponseSizeTooLarge":
                        platform_line = _error_line(invocation.invocation_id, result.error)
                continue
            exited = self.proc.poll() is not None  # before the init error: a runtime posts it, then exits
            if self.api.init_failed.is_set():
                error = dict(self.api.init_error or {})
                result = Result(kind="error", error=error, keep=False)
                init_ms = (time.monotonic() - self.started) * 1000
                platform_line = (
                    f"INIT_REPORT Init Duration: {init_ms:.2f} ms\tPhase: init\tStatus: error\t"
                    f"Error Type: {error.get('errorType')}"
                )
            elif exited:
                self._drain()
                code = self.proc.returncode
                status = f"signal {-code}" if code < 0 else f"exit status {code}"
                result = Result(kind="error", keep=False, error={
                    "errorType": "Runtime.ExitError",
                    "errorMessage": f"RequestId: {invocation.invocation_id} Error: Runtime exited with error: {status}",
                })
                platform_line = _error_line(invocation.invocation_id, result.error or {})
            elif time.time() >= deadline:
                self.kill()
                message = f"Task timed out after {self.spec.timeout_s:.2f} seconds"
                result = Result(kind="error", keep=False, error={
                    "errorType": "Sandbox.Timedout",
                    "errorMessage": f"RequestId: {invocation.invocation_id} Error: {message}",
                })
                platform_line = f"{_iso_now()} {invocation.invocation_id} {message}"
        if cold:
            result.cold_start_s = time.monotonic() - self.started
        if result.kind == "error" and job.done.is_set() and self.proc.poll() is not None:
            result.keep = False
        self._drain(0.2 if result.keep else 1.0)
        with self._lock:
            self._current = None
        if platform_line:
            self._emit(invocation.arn, self.spec.name, record_from_runtime_line(
                invocation.arn, invocation.invocation_id, "platform", platform_line))
        return result

    def _drain(self, timeout: float = 1.0) -> None:
        """Let the readers take what the process wrote before its end was seen."""
        if self.proc.poll() is not None:
            for reader in self._readers:
                reader.join(timeout)
        else:
            time.sleep(0.005)  # lines written just before the response are in the pipe

    def kill(self) -> None:
        if self.proc.poll() is None:
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)

    def close(self) -> None:
        self.kill()
        self.api.close()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                with suppress(OSError):
                    stream.close()


def _error_line(request_id: str, error: Mapping[str, Any]) -> str:
    """Lambda's log line for an invocation error it detected itself."""
    message = str(error.get("errorMessage") or "")
    if not message.startswith("RequestId:"):
        message = f"RequestId: {request_id} Error: {message}"
    return f"{message}\n{error.get('errorType')}"


def _iso_now() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"


def _error_body(body: bytes, error_type: str | None) -> dict[str, Any]:
    try:
        data = json.loads(body) if body else {}
    except ValueError:
        data = {"errorMessage": body.decode(errors="replace")}
    if not isinstance(data, dict):
        data = {"errorMessage": str(data)}
    if error_type and not data.get("errorType"):
        data["errorType"] = error_type
    return data


@dataclass
class PoolStats:
    """What a worker reports about its sandboxes after an invocation."""

    processes: int = 0
    cold_start_s: float | None = None
    rss_bytes: int | None = None
    runtime: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class SandboxPool:
    """The sandboxes of one worker process: warm ones are reused, one invocation each."""

    def __init__(self, durable: DurableCalls, emit: Emit, base_env: Mapping[str, str]) -> None:
        self._durable = durable
        self._emit = emit
        self._base_env = dict(base_env)
        self._idle: dict[str, list[Sandbox]] = {}
        self._busy: set[Sandbox] = set()
        self._lock = threading.Lock()

    def count(self) -> int:
        with self._lock:
            return len(self._busy) + sum(len(v) for v in self._idle.values())

    def _take(self, spec: FunctionSpec) -> Sandbox:
        with self._lock:
            idle = self._idle.get(spec.key, [])
            while idle:
                sandbox = idle.pop()
                if sandbox.alive():
                    self._busy.add(sandbox)
                    return sandbox
                sandbox.close()
        sandbox = Sandbox(spec, self._durable, self._base_env, self._emit)
        with self._lock:
            self._busy.add(sandbox)
        return sandbox

    def run(self, spec: FunctionSpec, invocation: Invocation, event: bytes) -> tuple[Result, PoolStats]:
        sandbox = self._take(spec)
        headers = {
            "Lambda-Runtime-Aws-Request-Id": invocation.invocation_id,
            "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": f"{function_arn(spec.name)}:{spec.version}",
            "Lambda-Runtime-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0",
        }
        try:
            result = sandbox.run(invocation, event, headers)
        except BaseException:
            self._release(sandbox, keep=False)
            raise
        stats = PoolStats(runtime=spec.runtime or "", cold_start_s=result.cold_start_s, rss_bytes=rss_bytes(sandbox.pid))
        self._release(sandbox, keep=result.keep and sandbox.alive())
        stats.processes = self.count()
        return result, stats

    def _release(self, sandbox: Sandbox, *, keep: bool) -> None:
        with self._lock:
            self._busy.discard(sandbox)
            if keep:
                self._idle.setdefault(sandbox.spec.key, []).append(sandbox)
                return
        sandbox.close()

    def retire(self, keep: str | None = None) -> None:
        """Close the idle sandboxes of every function version but ``keep``."""
        with self._lock:
            doomed = [s for key, idle in self._idle.items() if key != keep for s in idle]
            self._idle = {key: idle for key, idle in self._idle.items() if key == keep}
        for sandbox in doomed:
            sandbox.close()

    def close(self) -> None:
        self.retire()
        with self._lock:
            busy, self._busy = list(self._busy), set()
        for sandbox in busy:
            sandbox.close()
