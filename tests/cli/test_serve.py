"""``perdure serve``: its options, the template it loads, and what it hands the server."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest

import perdure
from perdure.cli import build_parser
from tests.cli.support import (
    FIXTURES,
    run,
)

Calls = list[dict[str, Any]]  # the keyword arguments of each run_server call


def test_parse_serve_defaults() -> None:
    args = build_parser().parse_args(["serve", "--template", "t.yaml"])
    assert args.command == "serve"
    assert args.template == "t.yaml"
    assert args.db is None
    assert (args.host, args.port) == ("127.0.0.1", 9000)
    assert args.workers is None  # the server's own defaults apply
    assert args.threads is None


def test_parse_serve_options() -> None:
    args = build_parser().parse_args(
        [
            "serve",
            "-t",
            "t.yaml",
            "--db",
            "sqlite:///x.db",
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--workers",
            "3",
            "--threads",
            "7",
            "--parameter-overrides",
            "A=1",
            "B=2",
        ]
    )
    assert (args.db, args.host, args.port, args.workers, args.threads) == (
        "sqlite:///x.db",
        "0.0.0.0",
        0,
        3,
        7,
    )
    assert args.parameter_overrides == ["A=1", "B=2"]


@pytest.fixture
def fake_server(monkeypatch: pytest.MonkeyPatch) -> Calls:
    calls: Calls = []
    module = types.ModuleType("perdure.http.server")

    def run_server(**kwargs: Any) -> None:
        calls.append(kwargs)

    module.run_server = run_server  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "perdure.http.server", module)
    monkeypatch.setattr(perdure, "server", module, raising=False)
    # These templates name handlers that do not exist, on ports that may be taken:
    # the start-up checks have their own tests (tests/test_first_hour.py).
    from perdure.cli import serve as serve_cli
    from perdure.run import preflight

    monkeypatch.setattr(preflight, "check_handlers", lambda functions: [])
    monkeypatch.setattr(serve_cli, "check_port_free", lambda host, port: None)
    return calls


def test_serve_loads_template_and_runs_server(
    fake_server: Calls, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    sizing = ["--port", "9123", "--workers", "2", "--threads", "4"]
    code, _, err = run(capsys, "serve", "--template", str(FIXTURES / "globals.yaml"), *sizing)
    assert code == 0
    (call,) = fake_server
    assert sorted(call["functions"]) == ["InheritsFn", "OverridesFn"]
    assert call["db_url"] == f"sqlite:///{tmp_path}/data/perdure/perdure.db"
    assert (tmp_path / "data" / "perdure").is_dir()
    assert (call["host"], call["port"], call["workers"], call["threads"]) == (
        "127.0.0.1",
        9123,
        2,
        4,
    )
    assert err == ""


def test_serve_leaves_sizing_to_the_server(
    fake_server: Calls, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "serve", "-t", str(FIXTURES / "template.json"), "--db", "sqlite:///x.db")[0] == 0
    assert "workers" not in fake_server[0]
    assert "threads" not in fake_server[0]


def test_serve_overrides(
    fake_server: Calls, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    env_file = tmp_path / "env.json"
    env_file.write_text(
        json.dumps({"CallerFn": {"LEVEL": "WARN", "N": 3}, "Parameters": {"ALL": True}})
    )
    code, _, err = run(
        capsys,
        "serve",
        "-t",
        str(FIXTURES / "env.yaml"),
        "--db",
        "sqlite:///:memory:",
        "--env-vars",
        str(env_file),
        "--parameter-overrides",
        "Stage=prod Zones=x,y",
    )
    assert code == 0, err
    (call,) = fake_server
    assert call["db_url"] == "sqlite:///:memory:"
    env = call["functions"]["CallerFn"].environment
    assert (env["LEVEL"], env["N"], env["ALL"], env["STAGE"], env["SECOND_ZONE"]) == (
        "WARN",
        "3",
        "true",
        "prod",
        "y",
    )
    assert call["functions"]["TargetFn"].environment == {"ALL": "true"}


def test_serve_db_from_env(
    fake_server: Calls, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PERDURE_DB", "postgresql://db/x")
    assert run(capsys, "serve", "-t", str(FIXTURES / "template.json"))[0] == 0
    assert fake_server[0]["db_url"] == "postgresql://db/x"


def test_serve_finds_template_in_cwd(
    fake_server: Calls, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "serve", "--db", "sqlite:///:memory:")
    assert code == 2
    assert "no template.yaml / template.yml / template.json here" in err
    (tmp_path / "template.yml").write_text(
        "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n"
        "    Properties: {Handler: app.handler}\n"
    )
    assert run(capsys, "serve", "--db", "sqlite:///:memory:")[0] == 0
    assert list(fake_server[0]["functions"]) == ["Fn"]


def test_serve_bad_template(
    fake_server: Calls, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(
        "Resources:\n  ProcessFn:\n    Type: AWS::Serverless::Function\n"
        "    Properties: {Handler: app.handler, Timeout: abc}\n"
    )
    code, _, err = run(capsys, "serve", "-t", str(template))
    assert code == 2
    assert err.strip() == (
        f"perdure: error: {template}: resource ProcessFn: Timeout must be a number, got 'abc'"
    )
    assert fake_server == []


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("not json", "not valid JSON"),
        ("[1]", "expected a JSON object"),
        ('{"Fn": 3}', "Fn must map variable names"),
        ('{"Fn": {"A": [1]}}', "Fn.A must be a string"),
    ],
)
def test_serve_bad_env_vars(
    fake_server: Calls,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    content: str,
    fragment: str,
) -> None:
    env_file = tmp_path / "env.json"
    env_file.write_text(content)
    code, _, err = run(
        capsys, "serve", "-t", str(FIXTURES / "template.json"), "--env-vars", str(env_file)
    )
    assert code == 2
    assert fragment in err


def test_serve_bad_parameter_override(
    fake_server: Calls, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        capsys, "serve", "-t", str(FIXTURES / "env.yaml"), "--parameter-overrides", "Stage"
    )
    assert code == 2
    assert "expects KEY=VALUE, got 'Stage'" in err
