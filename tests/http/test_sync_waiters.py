"""Synchronous invokes wait without holding a server thread.

Many RequestResponse invokes of executions that wait on callbacks must not lock up
the API: reads, other invokes and the callbacks that release them stay answered, a
bounded number wait at once (beyond it TooManyRequestsException), a caller that hangs
up stops waiting, and SIGTERM ends the server while callers still wait.
"""

from __future__ import annotations

import json
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ReadTimeoutError

from tests.support import Serve, lambda_client, wait_for_status


def _wide_client(url: str) -> Any:
    """A client whose connection pool holds every concurrent caller."""
    client = lambda_client(url, read_timeout=120)
    client.meta.config.max_pool_connections = WAITERS + 5
    return client

# More than the ~40 threads the server's thread pool has: the old design locked up here.
WAITERS = 60


def _approval_ids(client: Any, count: int, timeout: float = 60) -> list[str]:
    """ARNs of ``count`` running Approval executions whose callback has started."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = client.list_durable_executions_by_function(FunctionName="Approval", Statuses=["RUNNING"], MaxItems=1000)
        arns = [r["DurableExecutionArn"] for r in rows["DurableExecutions"]]
        started = []
        for arn in arns:
            events = client.get_durable_execution_history(DurableExecutionArn=arn)["Events"]
            ids = [e["CallbackStartedDetails"]["CallbackId"] for e in events if e["EventType"] == "CallbackStarted"]
            if ids:
                started.append(ids[0])
        if len(started) >= count:
            return started
        time.sleep(0.5)
    raise AssertionError(f"only {len(started)} of {count} callbacks started")


def test_many_waiting_sync_invokes_leave_the_api_responsive(tmp_path: Path) -> None:
    server = Serve(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "serve.log", "--max-waiting-invokes", str(WAITERS)).start()
    try:
        client = _wide_client(server.url)
        pool = ThreadPoolExecutor(WAITERS + 5)
        calls = [
            pool.submit(client.invoke, FunctionName="Approval", Payload=json.dumps({"timeout": 300}).encode())
            for _ in range(WAITERS)
        ]
        callback_ids = _approval_ids(client, WAITERS)

        # Every waiting slot is taken: one more synchronous invoke is refused, clearly.
        with pytest.raises(ClientError) as refused:
            lambda_client(server.url, read_timeout=10).invoke(FunctionName="Hello", Payload=b'{"name": "x"}')
        assert refused.value.response["Error"]["Code"] == "TooManyRequestsException"
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429

        # Everything else still answers: reads, asynchronous invokes, their results.
        quick = lambda_client(server.url, read_timeout=5)
        started = quick.invoke(FunctionName="Hello", InvocationType="Event", Payload=b'{"name": "x"}')
        assert wait_for_status(quick, started["DurableExecutionArn"], timeout=20)["Status"] == "SUCCEEDED"

        # The callbacks that release the waiting callers go through, and every caller
        # gets its own execution's result.
        for n, callback_id in enumerate(callback_ids):
            quick.send_durable_execution_callback_success(CallbackId=callback_id, Result=json.dumps(n).encode())
        results = [json.loads(call.result(timeout=60)["Payload"].read()) for call in calls]
        assert sorted(int(r["approved"]) for r in results) == list(range(WAITERS))
        pool.shutdown()
    finally:
        server.stop()


def test_a_caller_that_hangs_up_frees_its_waiting_slot(tmp_path: Path) -> None:
    server = Serve(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "serve.log", "--max-waiting-invokes", "2").start()
    try:
        impatient = boto3.client(
            "lambda", endpoint_url=server.url, region_name="us-east-1", aws_access_key_id="test",
            aws_secret_access_key="test", config=Config(retries={"total_max_attempts": 1}, read_timeout=1),
        )
        for _ in range(2):
            with pytest.raises(ReadTimeoutError):
                impatient.invoke(FunctionName="Approval", Payload=b'{"timeout": 300}')
        # Both callers gave up: their slots are free again, and their executions go on.
        client = lambda_client(server.url, read_timeout=30)
        assert json.loads(client.invoke(FunctionName="Hello", Payload=b'{"name": "x"}')["Payload"].read()) is not None
        running = client.list_durable_executions_by_function(FunctionName="Approval", Statuses=["RUNNING"])
        assert len(running["DurableExecutions"]) == 2
    finally:
        server.stop()


def test_sigterm_ends_the_server_while_callers_wait(tmp_path: Path) -> None:
    server = Serve(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "serve.log").start()
    client = _wide_client(server.url)
    pool = ThreadPoolExecutor(50)
    calls = [pool.submit(client.invoke, FunctionName="Approval", Payload=b'{"timeout": 300}') for _ in range(50)]
    try:
        _approval_ids(client, 50)
        assert server.proc is not None
        began = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        server.proc.wait(timeout=20)
        elapsed = time.monotonic() - began
        assert elapsed < 15, f"took {elapsed:.1f} s to stop"
        for call in calls:  # the callers were cut off, not left hanging
            with pytest.raises(Exception):  # noqa: B017 - a closed connection, whichever botocore names it
                call.result(timeout=30)
    finally:
        pool.shutdown(cancel_futures=True)
        server.stop()


def test_a_close_announced_with_its_execution_is_not_read_back(tmp_path: Path) -> None:
    """The worker process that closes an execution sends it along with the notice, so a
    waiting synchronous invoke answers from it: one read (before the close), not two."""
    import asyncio

    from perdure.deploy.functions import FunctionSpec
    from perdure.http.sync_waiters import SyncWaiters
    from perdure.run.runtime import Runtime
    from perdure.store.base import ExecutionRow

    spec = FunctionSpec(name="Waiter", handler="basic.waiter", code_uri=Path(__file__).parent.parent / "handlers", timeout_s=60)
    runtime = Runtime(f"sqlite:///{tmp_path / 'waiting.db'}", {spec.name: spec}, processes=1)
    waiters = SyncWaiters()
    runtime.add_observer(waiters.observe)
    runtime.start()
    read_statuses: list[str] = []

    async def read(arn: str) -> ExecutionRow:
        row = runtime.engine.get_execution(arn)
        read_statuses.append(row.status)
        return row

    async def never_hangs_up() -> None:
        await asyncio.Event().wait()

    try:
        arn = runtime.invoke("Waiter", "{}")
        row = asyncio.run(waiters.wait(arn, read, never_hangs_up))
    finally:
        runtime.stop()
    assert row is not None and row.status == "SUCCEEDED" and row.arn == arn, row
    assert read_statuses == ["RUNNING"]  # the closed execution came with the notice
    assert row.result == runtime.engine.get_execution(arn).result
