"""What the PostgreSQL benchmarks share: a throw-away schema, a SAM template for the
benchmark handlers, and perdure commands run as separate processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
DEFAULT_PG = os.environ.get("PERDURE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")

TEMPLATE = f"""\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.13
    Timeout: 60
    CodeUri: {HERE}
    DurableConfig: {{ExecutionTimeout: 900, RetentionPeriodInDays: 1}}
Resources:
  Sequential: {{Type: AWS::Serverless::Function, Properties: {{Handler: handlers.sequential}}}}
  AwaitCallback: {{Type: AWS::Serverless::Function, Properties: {{Handler: handlers.await_callback}}}}
  WaitOneSecond: {{Type: AWS::Serverless::Function, Properties: {{Handler: handlers.wait_one_second}}}}
  MapItems: {{Type: AWS::Serverless::Function, Properties: {{Handler: handlers.map_items}}}}
"""


@contextmanager
def pg_schema(base_url: str, **settings: str) -> Iterator[str]:
    """A URL for a new schema in ``base_url``'s database, dropped afterwards; its
    sessions run with the given settings (``synchronous_commit="off"``)."""
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base_url, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in base_url else "?"
    try:
        options = " ".join(f"-c{key}={value}" for key, value in {"search_path": schema, **settings}.items())
        yield f"{base_url}{separator}options={quote(options)}"
    finally:
        with psycopg.connect(base_url, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


def write_template(directory: Path) -> Path:
    path = directory / "template.yaml"
    path.write_text(TEMPLATE)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Command:
    """``perdure ARGS`` in its own process group (stopped with everything it started)."""

    def __init__(self, *args: str, log: Path) -> None:
        env = {**os.environ, "PERDURE_LOG_LEVEL": "WARNING"}
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "perdure", *args], stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, env=env,
            )

    def wait_for_http(self, url: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("perdure exited; see its log")
            try:
                with urllib.request.urlopen(f"{url}/ping", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"no server at {url}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
