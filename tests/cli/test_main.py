"""The ``perdure`` command as a whole: parsing, ``--version``, ``python -m perdure``,
and client commands that start without the server's imports."""

from __future__ import annotations

import json

import pytest

from perdure import cli
from perdure.cli import build_parser, main
from tests.cli.support import (
    EXEC_ARN,
    FakeLambda,
    run_python,
)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["serve", "--port", "70000"],
        ["serve", "--port", "http"],
        ["serve", "--workers", "0"],
        ["serve", "--threads", "-1"],
        ["invoke"],
        ["executions"],
        ["executions", "get"],
        ["callback", "succeed"],
        ["callback", "explode", "id"],
        ["bogus"],
    ],
)
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "usage: perdure" in capsys.readouterr().err


def test_parse_client_commands() -> None:
    parser = build_parser()
    args = parser.parse_args(
        ["invoke", "ProcessFn", "--payload", '{"a": 1}', "--async", "--name", "n1", "--json"]
    )
    assert (args.function, args.payload, args.is_async, args.name, args.json) == (
        "ProcessFn",
        '{"a": 1}',
        True,
        "n1",
        True,
    )
    args = parser.parse_args(
        ["executions", "list", "--function", "F", "--status", "running", "--status", "FAILED"]
    )
    assert args.status == ["RUNNING", "FAILED"]
    args = parser.parse_args(
        ["callback", "fail", "cb", "--error-type", "T", "--error-message", "M"]
    )
    assert (args.callback_id, args.error_type, args.error_message) == ("cb", "T", "M")
    args = parser.parse_args(["executions", "stop", "arn", "--url", "http://h:1"])
    assert (args.arn, args.url) == ("arn", "http://h:1")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("perdure ")


def test_python_dash_m(server: FakeLambda) -> None:
    result = run_python("-m", "perdure", "executions", "get", EXEC_ARN, "--url", server.url, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["Status"] == "SUCCEEDED"


def test_client_commands_do_not_import_the_server(server: FakeLambda) -> None:
    code = (
        "import sys\n"
        "from perdure.cli import main\n"
        f"rc = main(['executions', 'get', {EXEC_ARN!r}, '--url', {server.url!r}, '--json'])\n"
        "assert rc == 0, rc\n"
        "assert 'perdure.http.server' not in sys.modules\n"
    )
    result = run_python("-c", code)
    assert result.returncode == 0, result.stderr


def test_cli_module_exports() -> None:
    assert cli.DEFAULT_URL == "http://127.0.0.1:9000"
