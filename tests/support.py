"""Test helpers: a real ``perdure serve`` process and a boto3 client for it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

ROOT = Path(__file__).resolve().parent.parent
HANDLERS = ROOT / "tests" / "handlers"
# Node functions (TypeScript, bundled with esbuild from the repository's node_modules)
# beside Python ones that call them and are called by them.
NODE_FEATURES = ROOT / "tests" / "fixtures" / "node-features"
NODE_TEMPLATE = NODE_FEATURES / "template.yaml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def lambda_client(url: str, read_timeout: int = 120) -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}, read_timeout=read_timeout, connect_timeout=5),
    )


class Process:
    """A perdure command in its own process group, so that a kill takes its worker
    processes too (a lost machine), restartable with the same arguments."""

    def __init__(self, args: list[str], log_path: Path, env: dict[str, str] | None = None) -> None:
        self.args = args
        self.log_path = log_path
        self.env = {**os.environ, "PERDURE_LOG_LEVEL": "WARNING", **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "perdure", *self.args],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=self.env,
            )
        return self

    def kill(self) -> None:
        """SIGKILL the process and its worker processes (the whole process group)."""
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
            self.proc = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


class Serve(Process):
    """``perdure serve`` on a free port; ``start`` returns once it answers /ping."""

    def __init__(self, db_url: str, log_path: Path, *extra: str, template: Path = HANDLERS / "template.yaml") -> None:
        self.db_url = db_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__(["serve", "-t", str(template), "--db", db_url, "--port", str(self.port), *extra], log_path)

    def start(self) -> Serve:
        super().start()
        assert self.proc is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/ping", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"server did not start: {self.log()}")

    def client(self) -> Any:
        return lambda_client(self.url)


class Server(Serve):
    """``perdure serve`` on a SQLite file, restartable on the same database."""

    def __init__(self, db_path: Path, template: Path = HANDLERS / "template.yaml", workers: int = 1) -> None:
        super().__init__(f"sqlite:///{db_path}", db_path.with_suffix(".log"), "--workers", str(workers), template=template)


def credential(
    key: tuple[str, str], actions: Sequence[str], resources: Sequence[str] = ("*",), name: str | None = None
) -> str:
    """One ``[[credentials]]`` table of a ``perdure serve --auth`` file: the key pair, what
    it may do and on which resources."""
    lines = ["[[credentials]]"]
    if name is not None:
        lines.append(f"name = {json.dumps(name)}")
    lines += [
        f"access_key_id = {json.dumps(key[0])}",
        f"secret_access_key = {json.dumps(key[1])}",
        f"actions = {json.dumps(list(actions))}",
        f"resources = {json.dumps(list(resources))}",
    ]
    return "\n".join(lines) + "\n"


@contextmanager
def serving_with_auth(tmp: Path, *credentials: str, template: Path = HANDLERS / "template.yaml") -> Iterator[Serve]:
    """``perdure serve --auth`` on a SQLite file in ``tmp``, its auth file holding these
    credentials and readable by its owner only, for the duration of the block."""
    auth = tmp / "auth.toml"
    auth.write_text("\n".join(credentials))
    auth.chmod(0o600)
    serve = Serve(
        f"sqlite:///{tmp / 'db.sqlite'}", tmp / "serve.log", "--workers", "1", "--auth", str(auth), template=template
    ).start()
    try:
        yield serve
    finally:
        serve.stop()


def wait_for_status(client: Any, arn: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        execution: dict[str, Any] = client.get_durable_execution(DurableExecutionArn=arn)
        if execution["Status"] != "RUNNING" or time.monotonic() > deadline:
            return execution
        time.sleep(0.1)


def history(client: Any, arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    marker: str | None = None
    while True:
        kwargs: dict[str, Any] = {"DurableExecutionArn": arn, "IncludeExecutionData": True}
        if marker:
            kwargs["Marker"] = marker
        page = client.get_durable_execution_history(**kwargs)
        events.extend(page["Events"])
        marker = page.get("NextMarker")
        if not marker:
            return events


def wait_for_event(client: Any, arn: str, event_type: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in history(client, arn):
            if event["EventType"] == event_type:
                return event
        time.sleep(0.1)
    raise AssertionError(f"no {event_type} event within {timeout} s: {json.dumps(history(client, arn), default=str)[:3000]}")


def callback_ids(client: Any, arn: str, count: int, timeout: float = 30) -> list[str]:
    """The ids of the execution's first ``count`` callbacks, once it has started that many."""
    deadline = time.monotonic() + timeout
    while True:
        ids = [e["CallbackStartedDetails"]["CallbackId"] for e in history(client, arn) if e["EventType"] == "CallbackStarted"]
        if len(ids) >= count:
            return ids[:count]
        if time.monotonic() > deadline:
            raise AssertionError(f"{arn} started {len(ids)} callback(s) within {timeout} s, not {count}")
        time.sleep(0.1)
