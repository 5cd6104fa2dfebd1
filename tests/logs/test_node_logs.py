"""A Node function's logs: console output and the JavaScript SDK's ``context.logger``,
stored per execution and read through the CloudWatch Logs API and ``perdure logs``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.logs.test_logs import client, perdure_logs
from tests.support import NODE_TEMPLATE, Serve


def node_events(url: str, arn: str) -> list[dict[str, Any]]:
    logs = client("logs", url)
    kwargs: dict[str, Any] = {
        "logGroupName": "/aws/lambda/NodeChatty",
        "filterPattern": f'{{ $.durableExecutionArn = "{arn}" }}',
    }
    events: list[dict[str, Any]] = []
    while True:
        page = logs.filter_log_events(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def run_node_chatty(url: str, order: str) -> str:
    """Run NodeChatty to the end: two invocations, one before its wait, one after."""
    lam = client("lambda", url)
    response = lam.invoke(FunctionName="NodeChatty", Payload=json.dumps({"order": order}).encode())
    assert "FunctionError" not in response, response["Payload"].read()
    assert json.loads(response["Payload"].read()) == {"order": order, "reserved": "reserved", "charged": "charged"}
    arn: str = response["ResponseMetadata"]["HTTPHeaders"]["x-amz-durable-execution-arn"]
    return arn


def test_node_console_and_logger_lines_per_execution(db_url: str, tmp_path: Path) -> None:
    server = Serve(db_url, tmp_path / "server.log", "--workers", "1", template=NODE_TEMPLATE).start()
    try:
        arn = run_node_chatty(server.url, "o-42")
        other = run_node_chatty(server.url, "o-43")  # another execution's lines stay out
        records = [json.loads(e["message"]) for e in node_events(server.url, arn)]
        assert records and all(r["durableExecutionArn"] == arn for r in records)
        assert not any("o-43" in str(r.get("message")) for r in records)
        messages = [r["message"] for r in records]
        by_message = {r["message"]: r for r in records}

        # context.logger (and a step's logger): once each, the SDK keeps replays quiet.
        for line in ("logger at the top for o-42", "reserving stock for o-42", "card declined once for o-42",
                     "done with o-42"):
            assert messages.count(line) == 1, (line, messages)
        # console output inside steps: once each (a completed step does not run again).
        for line in ("console while reserving o-42", "stderr while charging o-42"):
            assert messages.count(line) == 1, (line, messages)
        # console.log at the top of the handler runs on each of the two invocations.
        top = [r for r in records if r["message"] == "console at the top for o-42"]
        assert len(top) == 2 and len({r["requestId"] for r in top}) == 2, top

        reserving = by_message["reserving stock for o-42"]
        assert (reserving["operationName"], reserving["level"], reserving["attempt"]) == ("reserve", "INFO", 1)
        assert by_message["card declined once for o-42"]["level"] == "WARN"
        assert by_message["card declined once for o-42"]["operationName"] == "charge"
        assert by_message["stderr while charging o-42"]["level"] == "ERROR"  # console.error
        assert by_message["logger at the top for o-42"]["requestId"] == top[0]["requestId"]
        assert by_message["done with o-42"]["requestId"] == top[1]["requestId"]

        warnings = client("logs", server.url).filter_log_events(
            logGroupName="/aws/lambda/NodeChatty", filterPattern=f'{{ $.durableExecutionArn = "{arn}" && $.level = "WARN" }}'
        )["events"]
        assert [json.loads(e["message"])["message"] for e in warnings] == ["card declined once for o-42"]

        shown = perdure_logs(server.url, arn)
        assert shown.returncode == 0, shown.stderr
        for line in ("logger at the top for o-42", "reserving stock for o-42", "console while reserving o-42",
                     "card declined once for o-42", "stderr while charging o-42", "done with o-42"):
            assert shown.stdout.count(line) == 1, (line, shown.stdout)
        assert shown.stdout.count("console at the top for o-42") == 2
        charge = perdure_logs(server.url, arn, "--operation", "charge", "--json")
        assert [json.loads(line)["message"] for line in charge.stdout.splitlines()] == ["card declined once for o-42"]
        warned = perdure_logs(server.url, arn, "--level", "warn", "--json")
        assert sorted(json.loads(line)["message"] for line in warned.stdout.splitlines()) == [
            "card declined once for o-42", "stderr while charging o-42",
        ]
        function = perdure_logs(server.url, "--function", "NodeChatty", "--since", "10m", "--json")
        assert {json.loads(line)["durableExecutionArn"] for line in function.stdout.splitlines()} == {arn, other}
    finally:
        server.stop()
