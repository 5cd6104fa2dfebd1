"""Where runs live: the state directory, run ids, and the two ways to reach perdure.

* **Embedded** (default): every run has its own SQLite database,
  ``{state_dir}/runs/{run_id}.sqlite``, driven by a perdure ``Runtime`` inside the
  ``podscribe`` process. A lock file beside it (``{run_id}.lock``) says which process is
  running it, so a second ``podscribe`` on the same run only watches, and runs on
  different episodes never share a runtime.
* **Server** (``--server URL``): a running ``perdure serve --template
  podscribe/template.yaml``, reached with boto3's ``lambda`` client.

A run id is ``ps-`` plus 20 hex digits of the SHA-256 of the execution input: the
absolute audio path with its size and modification time, the whole configuration, and
the artifact and output locations. The same command therefore finds the same run, and
the durable execution named after it resumes where it stopped. When the last attempt
failed, the next one is a new execution (``{run_id}-2``, ``-3``...) of the same input,
which reuses the expensive results already in the artifact store. :class:`RunSession`
is one process's hold on a run: its backend, its lock, and the attempt it follows.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from podscribe.artifacts import canonical_json
from podscribe.config import Config
from podscribe.pipeline import FUNCTION_NAME, run_key

if TYPE_CHECKING:
    from perdure import FunctionSpec

__all__ = [
    "OPEN_STATUSES",
    "Attached",
    "Backend",
    "EmbeddedBackend",
    "RunError",
    "RunInfo",
    "RunLock",
    "RunSession",
    "ServerBackend",
    "build_input",
    "default_state_dir",
    "function_spec",
]

OPEN_STATUSES = ("RUNNING", "PAUSING", "PAUSED")
#: invocation timeout of the embedded runtime (no Lambda 15-minute limit applies there)
EMBEDDED_TIMEOUT_S = 3600.0
#: the whole execution (a review may wait for days)
EXECUTION_TIMEOUT_S = 7 * 86400
#: attempts of one run before giving up on it
MAX_ATTEMPTS = 1000
#: how long a process that does not hold a run's lock waits for its holder to start it
START_WAIT_S = 30.0


def default_state_dir() -> Path:
    """``$PODSCRIBE_STATE_DIR``, else ``$XDG_DATA_HOME/podscribe`` (``~/.local/share/podscribe``)."""
    env = os.environ.get("PODSCRIBE_STATE_DIR")
    if env:
        return Path(env).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data).expanduser() / "podscribe"


def function_spec() -> FunctionSpec:
    """The pipeline function as the embedded runtime runs it (cf. podscribe/template.yaml)."""
    from perdure import FunctionSpec

    return FunctionSpec(
        name=FUNCTION_NAME,
        handler="podscribe.pipeline.handler",
        timeout_s=EMBEDDED_TIMEOUT_S,
        execution_timeout_s=EXECUTION_TIMEOUT_S,
        retention_days=30,
    )


def _is_url(text: str) -> bool:
    return "://" in text and not text.startswith("file://")


def build_input(
    audio: str,
    config: Config,
    *,
    out: str,
    artifacts: str,
    voice_library: str | None,
) -> dict[str, Any]:
    """The execution input for one episode, with its ``run_id``.

    A local ``audio`` must exist; its size and modification time are part of the
    input, so an edited file is a new run.
    """
    event: dict[str, Any] = {
        "audio": audio,
        "config": config.model_dump(mode="json"),
        "artifacts": artifacts,
        "out": out,
        "voice_library": voice_library,
        "use_cache": True,
    }
    if not _is_url(audio):
        st = Path(audio).stat()
        event["fingerprint"] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    event["run_id"] = run_key(event)
    return event


def payload_text(event: dict[str, Any]) -> str:
    return canonical_json(event).decode("utf-8")


@dataclass
class RunInfo:
    """One execution of the pipeline, as either backend reports it."""

    arn: str
    name: str
    status: str
    start_ms: int
    end_ms: int | None = None
    input: dict[str, Any] | None = None
    result: Any = None
    error: dict[str, Any] | None = None

    @property
    def run_id(self) -> str:
        if self.input and isinstance(self.input.get("run_id"), str):
            return str(self.input["run_id"])
        return self.name.rsplit("-", 1)[0] if self.name.count("-") > 1 else self.name

    @property
    def open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def error_message(self) -> str:
        if not self.error:
            return f"run {self.status.lower()}"
        text = str(self.error.get("ErrorMessage") or self.error.get("ErrorType") or "")
        return " ".join(text.split()) or f"run {self.status.lower()}"


def attempt_name(run_id: str, attempt: int) -> str:
    return run_id if attempt <= 1 else f"{run_id}-{attempt}"


def _loads(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _ms(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, int | float):
        return int(value * 1000) if value < 1e11 else int(value)
    return None


class Backend(Protocol):
    """What the command line needs from perdure, embedded or remote."""

    def find(self, name: str) -> RunInfo | None: ...

    def start(self, name: str, payload: str) -> RunInfo: ...

    def get(self, arn: str) -> RunInfo: ...

    def events(self, arn: str, after: int) -> list[dict[str, Any]]: ...

    def send_callback(self, callback_id: str, result: str) -> None: ...

    def poke(self) -> None: ...

    def close(self) -> None: ...


# --------------------------------------------------------------------------------------
# embedded


class RunLock:
    """An exclusive, non-blocking lock on one run (released when the process dies)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return True

    def holder(self) -> int | None:
        """The pid written by the process that holds the lock, if any."""
        try:
            text = self.path.read_text().strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _row_info(row: Any) -> RunInfo:
    return RunInfo(
        arn=row.arn,
        name=row.name,
        status=row.status,
        start_ms=row.start_ms,
        end_ms=row.end_ms,
        input=_loads(row.input),
        result=_loads(row.result),
        error=_loads(row.error),
    )


class EmbeddedBackend:
    """One run's SQLite database; with ``run=True`` a perdure runtime executes it here."""

    def __init__(self, state_dir: Path, run_id: str, *, run: bool = False) -> None:
        self.state_dir = state_dir
        self.run_id = run_id
        self.db_path = db_path(state_dir, run_id)
        self.url = f"sqlite:///{self.db_path}"
        self.runtime: Any = None
        functions = {FUNCTION_NAME: function_spec()}
        if run:
            from perdure import Runtime

            self.runtime = Runtime(self.url, functions, processes=1, threads=2)
            self.runtime.start()
            self.engine = self.runtime.engine
        else:
            from perdure import open_engine

            self.engine = open_engine(self.url, functions)

    def find(self, name: str) -> RunInfo | None:
        rows, _ = self.engine.list_executions(FUNCTION_NAME, [], None, None, name, None, 10, True)
        return _row_info(rows[0]) if rows else None

    def list_runs(self) -> list[RunInfo]:
        rows, _ = self.engine.list_executions(FUNCTION_NAME, [], None, None, None, None, 1000, True)
        return [_row_info(r) for r in rows]

    def start(self, name: str, payload: str) -> RunInfo:
        row, _ = self.engine.start_execution(FUNCTION_NAME, payload, name)
        if self.runtime is not None:
            self.runtime.poke()
        return _row_info(row)

    def get(self, arn: str) -> RunInfo:
        return _row_info(self.engine.get_execution(arn))

    def events(self, arn: str, after: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        marker: str | None = str(after) if after else None
        while True:
            page, marker = self.engine.history(arn, marker, 1000, False, True)
            out.extend(page)
            if not marker:
                return out

    def send_callback(self, callback_id: str, result: str) -> None:
        self.engine.callback(callback_id, "SUCCEEDED", result=result)

    def poke(self) -> None:
        if self.runtime is not None:
            self.runtime.poke()

    def close(self) -> None:
        if self.runtime is not None:
            self.runtime.stop()
            self.runtime = None
        else:
            with contextlib.suppress(Exception):
                self.engine.store.close()


def db_path(state_dir: Path, run_id: str) -> Path:
    return state_dir / "runs" / f"{run_id}.sqlite"


def lock_for(state_dir: Path, run_id: str) -> RunLock:
    return RunLock(state_dir / "runs" / f"{run_id}.lock")


def embedded_run_ids(state_dir: Path) -> list[str]:
    """Every run with a database in the state directory."""
    runs = state_dir / "runs"
    if not runs.is_dir():
        return []
    return sorted(p.stem for p in runs.glob("ps-*.sqlite"))


def embedded_runs(state_dir: Path) -> list[RunInfo]:
    """Every execution of every run in the state directory, newest first."""
    found: list[RunInfo] = []
    for run_id in embedded_run_ids(state_dir):
        backend = EmbeddedBackend(state_dir, run_id)
        try:
            found.extend(backend.list_runs())
        finally:
            backend.close()
    found.sort(key=lambda r: r.start_ms, reverse=True)
    return found


# --------------------------------------------------------------------------------------
# one run: its lock and its attempts


class RunError(RuntimeError):
    """A run that cannot be followed: it failed too many times, or it never started."""


@dataclass(frozen=True)
class Attached:
    """The execution :meth:`RunSession.attach` found or started, and how.

    ``how``: ``started`` (a new attempt, by this process), ``resumed`` (an open attempt
    this process now runs), ``succeeded`` (nothing left to do), ``running_elsewhere``
    (another process holds the run's lock and runs the open attempt; this one only
    watches), ``started_elsewhere`` (the same, for an attempt that the other process
    started while this one waited).
    """

    info: RunInfo
    how: Literal["started", "resumed", "succeeded", "running_elsewhere", "started_elsewhere"]


class RunSession:
    """This process's hold on one run: the backend that reaches it and, embedded, the
    run's lock, which decides whether this process executes the run (it holds the lock)
    or only watches the process that does.

    The run's executions are its attempts, ``{run_id}``, ``{run_id}-2``...: an open or
    succeeded attempt is followed; after a failed one the next is started.
    """

    def __init__(self, run_id: str, *, state_dir: Path, server: str | None = None) -> None:
        self.run_id = run_id
        self.lock: RunLock | None = None
        self.backend: Backend
        if server:
            self.owner = True
            self.backend = ServerBackend(server)
        else:
            self.lock = lock_for(state_dir, run_id)
            self.owner = self.lock.acquire()
            try:
                self.backend = EmbeddedBackend(state_dir, run_id, run=self.owner)
            except BaseException:
                self.lock.release()
                raise

    def holder(self) -> int | None:
        """The process that holds the run's lock (embedded runs only)."""
        return self.lock.holder() if self.lock is not None else None

    def current(self) -> tuple[RunInfo | None, int]:
        """The attempt to follow, the open or succeeded one, with its number; else
        (None, the next attempt's number) when the last one failed or none exists."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            info = self.backend.find(attempt_name(self.run_id, attempt))
            if info is None:
                return None, attempt
            if info.open or info.status == "SUCCEEDED":
                return info, attempt
        raise RunError(f"run {self.run_id} has failed too many times")

    def attach(
        self,
        payload: str,
        *,
        on_wait: Callable[[], None] = lambda: None,
        wait_s: float = START_WAIT_S,
    ) -> Attached:
        """The execution to follow: the current attempt, else a new one started with
        ``payload``. A process that does not own the run starts nothing: it calls
        ``on_wait`` and waits up to ``wait_s`` for the owner to start the attempt."""
        info, attempt = self.current()
        if info is None:
            if self.owner:
                return Attached(self.backend.start(attempt_name(self.run_id, attempt), payload), "started")
            on_wait()
            deadline = time.monotonic() + wait_s
            while info is None and time.monotonic() < deadline:
                time.sleep(0.5)
                info, attempt = self.current()
            if info is None:
                raise RunError(f"run {self.run_id} did not start")
            return Attached(info, "started_elsewhere")
        if info.status == "SUCCEEDED":
            return Attached(info, "succeeded")
        return Attached(info, "resumed" if self.owner else "running_elsewhere")

    def close(self) -> None:
        """Close the backend (an embedded runtime stops) and release the lock."""
        try:
            self.backend.close()
        finally:
            if self.lock is not None:
                self.lock.release()


# --------------------------------------------------------------------------------------
# server


class ServerError(RuntimeError):
    """The perdure server could not be reached or refused a request."""


class ServerBackend:
    """A running ``perdure serve``, through boto3's ``lambda`` client."""

    def __init__(self, url: str) -> None:
        from perdure import PerdureClient
        from perdure.http import PerdureError

        if not url.startswith(("http://", "https://")):
            raise ServerError(f"--server must start with http:// or https://, got {url!r}")
        self.url = url.rstrip("/")
        try:
            # The same client as the `perdure` command: credentials from the environment
            # or $PERDURE_PROFILE, signed when the server runs with --auth.
            self.client = PerdureClient(self.url, read_timeout=60, attempts=3).lambda_client
        except (PerdureError, ValueError) as exc:
            raise ServerError(f"{self.url}: {exc}") from None

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except ClientError as exc:
            err = exc.response.get("Error", {})
            code = err.get("Code") or "Error"
            message = " ".join(str(err.get("Message") or "").split())
            if code in ("ResourceNotFoundException", "404") and "Function not found" in message:
                message += " (start the server with --template podscribe/template.yaml)"
            raise ServerError(f"{self.url}: {code}: {message}") from None
        except BotoCoreError as exc:
            raise ServerError(f"no perdure server at {self.url}: {exc}") from None

    def _info(self, data: dict[str, Any]) -> RunInfo:
        return RunInfo(
            arn=data["DurableExecutionArn"],
            name=data.get("DurableExecutionName", ""),
            status=data.get("Status", "RUNNING"),
            start_ms=_ms(data.get("StartTimestamp")) or 0,
            end_ms=_ms(data.get("EndTimestamp")),
            input=_loads(data.get("InputPayload")),
            result=_loads(data.get("Result")),
            error=data.get("Error"),
        )

    def find(self, name: str) -> RunInfo | None:
        with self._errors():
            page = self.client.list_durable_executions_by_function(
                FunctionName=FUNCTION_NAME, DurableExecutionName=name
            )
        found = page.get("DurableExecutions", [])
        return self.get(found[0]["DurableExecutionArn"]) if found else None

    def list_runs(self, limit: int = 200) -> list[RunInfo]:
        """The newest ``limit`` executions, with their inputs (one request each)."""
        summaries: list[dict[str, Any]] = []
        request: dict[str, Any] = {"FunctionName": FUNCTION_NAME, "ReverseOrder": True}
        with self._errors():
            while len(summaries) < limit:
                page = self.client.list_durable_executions_by_function(**request)
                summaries.extend(page.get("DurableExecutions", []))
                marker = page.get("NextMarker")
                if not marker:
                    break
                request["Marker"] = marker
        out = [self.get(s["DurableExecutionArn"]) for s in summaries[:limit]]
        out.sort(key=lambda r: r.start_ms, reverse=True)
        return out

    def start(self, name: str, payload: str) -> RunInfo:
        with self._errors():
            response = self.client.invoke(
                FunctionName=FUNCTION_NAME,
                InvocationType="Event",
                DurableExecutionName=name,
                Payload=payload.encode("utf-8"),
            )
        arn = response.get("DurableExecutionArn")
        if not arn:
            found = self.find(name)
            if found is None:
                raise ServerError(f"{self.url}: the server did not start execution {name}")
            return found
        return self.get(arn)

    def get(self, arn: str) -> RunInfo:
        with self._errors():
            data = self.client.get_durable_execution(DurableExecutionArn=arn)
        return self._info(data)

    def events(self, arn: str, after: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        request: dict[str, Any] = {"DurableExecutionArn": arn, "IncludeExecutionData": True}
        if after:
            request["Marker"] = str(after)
        with self._errors():
            while True:
                page = self.client.get_durable_execution_history(**request)
                for event in page.get("Events", []):
                    event = dict(event)
                    event["EventTimestamp"] = _ms(event.get("EventTimestamp")) or 0
                    out.append(event)
                marker = page.get("NextMarker")
                if not marker:
                    return out
                request["Marker"] = marker

    def send_callback(self, callback_id: str, result: str) -> None:
        with self._errors():
            self.client.send_durable_execution_callback_success(
                CallbackId=callback_id, Result=result.encode("utf-8")
            )

    def poke(self) -> None:
        return None

    def close(self) -> None:
        self.client.close()
