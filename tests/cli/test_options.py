"""cli/options.py: the default database, ``--url``, and how a failed request to the
server is reported (exit 2 when none answers, 1 for an API error)."""

from __future__ import annotations

from pathlib import Path

import pytest

from perdure.cli import default_db_url
from tests.cli.support import (
    CALLBACK_ID,
    EXEC_ARN,
    FakeLambda,
    closed_port,
    run,
)


def test_default_db_url_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERDURE_DB", "postgresql://db/perdure")
    assert default_db_url() == "postgresql://db/perdure"


def test_default_db_url_respects_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_db_url() == f"sqlite:///{tmp_path}/perdure/perdure.db"


def test_default_db_url_under_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_db_url() == f"sqlite:///{tmp_path}/.local/share/perdure/perdure.db"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/ignored")
    assert default_db_url() == f"sqlite:///{tmp_path}/.local/share/perdure/perdure.db"


@pytest.mark.parametrize(
    "argv",
    [
        ["executions", "get", EXEC_ARN],
        ["executions", "history", EXEC_ARN],
        ["executions", "list", "--function", "ProcessFn"],
        ["executions", "stop", EXEC_ARN],
        ["invoke", "ProcessFn"],
        ["callback", "heartbeat", CALLBACK_ID],
        # perdure's own routes (/perdure/v1) first:
        ["executions", "list"],
        ["executions", "get", "order-17"],
        ["executions", "advance", EXEC_ARN],
        ["callback", "succeed", "approval", "--execution", "order-17"],
        ["functions"],
        ["versions", "ProcessFn"],
        ["alias", "list", "ProcessFn"],
        ["logs", EXEC_ARN],
    ],
)
def test_no_server(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    code, out, err = run(capsys, *argv, "--url", url)
    assert code == 2
    assert out == ""
    assert err == f"no perdure server at {url}: start one with `perdure serve --template ...`\n"


def test_url_from_env(
    server: FakeLambda, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PERDURE_URL", server.url)
    assert run(capsys, "executions", "get", EXEC_ARN, "--json")[0] == 0
    assert server.last().path == f"/2025-12-01/durable-executions/{EXEC_ARN}"


def test_bad_url(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "executions", "get", EXEC_ARN, "--url", "127.0.0.1:9000")
    assert code == 2
    assert "--url must start with http:// or https://" in err


def test_api_error(server: FakeLambda, capsys: pytest.CaptureFixture[str]) -> None:
    arn = EXEC_ARN.replace("order-17", "missing")
    code, out, err = run(capsys, "executions", "get", arn, "--url", server.url)
    assert code == 1
    assert out == ""
    assert err == f"error: ResourceNotFoundException: Durable execution not found: {arn}\n"


def test_not_a_perdure_server(server: FakeLambda, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "callback", "heartbeat", "x", "--url", server.url + "/elsewhere")
    assert code == 1
    assert err.startswith("error: 404: ")
    assert "a perdure server?" in err


def test_own_route_errors_are_reported_like_the_apis(server: FakeLambda, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "executions", "advance", EXEC_ARN, "--url", server.url)
    assert code == 1
    assert out == ""
    assert server.last().path == f"/perdure/v1/durable-executions/{EXEC_ARN}/advance"
    assert server.last().headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=perdure/")
    assert err == f"error: 404: <html>not found</html> (is {server.url} a perdure server?)\n"
