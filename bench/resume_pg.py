"""Resume latency across processes on PostgreSQL: a callback sent to the API server
resumes the execution on a separate worker process.

``perdure serve --no-workers`` and one ``perdure worker`` run as separate processes on
one PostgreSQL database; nothing passes between them but the database (the worker is
woken by LISTEN/NOTIFY). Per run, an execution creates a callback and suspends; the
callback is sent to the server over HTTP (boto3, as a client would), and then:

* sent -> resumed: from just before the HTTP request to the first operation the
  resumed invocation checkpoints on the worker (StepStarted of the next step);
* recorded -> resumed: from the server recording the result (CallbackSucceeded) to
  that same StepStarted;
* 1 s wait: from the wait's due time to the first operation after it.

Timestamps come from the execution's history (milliseconds; one machine, one clock).

    python bench/resume_pg.py [--runs 20] [--db URL]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pgfleet import DEFAULT_PG, Command, free_port, pg_schema, write_template


def _history(client: Any, arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = client.get_durable_execution_history(DurableExecutionArn=arn, IncludeExecutionData=True)["Events"]
    return events


def _ms(value: Any) -> float:
    return float(value.timestamp() * 1000)


def _wait_for(client: Any, arn: str, event_type: str, after_ms: float = 0, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in _history(client, arn):
            if event["EventType"] == event_type and _ms(event["EventTimestamp"]) >= after_ms:
                return event
        time.sleep(0.02)
    raise TimeoutError(f"no {event_type} in {arn}")


def callback_run(client: Any) -> tuple[float, float]:
    arn = client.invoke(FunctionName="AwaitCallback", InvocationType="Event", Payload=b"{}")["DurableExecutionArn"]
    started = _wait_for(client, arn, "CallbackStarted")
    _wait_for(client, arn, "InvocationCompleted")  # suspended
    sent = time.time() * 1000
    client.send_durable_execution_callback_success(CallbackId=started["CallbackStartedDetails"]["CallbackId"], Result=b'"ok"')
    recorded = _ms(_wait_for(client, arn, "CallbackSucceeded")["EventTimestamp"])
    resumed = _ms(_wait_for(client, arn, "StepStarted", after_ms=recorded)["EventTimestamp"])
    return resumed - sent, resumed - recorded


def wait_run(client: Any) -> float:
    arn = client.invoke(FunctionName="WaitOneSecond", InvocationType="Event", Payload=b"{}")["DurableExecutionArn"]
    waited = _wait_for(client, arn, "WaitStarted")
    due = _ms(waited["WaitStartedDetails"]["ScheduledEndTimestamp"])
    return _ms(_wait_for(client, arn, "StepStarted", after_ms=due)["EventTimestamp"]) - due


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--db", default=DEFAULT_PG, help="PostgreSQL database (a schema is made and dropped)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name, pg_schema(args.db) as url:
        tmp = Path(tmp_name)
        template = str(write_template(tmp))
        port = free_port()
        server = Command("serve", "-t", template, "--db", url, "--port", str(port), "--no-workers", log=tmp / "serve.log")
        worker = Command("worker", "-t", template, "--db", url, "--concurrency", "1", log=tmp / "worker.log")
        try:
            server.wait_for_http(f"http://127.0.0.1:{port}")
            client = boto3.client(
                "lambda", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                aws_access_key_id="x", aws_secret_access_key="x", config=Config(retries={"max_attempts": 1}),
            )
            callback_run(client)  # warm up the worker (imports, handler load)
            callbacks = [callback_run(client) for _ in range(args.runs)]
            waits = [wait_run(client) for _ in range(args.runs)]
        finally:
            worker.stop()
            server.stop()
    print(f"resume latency across processes on PostgreSQL (server and worker apart), {args.runs} runs each (ms)")
    print(f"{'event':<34}{'median':>8}{'p90':>8}{'max':>8}")
    rows = (
        ("callback sent -> first step", [c[0] for c in callbacks]),
        ("callback recorded -> first step", [c[1] for c in callbacks]),
        ("1 s wait due -> first step", waits),
    )
    for label, values in rows:
        ordered = sorted(values)
        p90 = ordered[int(0.9 * (len(ordered) - 1))]
        print(f"{label:<34}{statistics.median(values):>8.1f}{p90:>8.1f}{max(values):>8.1f}")


if __name__ == "__main__":
    main()
